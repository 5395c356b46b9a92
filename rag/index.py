"""The FAISS vector index over chunk ids, saved atomically with a manifest.

The index is derived data: SQLite holds every vector, so a missing, stale or damaged
index (or one built with another embedding model) is rebuilt rather than trusted.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import faiss
import numpy as np

INDEX_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"


def _atomic_write(path: Path, writer) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class VectorIndex:
    """Exact inner-product search while small; IVF (approximate) past ``exact_max`` vectors."""

    def __init__(self, dimension: int, exact_max: int = 20000):
        self.dimension = dimension
        self.exact_max = exact_max
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(faiss.downcast_index(self.index.index), faiss.IndexIVF) else "flat"

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        n = len(ids)
        if n > self.exact_max:
            # ~4*sqrt(n) lists is FAISS's usual guidance; probing 1/16 of them keeps
            # recall high while scanning only a few percent of the vectors.
            nlist = int(4 * math.sqrt(n))
            quantizer = faiss.IndexFlatIP(self.dimension)
            ivf = faiss.IndexIVFFlat(quantizer, self.dimension, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = vectors if n <= 50 * nlist else vectors[np.random.default_rng(0).choice(n, 50 * nlist, replace=False)]
            ivf.train(sample)
            ivf.nprobe = max(8, nlist // 16)
            self.index = faiss.IndexIDMap2(ivf)
        else:
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        if n:
            self.index.add_with_ids(vectors, ids.astype(np.int64))

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if ids:
            self.index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> None:
        if ids:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, vector: np.ndarray, k: int, allowed: list[int] | None = None) -> list[tuple[int, float]]:
        if self.size == 0 or k <= 0:
            return []
        params = None
        if allowed is not None:
            if not allowed:
                return []
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=faiss.downcast_index(self.index.index).nprobe)
                      if self.kind == "ivf" else faiss.SearchParameters(sel=selector))
        scores, ids = self.index.search(vector.reshape(1, -1).astype(np.float32), min(k, self.size), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def save(self, directory: Path, manifest: dict) -> None:
        """Index first, manifest last: a crash in between leaves a manifest that no longer matches."""
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / INDEX_FILE, lambda tmp: faiss.write_index(self.index, tmp))
        full = {**manifest, "count": self.size, "dimension": self.dimension, "index_type": self.kind}
        _atomic_write(directory / MANIFEST_FILE,
                      lambda tmp: Path(tmp).write_text(json.dumps(full, indent=2)))

    @classmethod
    def load(cls, directory: Path, expected: dict, exact_max: int = 20000) -> "VectorIndex | None":
        """The saved index if its manifest matches what is expected, else None."""
        try:
            manifest = json.loads((directory / MANIFEST_FILE).read_text())
            if any(manifest.get(k) != v for k, v in expected.items()):
                return None
            raw = faiss.read_index(str(directory / INDEX_FILE))
        except (OSError, ValueError, RuntimeError):
            return None
        if raw.ntotal != manifest.get("count") or raw.d != manifest.get("dimension"):
            return None
        out = cls(raw.d, exact_max)
        out.index = raw
        return out
