"""`rag bench` end to end at toy sizes: both the flat and the IVF paths, and the JSON report."""

from __future__ import annotations

import argparse
import json

import numpy as np

from rag.bench import main, parse_sizes, query_vectors, synthetic_vectors


def test_bench_small_sizes_flat_and_ivf(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_EXACT_SEARCH_MAX", "1000")
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    out = tmp_path / "bench.json"
    args = argparse.Namespace(sizes="500,3000", queries=20, out=str(out),
                              embed_repeats=1, e2e_queries=5)

    assert main(args) == 0

    report = json.loads(out.read_text())
    rows = {r["size"]: r for r in report["index"]}
    assert list(rows) == [500, 3000]
    assert rows[500]["index_type"] == "flat"
    assert rows[3000]["index_type"] == "ivf"
    assert rows[3000]["nlist"] > 0 and rows[3000]["nprobe"] > 0
    for r in rows.values():
        assert r["queries"] == 20
        assert 0 < r["p50_ms"] <= r["p95_ms"]
        assert r["build_s"] > 0
        assert r["index_bytes"] >= r["size"] * 384 * 4
        assert r["source_at_1"] >= 0.9          # the synthetic queries find what they were made from
    assert rows[500]["recall_at_10"] == 1.0
    assert rows[3000]["recall_at_10"] >= 0.8
    assert rows[3000]["recall_queries"] == 50

    emb = report["embedding"]
    assert emb["chunks"] > 0 and emb["chunks_per_s"] > 0 and len(emb["seconds"]) == 1
    ret = report["retrieval"]
    assert ret["queries"] == 5 and 0 < ret["p50_ms"] <= ret["p95_ms"]
    assert ret["dense_p50_ms"] > 0 and ret["keyword_p50_ms"] > 0 and ret["embed_only_p50_ms"] > 0
    assert report["total_s"] > 0 and report["peak_rss_bytes"] > 0

    shown = capsys.readouterr().out
    assert "recall@10" in shown and "Embedding throughput" in shown and "one run" in shown.lower()


def test_synthetic_vectors_are_unit_seeded_and_clustered():
    a, b = synthetic_vectors(2000), synthetic_vectors(2000)
    assert a.dtype == np.float32 and a.shape == (2000, 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert np.array_equal(a, b)
    sims = a[:200] @ a[:200].T
    mean_pairwise = sims[np.triu_indices(200, 1)].mean()
    assert 0.4 < mean_pairwise < 0.6                   # like the bundled corpus's embeddings (0.49)
    q, src = query_vectors(a, 10)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5)
    assert (np.einsum("ij,ij->i", q, a[src]) > 0.8).all()


def test_parse_sizes():
    assert parse_sizes("1000, 10k,1m") == [1000, 10_000, 1_000_000]
    for bad in ("", "abc", "0", "-5"):
        try:
            parse_sizes(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_bench_pg_next_to_faiss(tmp_path, monkeypatch, capsys):
    """--stores faiss,pg: a PostgreSQL row (its own throwaway server) beside each FAISS row."""
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    out = tmp_path / "bench.json"
    args = argparse.Namespace(sizes="2000", queries=20, out=str(out), stores="faiss,pg",
                              embed_repeats=1, e2e_queries=5)

    assert main(args) == 0

    report = json.loads(out.read_text())
    assert [(r["store"], r["size"]) for r in report["index"]] == [("faiss", 2000), ("pg", 2000)]
    pg = report["index"][1]
    assert pg["index_type"] == "hnsw" and pg["uses_index"] and not pg["exact_uses_index"]
    assert pg["m"] == 16 and pg["ef_construction"] == 64 and pg["ef_search"] >= 30
    assert pg["queries"] == 20 and 0 < pg["p50_ms"] <= pg["p95_ms"] and pg["exact_p50_ms"] > 0
    assert pg["insert_s"] > 0 and pg["index_build_s"] > 0 and pg["index_bytes"] > 0
    assert pg["recall_at_10"] >= 0.9 and pg["source_at_1"] >= 0.9
    sweep = {p["ef_search"]: p for p in pg["ef_sweep"]}
    assert list(sweep) == [40, 100, 200, 400] and sweep[400]["recall_at_10"] >= 0.95
    shown = capsys.readouterr().out
    assert "hnsw m=16" in shown and "pg" in shown


def test_bench_rejects_unknown_store():
    import pytest

    from rag.errors import UserError

    with pytest.raises(UserError, match="--stores: unknown store milvus"):
        main(argparse.Namespace(sizes="100", queries=5, out=None, stores="faiss,milvus"))
