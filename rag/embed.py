"""Sentence embeddings from the bundled all-MiniLM-L6-v2, loaded once per process."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from .models import EMBEDDING_MODEL_NAME, embedding_model_path, force_offline

DIMENSION = 384
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


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    return Embedder()
