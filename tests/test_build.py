"""The installed llama.cpp build is portable, recorded, and checked before use; `rag doctor` passes.

These read the real installed library and run real child processes: a -march=native or AMX
build, a wheel from another CPU or flag set, or a crash in native code must fail here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag import llama_build
from rag.doctor import system_features
from rag.selfcheck import REFUSED, ensure_native_ok, native_check, run_child

# Instructions that only AMX code contains (tile config, loads, dot products).
AMX_MNEMONICS = ("ldtilecfg", "tilezero", "tileloadd", "tdpbssd", "tdpbf16ps", "tilestored")


@pytest.fixture(scope="module")
def record() -> dict:
    rec = llama_build.read_record()
    assert rec is not None, "llama-cpp-python was not installed by rag.llama_build (make install)"
    return rec


def test_installed_build_is_the_recorded_portable_one(record):
    args = record["cmake_args"]
    assert "-DGGML_NATIVE=OFF" in args and not any("march=native" in a for a in args)
    if "AMX" not in record["features"]:
        assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(args)
    lib = llama_build.installed_cpu_library()
    assert lib is not None and llama_build.sha256(lib) == record["lib_sha256"], \
        "the installed libggml-cpu is not the one the build record describes"
    # Built for this CPU and these flags: the wheelhouse key matches what a fresh plan gives.
    assert record["key"] == llama_build.make_plan().key


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) not installed")
def test_no_amx_instructions_in_the_library(record):
    if "AMX" in record["features"]:
        pytest.skip("this CPU ran the AMX probe, so AMX is allowed here")
    lib = llama_build.installed_cpu_library()
    dump = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True,
                          text=True, check=True).stdout
    found = sorted({m for m in AMX_MNEMONICS if f"\t{m}" in dump or f" {m} " in dump})
    assert not found, f"AMX instructions in {lib.name}: {found}"
    # And the library does use the vector extensions it was built with (the dump is real).
    if "AVX512" in record["features"]:
        assert "zmm" in dump
    elif "AVX2" in record["features"]:
        assert "ymm" in dump


def test_llama_reports_the_recorded_features(record, tiny_model):
    check = native_check(Path(tiny_model))
    assert check.ok, check.message
    feats = system_features(check.system_info)
    assert feats, check.system_info
    assert not feats.get("AMX_INT8") or "AMX" in record["features"]
    assert feats.get("AVX2", False) == ("AVX2" in record["features"])
    assert feats.get("AVX512", False) == ("AVX512" in record["features"])


def test_plan_is_explicit_and_keyed_by_flags():
    full, avx2 = llama_build.make_plan(), llama_build.make_plan(level="avx2")
    assert full.key == llama_build.make_plan().key          # unchanged CPU and flags: same wheel
    assert "-DGGML_AVX512=ON" not in avx2.cmake_args
    assert "-DGGML_NATIVE=OFF" in avx2.cmake_args
    if "AVX512" in full.features:
        assert avx2.key != full.key and avx2.wheel_dir != full.wheel_dir
    extra = llama_build.make_plan(extra_args="-DGGML_OPENMP=OFF")
    assert extra.key != full.key                              # another flag set: another wheel


def test_extensions_the_cpu_does_not_advertise_are_never_used():
    _, flags = llama_build.cpu_info()
    plan = llama_build.make_plan()
    for name in plan.features:
        assert all(f in flags for f in llama_build.PROBES[name][0]), name
    if not {"amx_tile", "amx_int8"} <= flags:
        assert "AMX" not in plan.features


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_a_native_crash_becomes_one_clear_line(tmp_path):
    """A real SIGILL (ud2) in a child process is reported with the fix, not a dead process."""
    src = tmp_path / "trap.c"
    src.write_text("int main(void) { __builtin_trap(); return 0; }\n")
    exe = tmp_path / "trap"
    subprocess.run(["cc", str(src), "-o", str(exe)], check=True)
    check = run_child([str(exe)])
    assert not check.ok and check.returncode < 0
    assert check.message == REFUSED and "make rebuild-llama" in check.message


def test_native_check_is_remembered(tmp_path, tiny_model):
    ensure_native_ok(Path(tiny_model), tmp_path)
    marker = json.loads((tmp_path / "native-ok.json").read_text())
    assert len(marker) == 1
    ensure_native_ok(Path(tiny_model), tmp_path)             # known: nothing added, no child run
    assert json.loads((tmp_path / "native-ok.json").read_text()) == marker


def test_the_preload_and_the_first_question_share_one_native_check(tmp_path, tiny_model):
    """`ask` loads the model in the background while it retrieves; both threads reach the
    check at once. One check runs, both return, and the marker is whole (a shared temp name
    once made the second rename fail with a traceback)."""
    import threading

    said, errors = [], []

    def check():
        try:
            ensure_native_ok(Path(tiny_model), tmp_path, echo=said.append)
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(repr(exc))

    threads = [threading.Thread(target=check) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(said) == 1, said
    assert len(json.loads((tmp_path / "native-ok.json").read_text())) == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_doctor_passes_on_this_install(tmp_path):
    rag = Path(sys.executable).with_name("rag")
    out = subprocess.run([str(rag), "doctor", "--index-dir", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    for name in ("python", "cpu", "llama.cpp", "default model", "embedder", "index", "generation"):
        assert any(line.split()[1:2] == [name.split()[0]] for line in lines), (name, out.stdout)
    assert "all checks passed" in out.stdout
    assert not any(line.startswith("fail") for line in lines)
    assert "Traceback" not in out.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_a_cpu_that_advertises_amx_it_cannot_run_gets_no_amx(monkeypatch):
    """The VM case: /proc/cpuinfo lists amx_tile/amx_int8/amx_bf16 but the process cannot use
    them. The advertisement is simulated; the probe really runs AMX code on this CPU, which
    refuses it (no AMX here), so the plan must leave AMX out and say why."""
    model, flags = llama_build.cpu_info()
    if {"amx_tile", "amx_int8", "amx_bf16"} <= flags:
        pytest.skip("this CPU advertises AMX itself; the plan test above covers it")
    monkeypatch.setattr(llama_build, "cpu_info", lambda: (model, flags | {"amx_tile", "amx_int8", "amx_bf16"}))
    plan = llama_build.make_plan()
    assert "AMX" not in plan.features
    assert any(r.startswith("AMX:") for r in plan.refused), plan.refused
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(plan.cmake_args)


def test_amx_is_off_unless_asked_for_and_then_only_where_its_probe_runs(monkeypatch):
    """llama.cpp 0.3.36's AMX kernels died with SIGILL on a CPU that runs the AMX probe, so the
    default build leaves AMX out everywhere; RAG_LLAMA_AMX=1 turns it on only where it runs."""
    monkeypatch.delenv("RAG_LLAMA_AMX", raising=False)
    plain = llama_build.make_plan()
    assert "AMX" not in plain.features
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(plain.cmake_args)
    _, flags = llama_build.cpu_info()
    runs = ({"amx_tile", "amx_int8", "amx_bf16"} <= flags and "AVX512" in plain.features
            and llama_build.probe(["AMX"]).get("AMX") == "ok")
    if runs:
        assert any(r.startswith("AMX: off by default") for r in plain.refused), plain.refused
    monkeypatch.setenv("RAG_LLAMA_AMX", "1")
    asked = llama_build.make_plan()
    assert ("AMX" in asked.features) == runs
    assert (asked.key != plain.key) == runs                  # another flag set: another wheel
