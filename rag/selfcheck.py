"""Prove the native llama.cpp build runs on this CPU before loading it in our own process.

A llama.cpp build that uses an instruction the CPU refuses (AMX on a VM that advertises it,
AVX-512 on an older machine sharing a wheel cache) does not raise: it kills the process
with SIGILL on the first decode, and the user sees a dead terminal. So the first time a
given build, CPU and model meet, a short generation runs in a child process; a crash there
becomes one clear line, and a success is remembered so that later runs pay nothing.

>>> check = native_check(tiny_model_path())              # doctest: +SKIP
>>> check.ok, check.message                               # doctest: +SKIP
(True, 'generated 4 tokens ...')
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

REBUILD_HINT = "run `make rebuild-llama` (or `python -m rag.llama_build rebuild` in the venv)"
REFUSED = f"the llama.cpp build uses instructions this CPU refuses: {REBUILD_HINT}"

# The child: print the build's features, then load the model and generate a few tokens.
# Kept tiny and self-contained so that what crashes is llama.cpp, not our code.
_CHILD = r"""
import json, sys, time
import llama_cpp
info = llama_cpp.llama_print_system_info().decode(errors="replace")
print(json.dumps({"system_info": info}), flush=True)
start = time.perf_counter()
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_threads=int(sys.argv[2]), n_batch=64,
                      verbose=False, seed=0)
out = llm.create_completion("The minutes of the meeting", max_tokens=4, temperature=0.0, top_k=1)
print(json.dumps({"tokens": out["usage"]["completion_tokens"], "text": out["choices"][0]["text"],
                  "seconds": round(time.perf_counter() - start, 2)}), flush=True)
"""


@dataclass
class NativeCheck:
    ok: bool
    message: str             # one line for the user
    system_info: str = ""    # llama.cpp's compiled-in features, when the child got that far
    returncode: int = 0


def interpret(returncode: int, stdout: str, stderr: str) -> NativeCheck:
    """Turn a child's exit into one line: a crash by signal names its cause and the fix."""
    info, result = "", None
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        info = data.get("system_info", info)
        result = data if "tokens" in data else result
    if returncode == 0 and result:
        return NativeCheck(True, f"generated {result['tokens']} tokens in {result['seconds']} s "
                                 f"({result['text'].strip()!r})", info, 0)
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGILL:
            return NativeCheck(False, REFUSED, info, returncode)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return NativeCheck(False, f"the llama.cpp process crashed ({name}); {REBUILD_HINT}, and "
                                  "if it persists run `rag doctor`", info, returncode)
    last = next((l for l in reversed(stderr.strip().splitlines()) if l.strip()), "no output")
    return NativeCheck(False, f"the llama.cpp check failed (exit {returncode}): {last[:300]}", info,
                       returncode)


def run_child(argv: list[str], timeout: float = 300) -> NativeCheck:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONFAULTHANDLER=""))
    except subprocess.TimeoutExpired:
        return NativeCheck(False, f"the llama.cpp check did not finish in {timeout:.0f} s", "", -1)
    return interpret(done.returncode, done.stdout, done.stderr)


def native_check(model_path: Path, threads: int = 1) -> NativeCheck:
    """Load the model and generate 4 tokens in a child process (about 1-3 s)."""
    return run_child([sys.executable, "-c", _CHILD, str(model_path), str(threads)])


def _fingerprint(model_path: Path) -> str:
    """What the verdict depends on: the native library, this CPU, and the model file."""
    from .llama_build import cpu_info, installed_cpu_library

    lib = installed_cpu_library()
    model, flags = cpu_info()
    parts = [str(lib), *(_stat(lib) if lib else ()), model, " ".join(sorted(flags)),
             str(model_path), *_stat(model_path)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _stat(path: Path) -> tuple[str, str]:
    st = path.stat()
    return str(st.st_size), str(st.st_mtime_ns)


_verified: set[tuple[str, str]] = set()  # (model, cache folder) pairs checked in this process
# The background preload and the first question both ask for the model; one check serves both.
_check_lock = threading.Lock()


def ensure_native_ok(model_path: Path, cache_dir: Path, echo=None) -> None:
    """Raise ModelError with one clear line if the build cannot run here; remembered when it can."""
    with _check_lock:
        _ensure_native_ok(Path(model_path), Path(cache_dir), echo)


def _ensure_native_ok(model_path: Path, cache_dir: Path, echo=None) -> None:
    from .models import ModelError

    seen = (str(model_path), str(cache_dir))
    if seen in _verified:
        return
    marker = cache_dir / "native-ok.json"
    key = _fingerprint(model_path)
    try:
        if key in json.loads(marker.read_text()):
            _verified.add(seen)
            return
    except (OSError, ValueError):
        pass
    if echo:
        echo("Checking that the llama.cpp build runs on this CPU (once per build and model)…")
    check = native_check(model_path)
    if not check.ok:
        raise ModelError(check.message)
    try:
        known = json.loads(marker.read_text())
    except (OSError, ValueError):
        known = []
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Another process may be writing the same marker: a file of our own, then an atomic rename.
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix="native-ok.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps((known + [key])[-20:]))
    os.replace(tmp, marker)
    _verified.add(seen)
