"""`rag doctor`: one command that says what is wrong with an install, and what to run.

Every check is a plain function returning Check rows; nothing here imports llama_cpp into
this process (a bad build would kill the report): the generation runs in a child process.

    $ rag doctor
    ok    python        3.11.7 (/work/main/.venv)
    ok    llama.cpp     avx512 build (SSE42 AVX AVX2 FMA F16C BMI2 AVX512 ...), GGML_NATIVE=OFF, no AMX
    ...
"""

from __future__ import annotations

import json
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings


@dataclass
class Check:
    status: str      # "ok", "warn" or "fail"
    name: str
    detail: str


def system_features(info: str) -> dict[str, bool]:
    """llama.cpp's `llama_print_system_info()` line -> {'AVX2': True, 'AMX_INT8': False, ...}."""
    return {k: v == "1" for k, v in re.findall(r"\b([A-Z][A-Z0-9_]*) = ([01])\b", info)}


def check_python() -> list[Check]:
    venv = sys.prefix != sys.base_prefix
    return [Check("ok" if sys.version_info >= (3, 10) else "fail", "python",
                  f"{platform.python_version()} ({sys.prefix}{'' if venv else ', not a venv'})")]


def check_build() -> list[Check]:
    from .llama_build import installed_cpu_library, make_plan, read_record, sha256

    plan = make_plan()
    rows = [Check("ok", "cpu", f"{plan.cpu_model} ({plan.machine}); runs {plan.level}: "
                               f"{' '.join(plan.features) or 'baseline'}"
                  + (f"; refused: {'; '.join(plan.refused)}" if plan.refused else ""))]
    lib = installed_cpu_library()
    record = read_record()
    if lib is None:
        return rows + [Check("fail", "llama.cpp", "llama-cpp-python is not installed: run `make install`")]
    if record is None:
        return rows + [Check("fail", "llama.cpp", "this llama-cpp-python was not built by the project "
                             "(it may be -march=native): run `make rebuild-llama`")]
    args = " ".join(record.get("cmake_args", []))
    amx = "AMX" in record.get("features", [])
    status, notes = "ok", []
    if "-DGGML_NATIVE=OFF" not in args:
        status, notes = "fail", notes + ["built without GGML_NATIVE=OFF"]
    if record.get("key") != plan.key:
        status, notes = "fail", notes + [f"built for another CPU or flag set ({record.get('level')}, "
                                         f"key {record.get('key')} != {plan.key}): run `make rebuild-llama`"]
    if record.get("lib_sha256") != sha256(lib):
        status, notes = "fail", notes + ["the installed library is not the recorded build: run `make rebuild-llama`"]
    detail = (f"{record.get('level')} build ({' '.join(record.get('features', [])) or 'baseline'}), "
              f"GGML_NATIVE=OFF, {'AMX (probe ran it)' if amx else 'no AMX'}; wheel "
              f"{Path(record.get('wheel', '?')).name}")
    return rows + [Check(status, "llama.cpp", "; ".join([detail, *notes]))]


def check_models(settings: Settings) -> list[Check]:
    from .models import (DEFAULT_LLM, FAST_LLM, ModelError, embedding_model_path, part_files,
                         sha256_file, tiny_model_path)

    rows = []
    for role, model in (("default model", DEFAULT_LLM), ("fast model", FAST_LLM)):
        target = settings.model_cache_dir / model.filename
        if target.exists():
            ok = sha256_file(target) == model.sha256
            rows.append(Check("ok" if ok else "fail", role,
                              f"{model.name}: {target} sha256 {'verified' if ok else 'MISMATCH: delete it and run again'}"))
            continue
        try:
            part_files(model)
            rows.append(Check("ok", role, f"{model.name}: packages installed; assembled on first use"))
        except ModelError as exc:
            rows.append(Check("warn" if role == "fast model" else "fail", role, str(exc)))
    for role, find in (("embedder", embedding_model_path), ("test model", tiny_model_path)):
        try:
            rows.append(Check("ok", role, str(find())))
        except ModelError as exc:
            rows.append(Check("warn" if role == "test model" else "fail", role, str(exc)))
    from .embed import onnx_path, onnx_ready

    ready = onnx_ready(settings.model_cache_dir)
    rows.append(Check("ok", "query embedder", f"ONNX Runtime export {ready}") if ready else
                Check("warn", "query embedder", f"no current ONNX export at {onnx_path(settings.model_cache_dir)}: "
                      "each ask imports torch (seconds); run `make install` or `python -m rag.embed export-onnx`"))
    return rows


def check_index(settings: Settings) -> list[Check]:
    from .index import MANIFEST_FILE
    from .ingest import DB_FILE

    if settings.database_url:
        from .errors import UserError
        from .ingest import Corpus
        from .store_pg import redact

        try:
            store = Corpus.open(settings).store
        except UserError as exc:
            return [Check("fail", "index", str(exc))]
        return [Check("ok", "index", f"{len(store.documents())} documents, {len(store.items())} items, "
                                     f"{store.chunk_count()} chunks in PostgreSQL at {redact(settings.database_url)} "
                                     "(pgvector HNSW)")]
    db = settings.index_dir / DB_FILE
    if not db.exists():
        return [Check("warn", "index", f"none yet in {settings.index_dir}: the first `ask` builds it "
                                       "from the bundled minutes (or run `rag ingest`)")]
    from .ingest import Corpus

    corpus = Corpus.open(settings)
    items = len(corpus.store.items())
    chunks = corpus.store.chunk_count()
    docs = len(corpus.store.documents())
    try:
        manifest = json.loads((settings.index_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        manifest = {}
    expected = corpus.manifest()
    match = all(manifest.get(k) == v for k, v in expected.items()) and manifest.get("count") == chunks
    return [Check("ok" if match else "warn", "index",
                  f"{docs} documents, {items} items, {chunks} chunks in {settings.index_dir}; "
                  + ("FAISS manifest matches" if match else "FAISS index out of step: rebuilt on next use"))]


def check_generation(settings: Settings) -> list[Check]:
    from .llama_build import read_record
    from .models import ModelError, resolve_llm_path, tiny_model_path
    from .selfcheck import native_check

    try:
        path = resolve_llm_path(settings, progress=False)
    except ModelError:
        try:
            path = tiny_model_path()
        except ModelError as exc:
            return [Check("fail", "generation", f"no model to test with: {exc}")]
    check = native_check(path, threads=settings.threads)
    rows = [Check("ok" if check.ok else "fail", "generation",
                  f"{path.name} in a child process: {check.message}")]
    feats = system_features(check.system_info)
    record = read_record() or {}
    if feats.get("AMX_INT8") and "AMX" not in record.get("features", []):
        rows.append(Check("fail", "features", "the build enables AMX that no probe ran: run `make rebuild-llama`"))
    elif check.system_info:
        on = [k for k, v in feats.items() if v]
        rows.append(Check("ok", "features", "llama.cpp reports " + " ".join(on)))
    return rows


def run(settings: Settings, echo=print) -> int:
    """Print every check as it finishes; exit status 1 if any failed."""
    rows: list[Check] = []
    steps = [check_python, check_build, lambda: check_models(settings), lambda: check_index(settings),
             lambda: check_generation(settings)]
    for step in steps:
        for row in step():
            rows.append(row)
            echo(f"{row.status:5} {row.name:13} {row.detail}")
    failed = [r for r in rows if r.status == "fail"]
    echo("all checks passed" if not failed else f"{len(failed)} check(s) failed: see the lines marked fail")
    return 1 if failed else 0
