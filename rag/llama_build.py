"""Build llama-cpp-python for the CPU it will run on, portably, and never reuse a wrong wheel.

Why this exists: llama.cpp's default build is ``-march=native``. On a VM whose CPU advertises
AMX but does not grant it, that build dies with SIGILL on the first decode, and pip's wheel
cache (keyed by the sdist, not by the compiler flags) hands the same wheel to every other CPU
that shares the cache. So the set-up:

1. runs a tiny C probe that executes one instruction of each x86 extension llama.cpp can use
   (and, for AMX, asks the kernel for the tile state first); an extension is used only if the
   CPU advertises it *and* the probe ran it;
2. turns the extensions that ran into explicit ``GGML_*`` CMake flags with ``GGML_NATIVE=OFF``;
3. builds the wheel with pip's cache bypassed into ``.wheels/<version>-<level>-<key>/``, where
   the key hashes the version, the flags, the CPU model and the compiler, so a changed CPU or
   flag set builds anew and an unchanged one reuses its wheel;
4. installs it and writes ``build.json`` (flags, features, library hash) beside the venv, which
   ``rag doctor`` and the tests read.

Standard library only: it runs before anything else is installed.

    python -m rag.llama_build ensure     # what `make install` runs (a no-op when up to date)
    python -m rag.llama_build rebuild    # what `make rebuild-llama` runs
    python -m rag.llama_build plan       # show the chosen flags without building
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

VERSION = "0.3.36"  # must match the pin in pyproject.toml
ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = Path(os.environ.get("RAG_WHEELHOUSE", ROOT / ".wheels"))
RECORD_NAME = "llama-build.json"

# Extension -> (/proc/cpuinfo flags that must all be present, gcc target, C body run by the probe).
# Each body executes at least one instruction of its extension on volatile data, so the
# compiler cannot fold it away, and returns -1 only when the kernel refuses the feature. The order is the order llama.cpp's CMake flags are listed in.
PROBES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "SSE42": (("sse4_2",), "sse4.2", "return (int)_mm_crc32_u32(v, 7) == 12345;"),
    "AVX": (("avx",), "avx", "__m256 a = _mm256_set1_ps((float)v); a = _mm256_add_ps(a, a); return (int)_mm256_cvtss_f32(a) == 3;"),
    "AVX2": (("avx2",), "avx2", "__m256i a = _mm256_set1_epi32(v); a = _mm256_add_epi32(a, a); return _mm256_extract_epi32(a, 0) == 3;"),
    "FMA": (("fma",), "fma", "__m256 a = _mm256_set1_ps((float)v); a = _mm256_fmadd_ps(a, a, a); return (int)_mm256_cvtss_f32(a) == 3;"),
    "F16C": (("f16c",), "f16c", "__m128i h = _mm_set1_epi16((short)v); __m128 f = _mm_cvtph_ps(h); return (int)_mm_cvtss_f32(f) == 3;"),
    "BMI2": (("bmi2",), "bmi2", "return (int)_pdep_u32(v, 0xF0F0u) == 3;"),
    "AVX_VNNI": (("avx_vnni",), "avxvnni", "__m256i a = _mm256_set1_epi32(v); a = _mm256_dpbusd_avx_epi32(a, a, a); return _mm256_extract_epi32(a, 0) == 3;"),
    "AVX512": (("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
               "avx512f,avx512cd,avx512vl,avx512dq,avx512bw",
               "__m512i a = _mm512_set1_epi32(v); a = _mm512_add_epi8(a, a); a = _mm512_conflict_epi32(a); return _mm512_reduce_add_epi32(a) == 3;"),
    "AVX512_VBMI": (("avx512vbmi",), "avx512f,avx512vbmi", "__m512i a = _mm512_set1_epi32(v); a = _mm512_permutexvar_epi8(a, a); return _mm512_reduce_add_epi32(a) == 3;"),
    "AVX512_VNNI": (("avx512_vnni",), "avx512f,avx512vnni", "__m512i a = _mm512_set1_epi32(v); a = _mm512_dpbusd_epi32(a, a, a); return _mm512_reduce_add_epi32(a) == 3;"),
    "AVX512_BF16": (("avx512_bf16",), "avx512f,avx512bf16", "__m512 a = _mm512_set1_ps((float)v); __m256bh b = _mm512_cvtneps_pbh(a); return _mm256_extract_epi16((__m256i)b, 0) == 3;"),
    # AMX needs the kernel's permission for the tile data state (arch_prctl) before use; a VM
    # that advertises the flags but does not pass the state through fails here, not in llama.cpp.
    "AMX": (("amx_tile", "amx_int8", "amx_bf16"), "amx-tile,amx-int8,amx-bf16", r"""
        if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */)) return -1;
        struct { unsigned char palette, start; unsigned char pad[14]; unsigned short colsb[16];
                 unsigned char rows[16]; } __attribute__((aligned(64))) cfg = {0};
        cfg.palette = 1; cfg.rows[0] = 1; cfg.colsb[0] = 4;
        _tile_loadconfig(&cfg); _tile_zero(0); _tile_release(); return v == 12345;"""),
}
# AMX stays off even when its probe runs, unless RAG_LLAMA_AMX=1: on a Xeon whose kernel grants
# the tile state and runs the probe's ldtilecfg/tilezero/tdpbssd, llama-cpp-python 0.3.36's AMX
# matmul still died with SIGILL on `tilezero %tmm4` in ggml_backend_amx_mul_mat (its tile config
# is built on the stack and can be optimised away, ggml-org/llama.cpp PR #26954). AVX-512 VNNI
# covers the same quantised matmuls without it.
# llama.cpp's CMake option for each probed extension ("AMX" stands for its three options).
CMAKE_OPTIONS = {name: [f"GGML_{name}"] for name in PROBES}
CMAKE_OPTIONS["AMX"] = ["GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"]
# SSE4.2 + AVX2 + FMA + F16C are what llama.cpp's fast x86 kernels assume together.
AVX2_SET = {"SSE42", "AVX", "AVX2", "FMA", "F16C"}
# Smaller, quicker build: the Python package loads the multimodal library lazily, and the
# answer path never uses it.
BASE_ARGS = ["-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF", "-DLLAMA_BUILD_TESTS=OFF",
             "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_SERVER=OFF"]


@dataclass
class Plan:
    """What to build: the extensions this CPU ran, the CMake flags, and the wheelhouse key."""

    version: str
    machine: str
    cpu_model: str
    compiler: str
    features: list[str]
    refused: list[str] = field(default_factory=list)  # advertised by the CPU but not used, and why
    cmake_args: list[str] = field(default_factory=list)
    level: str = "generic"
    key: str = ""

    @property
    def wheel_dir(self) -> Path:
        return WHEELHOUSE / f"llama-cpp-python-{self.version}-{self.level}-{self.key}"


def cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and advertised flags (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown", set()
    model, flags = "unknown", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or ""
    if not cc:
        return ""
    out = subprocess.run([cc, "--version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else cc


def probe(names: list[str]) -> dict[str, str]:
    """Run each extension's instruction in a child process: name -> 'ok' or why not.

    One program is compiled with per-function target attributes, so the rest of it stays
    baseline x86-64; each extension is then run in its own process, so a SIGILL in one
    cannot hide the others.
    """
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return {n: "no C compiler" for n in names}
    funcs, cases = [], []
    for i, name in enumerate(names):
        _, target, body = PROBES[name]
        funcs.append(f'__attribute__((target("{target}"))) static int f{i}(volatile int v) {{ {body} }}')
        cases.append(f"  if (!strcmp(argv[1], \"{name}\")) return f{i}(x) == -1 ? 3 : 0;")
    source = "\n".join([
        "#define _GNU_SOURCE", "#include <immintrin.h>", "#include <string.h>",
        "#include <unistd.h>", "#include <sys/syscall.h>", *funcs,
        "int main(int argc, char **argv) {", "  volatile int x = 1;", *cases, "  return 2;", "}",
    ])
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        src.write_text(source)
        built = subprocess.run([cc, "-O1", str(src), "-o", str(exe)], capture_output=True, text=True)
        if built.returncode != 0:
            # An old compiler may not know an extension: probe each alone so one unknown
            # intrinsic does not turn every extension off.
            if len(names) > 1:
                for name in names:
                    results.update(probe([name]))
                return results
            return {names[0]: "the compiler cannot build it"}
        for name in names:
            run = subprocess.run([str(exe), name], capture_output=True, timeout=30)
            if run.returncode == 0:
                results[name] = "ok"
            elif run.returncode < 0:
                results[name] = f"killed by signal {-run.returncode} (the CPU refuses it)"
            else:
                results[name] = f"exit {run.returncode} (not usable)"
    return results


def make_plan(level: str | None = None, extra_args: str | None = None) -> Plan:
    """Probe this CPU and decide the flags. ``level`` forces 'avx512', 'avx2', 'sse42' or 'generic'."""
    level = level or os.environ.get("RAG_LLAMA_LEVEL") or None
    extra = (extra_args if extra_args is not None else os.environ.get("RAG_LLAMA_CMAKE_ARGS", "")).split()
    model, flags = cpu_info()
    machine = platform.machine().lower()
    plan = Plan(version=VERSION, machine=machine, cpu_model=model, compiler=_compiler(), features=[])
    if machine in ("x86_64", "amd64"):
        advertised = [n for n, (need, _, _) in PROBES.items() if all(f in flags for f in need)]
        ran = probe(advertised) if advertised else {}
        plan.features = [n for n in advertised if ran.get(n) == "ok"]
        plan.refused = [f"{n}: {ran[n]}" for n in advertised if ran.get(n) != "ok"]
        plan.features = _apply_level(plan.features, level)
        if "AMX" in plan.features and os.environ.get("RAG_LLAMA_AMX") != "1":
            plan.features.remove("AMX")
            plan.refused.append("AMX: off by default (set RAG_LLAMA_AMX=1 to try it): llama.cpp "
                                f"{VERSION}'s AMX kernels die with SIGILL even where this probe runs AMX")
        on = set(plan.features)
        if not AVX2_SET <= on:  # llama.cpp's AVX-512 kernels assume AVX2 underneath
            on -= {"AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AVX_VNNI", "AMX"}
        if "AVX512" not in on:
            on -= {"AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX"}
        plan.features = [n for n in PROBES if n in on]
        plan.level = ("avx512" if "AVX512" in on else "avx2" if AVX2_SET <= on
                      else "sse42" if "SSE42" in on else "generic")
        plan.cmake_args = BASE_ARGS + [f"-D{opt}={'ON' if n in on else 'OFF'}"
                                       for n in PROBES for opt in CMAKE_OPTIONS[n]]
    else:
        # Other architectures: llama.cpp's portable baseline for the target, never -march=native.
        plan.cmake_args = list(BASE_ARGS)
    plan.cmake_args += extra
    ident = json.dumps([plan.version, plan.cmake_args, plan.cpu_model, plan.compiler, machine])
    plan.key = hashlib.sha256(ident.encode()).hexdigest()[:10]
    return plan


def _apply_level(features: list[str], level: str | None) -> list[str]:
    if not level:
        return features
    keep = {"generic": set(), "sse42": {"SSE42"}, "avx2": AVX2_SET | {"BMI2"},
            "avx512": AVX2_SET | {"BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"}}
    if level not in keep:
        raise SystemExit(f"error: RAG_LLAMA_LEVEL={level!r}: choose one of {', '.join(keep)}")
    return [f for f in features if f in keep[level]]


def venv_record_path() -> Path:
    return Path(sys.prefix) / RECORD_NAME


def read_record() -> dict | None:
    """The build record of the llama-cpp-python installed in this environment, if we made it."""
    try:
        return json.loads(venv_record_path().read_text())
    except (OSError, ValueError):
        return None


def installed_cpu_library() -> Path | None:
    """Path of the installed libggml-cpu, found without importing llama_cpp (which loads it)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib = Path(list(spec.submodule_search_locations)[0]) / "lib"
    found = sorted(lib.glob("libggml-cpu*.so")) + sorted(lib.glob("libggml-cpu*.dylib"))
    return found[0] if found else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wheel_library_hash(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if "/lib/libggml-cpu" in name:
                return hashlib.sha256(zf.read(name)).hexdigest()
    return ""


def build_wheel(plan: Plan, quiet: bool = False) -> Path:
    """Compile the wheel into the plan's own wheelhouse folder (about 4 minutes on 2 cores)."""
    out = plan.wheel_dir
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = dict(os.environ, CMAKE_ARGS=" ".join(plan.cmake_args),
               CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2), FORCE_CMAKE="1")
    # -v puts the compiler command lines in build.log, so the flags used can be checked there.
    cmd = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-cache-dir", "--no-binary",
           "llama-cpp-python", f"llama-cpp-python=={plan.version}", "-w", str(tmp)]
    print(f"building llama-cpp-python {plan.version} for {plan.level} "
          f"({', '.join(plan.features) or 'baseline'}); about 4 minutes on 2 cores ...", flush=True)
    started = time.monotonic()
    log = tmp / "build.log"
    with open(log, "w") as fh:
        done = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit("error: building llama-cpp-python failed; last lines of "
                         f"{log}:\n" + "\n".join(tail))
    wheel = next(tmp.glob("llama_cpp_python-*.whl"))
    record = asdict(plan) | {
        "wheel": wheel.name, "build_seconds": round(time.monotonic() - started, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "lib_sha256": _wheel_library_hash(wheel),
    }
    (tmp / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)  # the folder appears whole or not at all
    print(f"built in {record['build_seconds']:.0f} s -> {out}", flush=True)
    return out


def ensure(force: bool = False, quiet: bool = False) -> dict:
    """Make the installed llama-cpp-python the one built for this CPU; build only if needed."""
    plan = make_plan()
    record = read_record()
    lib = installed_cpu_library()
    if (not force and record and record.get("key") == plan.key and lib is not None
            and record.get("lib_sha256") == sha256(lib)):
        if not quiet:
            print(f"llama-cpp-python {plan.version} ({plan.level}) is built for this CPU; nothing to do")
        return record
    folder = plan.wheel_dir
    if force or not (folder / "build.json").exists():
        build_wheel(plan, quiet=quiet)
    record = json.loads((folder / "build.json").read_text())
    wheel = folder / record["wheel"]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps",
                    str(wheel)], check=True)
    # llama-cpp-python's own dependencies, from the wheel's metadata (numpy, jinja2, ...).
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", str(wheel)], check=True)
    venv_record_path().write_text(json.dumps(record, indent=2) + "\n")
    print(f"installed llama-cpp-python {plan.version} for {plan.level}: {', '.join(plan.features) or 'baseline'}")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag.llama_build",
        description="Build llama-cpp-python with explicit instruction sets this CPU really runs "
                    "(never -march=native, no AMX unless asked for and a probe runs it), into a wheelhouse "
                    "keyed by flags and CPU.",
        epilog="environment: RAG_LLAMA_LEVEL=avx512|avx2|sse42|generic caps the instruction sets "
               "(build for an older fleet); RAG_LLAMA_CMAKE_ARGS adds CMake flags (e.g. "
               "-DGGML_CUDA=ON); RAG_LLAMA_AMX=1 allows AMX where its probe runs; RAG_WHEELHOUSE moves the wheelhouse (default .wheels/).",
    )
    parser.add_argument("command", choices=["plan", "ensure", "rebuild"],
                        help="plan: show the flags; ensure: build/install if needed; rebuild: always")
    parser.add_argument("--quiet", action="store_true", help="say nothing when already up to date")
    args = parser.parse_args(argv)
    if args.command == "plan":
        plan = make_plan()
        print(json.dumps(asdict(plan) | {"wheel_dir": str(plan.wheel_dir)}, indent=2))
        return 0
    ensure(force=args.command == "rebuild", quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
