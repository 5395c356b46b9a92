"""`rag ingest --ray` on a real local Ray cluster writes exactly what a plain ingest writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rag.ingest import Corpus
from rag.models import EMBEDDING_MODEL_NAME

from .conftest import SAMPLES, make_settings

BIN = Path(sys.executable).parent


def test_ray_ingest_writes_what_the_plain_ingest_writes(tmp_path, corpus_copy):
    plain = Corpus.open(make_settings(tmp_path / "plain"))
    plain.ingest([corpus_copy], progress=False)

    env = dict(os.environ, RAG_INDEX_DIR=str(tmp_path / "ray"))
    env.pop("RAY_ADDRESS", None)          # a local cluster on this machine's cores
    run = subprocess.run([str(BIN / "rag"), "ingest", "--ray", "--quiet", str(corpus_copy)], env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    for f in SAMPLES:
        assert f"added    {f.name}" in run.stdout
    ray = Corpus.open(make_settings(tmp_path / "ray"))

    # Same items (ids and order), chunks (ids, items, hashes, text) and vectors.
    assert ray.store.items() == plain.store.items()
    rows = plain.store.chunk_rows()
    assert ray.store.chunk_rows() == rows
    ids = [r[0] for r in rows]
    assert ray.index.size == plain.index.size == len(ids)
    a = np.stack([plain.index.index.reconstruct(i) for i in ids])
    b = np.stack([ray.index.index.reconstruct(i) for i in ids])
    assert np.allclose(a, b, atol=1e-5)
    hashes = [r[2] for r in rows]
    cached_a = plain.store.cached_vectors(hashes, EMBEDDING_MODEL_NAME)
    cached_b = ray.store.cached_vectors(hashes, EMBEDDING_MODEL_NAME)
    assert cached_a.keys() == cached_b.keys()
    assert all(np.allclose(cached_a[h], cached_b[h], atol=1e-5) for h in hashes)


def test_ray_ingest_skips_unchanged_and_reports_bad_files(tmp_path, corpus_copy, monkeypatch):
    """In process: a second run parses nothing new and embeds nothing; a bad file is a line."""
    import ray

    from rag.ingest_ray import ingest_with_ray, start_ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)     # a local cluster on this machine's cores
    (corpus_copy / "empty.txt").write_text("")
    corpus = Corpus.open(make_settings(tmp_path / "index"))
    assert start_ray(num_cpus=2)          # one local cluster for both runs
    try:
        first = ingest_with_ray(corpus, [corpus_copy], progress=False)
        assert ray.is_initialized()       # left running: this test started it
        again = ingest_with_ray(corpus, [corpus_copy], progress=False)
    finally:
        ray.shutdown()
    statuses = {Path(f.path).name: f.status for f in first.files}
    assert statuses.pop("empty.txt") == "error" and set(statuses.values()) == {"added"}
    assert again.embedded == 0
    assert {Path(f.path).name: f.status for f in again.files if f.status != "error"} == {
        f.name: "unchanged" for f in SAMPLES}
    plain_errors = Corpus.open(make_settings(tmp_path / "plain")).ingest([corpus_copy / "empty.txt"], progress=False)
    assert [f.error for f in first.files if f.status == "error"] == [f.error for f in plain_errors.errors]
