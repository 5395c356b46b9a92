"""`rag bench`: vector-search latency, memory and recall by index size, embedding
throughput and end-to-end retrieval latency, measured in one run on this machine.

Three parts:

1. Synthetic index sizes (``--sizes``). Each size gets a :class:`VectorIndex` built exactly
   as ingestion builds it (flat up to ``exact_search_max`` vectors, IVF above), from
   seeded, unit-normalised float32 vectors. The vectors are clustered rather than uniform
   (uniform random vectors in 384 dimensions have no near neighbours, which real
   embeddings do): a shared component plus a topic direction whose strength varies per
   vector (some chunks are generic, some squarely on one topic), matching the bundled
   corpus's MiniLM embeddings in mean pairwise cosine (about 0.5). Queries are noisy
   copies of stored vectors (cosine about 0.9 to their source). IVF recall depends on
   the data: on tighter clusters it is higher, on structureless data far lower. Each size reports single-query latency at k=30 (what retrieval asks for),
   build time, index bytes, process RSS growth and, for IVF, recall@10 against an exact
   index on the same vectors.
2. Embedding throughput over the real chunks of the bundled corpus.
3. End-to-end hybrid retrieval (query embedding + FAISS + FTS5 + fusion) on the real corpus.

``main(args)`` reads ``args.sizes`` (comma-separated, ``10k``/``1m`` allowed), ``args.queries``
and ``args.out``; optional attributes ``embed_repeats`` (default 3), ``e2e_queries``
(default 50) and ``search_budget_s`` (default 60: per size, the timed searches are cut
down, and the table says so, if they would take longer) exist for tests.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

DIM = 384
K = 30              # candidates per retriever, as Retriever.search asks for (settings.candidates)
RECALL_AT = 10
RECALL_QUERIES = 50
WARMUP_QUERIES = 3
SEED = 20250101
QUESTIONS = [
    "what happened to the DArDR post?",
    "how much funding did the Violence Reduction Network get?",
    "who presented the hate crime update?",
    "what was said about ECINS?",
    "when is Glen Parva prison due to open?",
]

# Synthetic embedding model: v = A*g + B_i*topic + noise_i, with |noise_i|^2 = 1 - A^2 - B_i^2
# and B_i uniform in [B_MIN, B_MAX]: cosine across topics ~A^2 = 0.49 (the bundled corpus's
# mean pairwise cosine is 0.49), within a topic 0.5-0.85.
_A, B_MIN, B_MAX = 0.70, 0.15, 0.60
TOPIC_SIZE = 50          # mean vectors per topic
QUERY_NOISE = 0.50       # |noise| added to a stored vector to make a query (cosine ~0.89)


# --- helpers -------------------------------------------------------------------------

def parse_sizes(text: str) -> list[int]:
    """'1000,10k,1m' -> [1000, 10000, 1000000]."""
    out = []
    for part in str(text).split(","):
        p = part.strip().lower().replace("_", "")
        if not p:
            continue
        mult = 1
        if p[-1] in "km":
            mult = 1000 if p[-1] == "k" else 1_000_000
            p = p[:-1]
        try:
            n = int(float(p) * mult)
        except ValueError:
            raise ValueError(f"not a size: {part.strip()!r}") from None
        if n < 1:
            raise ValueError(f"sizes must be positive, not {part.strip()!r}")
        out.append(n)
    if not out:
        raise ValueError("no sizes given")
    return out


def rss_bytes() -> int:
    """Current resident set size (psutil if present, else /proc, else peak RSS)."""
    try:
        import psutil  # type: ignore

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if platform.system() == "Darwin" else peak * 1024)


def cpu_snapshot() -> dict | None:
    """Machine-wide busy and steal CPU seconds (Linux /proc/stat) and this process's own."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    own = sum(getattr(resource.getrusage(w), a) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for a in ("ru_utime", "ru_stime"))
    return {"busy_s": (user + nice + system + irq + softirq + steal) / tick, "steal_s": steal / tick,
            "own_s": own, "wall": time.perf_counter()}


def contention(before: dict | None, after: dict | None) -> dict | None:
    """CPU used by other processes (and stolen by the hypervisor) while the benchmark ran."""
    if not before or not after:
        return None
    wall = after["wall"] - before["wall"]
    cpus = os.cpu_count() or 1
    others = max(0.0, (after["busy_s"] - before["busy_s"]) - (after["own_s"] - before["own_s"]))
    return {"other_cpu_s": others, "other_share": others / (wall * cpus) if wall else 0.0,
            "steal_s": after["steal_s"] - before["steal_s"], "own_cpu_s": after["own_s"] - before["own_s"]}


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "mean_ms": float(a.mean()), "n": int(a.size)}


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return x


def synthetic_vectors(n: int, dim: int = DIM, seed: int = SEED, batch: int = 100_000) -> np.ndarray:
    """n clustered unit vectors (float32), generated in batches so 1M needs ~1.5 GB, not 3."""
    rng = np.random.default_rng(seed)
    n_topics = max(4, n // TOPIC_SIZE)
    n_super = max(2, int(math.sqrt(n_topics)))
    g = _unit(rng.standard_normal(dim).astype(np.float32))
    supers = _unit(rng.standard_normal((n_super, dim), dtype=np.float32))
    # Topics come in families (super-topics), so neighbouring topics exist as in real text.
    topics = _unit(0.6 * supers[rng.integers(n_super, size=n_topics)]
                   + 0.8 * _unit(rng.standard_normal((n_topics, dim), dtype=np.float32)))
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, batch):
        m = min(batch, n - start)
        b = rng.uniform(B_MIN, B_MAX, size=(m, 1)).astype(np.float32)
        x = rng.standard_normal((m, dim), dtype=np.float32)
        x *= np.sqrt(1 - _A * _A - b * b) / np.float32(math.sqrt(dim))
        x += np.float32(_A) * g
        x += b * topics[rng.integers(n_topics, size=m)]
        out[start:start + m] = _unit(x)
    return out


def query_vectors(base: np.ndarray, count: int, seed: int = SEED + 1) -> tuple[np.ndarray, np.ndarray]:
    """Noisy copies of `count` stored vectors; returns (queries, source row numbers)."""
    rng = np.random.default_rng(seed)
    src = rng.choice(len(base), size=count, replace=count > len(base))
    q = base[src] + rng.standard_normal((count, base.shape[1]), dtype=np.float32) * np.float32(
        QUERY_NOISE / math.sqrt(base.shape[1]))
    return _unit(q.astype(np.float32)), src


def _affordable(search, warm, queries: int, budget_s: float) -> int:
    """Warm up, then how many of the queries to time so a slow configuration stays inside
    the time budget (at least 20)."""
    t0 = time.perf_counter()
    for q in warm:
        search(q, K)
    per_query = (time.perf_counter() - t0) / len(warm)
    if per_query * queries <= budget_s:
        return queries
    return max(20, min(queries, int(budget_s / max(per_query, 1e-9))))


def _time_searches(index, queries: np.ndarray, k: int, on_step=None) -> tuple[list[float], list[list[int]]]:
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = index.search(q, k)
        times.append((time.perf_counter() - t0) * 1000)
        results.append([i for i, _ in hits])
        if on_step:
            on_step()
    return times, results


def _describe(index) -> dict:
    import faiss

    inner = faiss.downcast_index(index.index.index)
    if isinstance(inner, faiss.IndexIVF):
        return {"nlist": int(inner.nlist), "nprobe": int(inner.nprobe)}
    return {}


# --- part 1: index sizes ---------------------------------------------------------------

def bench_size(n: int, queries: int, exact_max: int, progress, budget_s: float) -> dict:
    import faiss

    from .index import VectorIndex

    task = progress.add_task(f"{n:,} vectors: generating", total=None)
    gc.collect()
    rss_start = rss_bytes()
    vectors = synthetic_vectors(n)
    ids = np.arange(n, dtype=np.int64)
    qs, src = query_vectors(vectors, max(queries, RECALL_QUERIES) + WARMUP_QUERIES)
    warm, qs, src = qs[:WARMUP_QUERIES], qs[WARMUP_QUERIES:], src[WARMUP_QUERIES:]
    gc.collect()
    rss_before = rss_bytes()

    progress.update(task, description=f"{n:,} vectors: building ({'ivf' if n > exact_max else 'flat'})")
    index = VectorIndex(DIM, exact_max=exact_max)
    t0 = time.perf_counter()
    index.build(ids, vectors)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_after = rss_bytes()

    n_timed = _affordable(index.search, warm, queries, budget_s)
    progress.update(task, description=f"{n:,} vectors: {n_timed} searches ({index.kind})",
                    total=n_timed, completed=0)
    times, results = _time_searches(index, qs[:n_timed], K, lambda: progress.advance(task))

    row = {"size": n, "index_type": index.kind, **_describe(index), "build_s": build_s,
           "queries_requested": queries, "queries": n_timed, "k": K, **percentiles(times),
           "rss_delta_bytes": rss_after - rss_before,
           "data_rss_bytes": rss_before - rss_start}
    row.pop("n")

    # Recall@10 against exact search on the same vectors (and what exact search costs here).
    sample = qs[:RECALL_QUERIES]
    if len(results) >= RECALL_QUERIES:
        approx = [r[:RECALL_AT] for r in results[:RECALL_QUERIES]]
    else:
        approx = [[i for i, _ in index.search(q, K)][:RECALL_AT] for q in sample]
    if index.kind == "flat":
        row.update(recall_at_10=1.0, exact_p50_ms=row["p50_ms"], exact_p95_ms=row["p95_ms"],
                   exact_queries=row["queries"])
    else:
        progress.update(task, description=f"{n:,} vectors: exact reference for recall",
                        total=len(sample), completed=0)
        exact = VectorIndex(DIM, exact_max=n)
        exact.build(ids, vectors)
        for q in warm:
            exact.search(q, K)
        exact_times, exact_res = _time_searches(exact, sample, K, lambda: progress.advance(task))
        del exact
        recall = np.mean([len(set(a) & set(e[:RECALL_AT])) / RECALL_AT for a, e in zip(approx, exact_res)])
        ex = percentiles(exact_times)
        row.update(recall_at_10=float(recall), exact_p50_ms=ex["p50_ms"], exact_p95_ms=ex["p95_ms"],
                   exact_queries=ex["n"])
    row["recall_queries"] = len(sample)
    # Sanity of the synthetic queries: how often the vector a query was made from comes first.
    row["source_at_1"] = float(np.mean([bool(a) and a[0] == s for a, s in zip(approx, src[:RECALL_QUERIES])]))
    if n_timed < queries:
        row["note"] = (f"{n_timed} of {queries} queries: ~{per_query * 1000:.0f} ms each would pass "
                       f"the {budget_s:.0f}s budget")
    del vectors, ids, qs
    gc.collect()
    # Serialised size = what vectors.faiss takes on disk, and close to its size in memory.
    progress.update(task, description=f"{n:,} vectors: measuring the index", total=None)
    row["index_bytes"] = int(faiss.serialize_index(index.index).nbytes)
    progress.remove_task(task)
    del index
    gc.collect()
    return row


# --- part 1b: the same sizes in PostgreSQL + pgvector (the RAG_DATABASE_URL store) ------------

STORES = ("faiss", "pg")
EF_SWEEP = (40, 100, 200, 400)     # hnsw.ef_search values whose recall@10 and p50 are reported too


def parse_stores(text: str) -> list[str]:
    """'faiss,pg' -> ['faiss', 'pg']."""
    out = [p.strip().lower() for p in str(text).split(",") if p.strip()]
    bad = [p for p in out if p not in STORES]
    if bad or not out:
        raise ValueError(f"unknown store {', '.join(bad) or '(none)'}: choose from {', '.join(STORES)}")
    return list(dict.fromkeys(out))


def start_bench_database():
    """A throwaway PostgreSQL with pgvector in a temp folder (pgserver); (server, url)."""
    import tempfile

    from .errors import UserError

    try:
        import pgserver
    except ImportError as exc:
        raise UserError(f"--stores pg needs the [scale] extra (pip install -e '.[scale]'): {exc}") from None
    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="rag-bench-pg-")) / "data", cleanup_mode="delete")
    return server, server.get_uri()


def bench_pg_size(n: int, queries: int, url: str, settings, progress, budget_s: float) -> dict:
    """Insert (COPY), HNSW build, query latency at k=30 and recall@10 against exact search,
    on the same synthetic vectors and queries as the FAISS row of this size."""
    import psycopg
    from pgvector.psycopg import register_vector

    task = progress.add_task(f"{n:,} vectors in PostgreSQL: generating", total=None)
    vectors = synthetic_vectors(n)
    qs, src = query_vectors(vectors, max(queries, RECALL_QUERIES) + WARMUP_QUERIES)
    warm, qs, src = qs[:WARMUP_QUERIES], qs[WARMUP_QUERIES:], src[WARMUP_QUERIES:]
    m, efc, efs = settings.hnsw_m, settings.hnsw_ef_construction, settings.hnsw_ef_search
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(db)
        db.execute("DROP TABLE IF EXISTS bench_vectors")
        db.execute(f"CREATE TABLE bench_vectors (id BIGINT PRIMARY KEY, embedding vector({DIM}) NOT NULL)")
        progress.update(task, description=f"{n:,} vectors in PostgreSQL: COPY")
        t0 = time.perf_counter()
        with db.cursor() as cur, cur.copy("COPY bench_vectors (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "vector"])
            for i in range(n):
                copy.write_row((i, vectors[i]))
        insert_s = time.perf_counter() - t0
        progress.update(task, description=f"{n:,} vectors in PostgreSQL: HNSW build (m={m}, ef_construction={efc})")
        # The graph built in memory (else pgvector builds far slower); one helper process,
        # as the machine has few cores.
        db.execute("SET maintenance_work_mem = '2GB'")
        db.execute("SET max_parallel_maintenance_workers = 1")
        t0 = time.perf_counter()
        db.execute(f"CREATE INDEX bench_vectors_hnsw ON bench_vectors USING hnsw (embedding vector_ip_ops) "
                   f"WITH (m = {m}, ef_construction = {efc})")
        index_s = time.perf_counter() - t0
        db.execute("ANALYZE bench_vectors")
        index_bytes = db.execute("SELECT pg_relation_size('bench_vectors_hnsw')").fetchone()[0]
        table_bytes = db.execute("SELECT pg_total_relation_size('bench_vectors') - "
                                 "pg_relation_size('bench_vectors_hnsw')").fetchone()[0]
        db.execute(f"SET hnsw.ef_search = {max(efs, K)}")
        # The HNSW path is what is timed (on small tables the planner would scan instead).
        db.execute("SET enable_seqscan = off")
        sql = f"SELECT id FROM bench_vectors ORDER BY embedding <#> %s LIMIT {K}"

        class _Searcher:
            """Prepared once, as an app's repeated query is; `prepare=False` plans afresh."""

            def __init__(self, prepare: bool):
                self.prepare = prepare

            def search(self, q, k):
                return [(r[0], 0.0) for r in db.execute(sql, (q,), prepare=self.prepare).fetchall()]

        searcher = _Searcher(prepare=True)
        plan = " ".join(r[0] for r in db.execute("EXPLAIN " + sql, (warm[0],)).fetchall())
        n_timed = _affordable(searcher.search, warm, queries, budget_s)
        progress.update(task, description=f"{n:,} vectors in PostgreSQL: {n_timed} searches",
                        total=n_timed, completed=0)
        times, results = _time_searches(searcher, qs[:n_timed], K, lambda: progress.advance(task))
        sample = qs[:RECALL_QUERIES]
        approx = ([r[:RECALL_AT] for r in results[:RECALL_QUERIES]] if len(results) >= RECALL_QUERIES
                  else [[i for i, _ in searcher.search(q, K)][:RECALL_AT] for q in sample])
        # ef_search against recall and latency, on the recall queries (docs/scale.md picks from it).
        sweep = []
        for ef in EF_SWEEP:
            db.execute(f"SET hnsw.ef_search = {ef}")
            ef_times, ef_res = _time_searches(searcher, sample, K)
            sweep.append({"ef_search": ef, "p50_ms": percentiles(ef_times)["p50_ms"], "results": ef_res})
        # What PostgreSQL's exact scan (no index) costs, on a few queries.
        # (Unprepared: a prepared statement would keep its HNSW plan.)
        db.execute("SET enable_indexscan = off")
        db.execute("SET enable_seqscan = on")
        exact_plan = " ".join(r[0] for r in db.execute("EXPLAIN " + sql, (warm[0],)).fetchall())
        exact_times, _ = _time_searches(_Searcher(prepare=False), sample[:20], K)
        db.execute("DROP TABLE bench_vectors")
    exact = [list(np.argsort(-(vectors @ q), kind="stable")[:RECALL_AT]) for q in sample]
    recall = float(np.mean([len(set(a) & set(e)) / RECALL_AT for a, e in zip(approx, exact)]))
    for point in sweep:
        res = point.pop("results")
        point["recall_at_10"] = float(np.mean([len(set(a[:RECALL_AT]) & set(e)) / RECALL_AT
                                               for a, e in zip(res, exact)]))
    ex = percentiles(exact_times)
    row = {"store": "pg", "size": n, "index_type": "hnsw", "m": m, "ef_construction": efc, "ef_search": max(efs, K),
           "build_s": insert_s + index_s, "insert_s": insert_s, "index_build_s": index_s,
           "queries_requested": queries, "queries": n_timed, "k": K, **percentiles(times),
           "uses_index": "hnsw" in plan.lower(), "exact_uses_index": "hnsw" in exact_plan.lower(), "recall_at_10": recall, "recall_queries": len(sample),
           "exact_p50_ms": ex["p50_ms"], "exact_p95_ms": ex["p95_ms"], "exact_queries": ex["n"],
           "index_bytes": int(index_bytes), "table_bytes": int(table_bytes), "rss_delta_bytes": None,
           "ef_sweep": sweep,
           "source_at_1": float(np.mean([bool(a) and a[0] == s for a, s in zip(approx, src[:RECALL_QUERIES])]))}
    row.pop("n")
    if n_timed < queries:
        row["note"] = (f"PostgreSQL: {n_timed} of {queries} queries: ~{per_query * 1000:.0f} ms each would pass "
                       f"the {budget_s:.0f}s budget")
    progress.remove_task(task)
    del vectors
    gc.collect()
    return row


# --- parts 2 and 3: the real corpus ------------------------------------------------------

def bench_embedding(corpus, repeats: int, progress) -> dict:
    from .embed import get_embedder

    texts = [r[3] for r in corpus.store.chunk_rows()]
    embedder = get_embedder()
    task = progress.add_task("embedding the corpus chunks (warm-up)", total=None)
    embedder.encode(texts)
    progress.update(task, description=f"embedding {len(texts)} chunks ×{repeats}", total=repeats, completed=0)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        embedder.encode(texts)
        seconds.append(time.perf_counter() - t0)
        progress.advance(task)
    progress.remove_task(task)
    med = float(np.median(seconds))
    return {"chunks": len(texts), "mean_chars": float(np.mean([len(t) for t in texts])) if texts else 0.0,
            "repeats": repeats, "seconds": seconds, "chunks_per_s": len(texts) / med if med else 0.0,
            "best_chunks_per_s": len(texts) / min(seconds) if seconds else 0.0}


def bench_retrieval(corpus, count: int, progress) -> dict:
    from .embed import get_embedder
    from .retrieve import Retriever
    from .store import Filters

    retriever = Retriever(corpus)
    embedder = get_embedder()
    for q in QUESTIONS:          # warm: embedder, FAISS index loaded, SQLite pages cached
        retriever.search(q)
    task = progress.add_task(f"end-to-end retrieval ×{count} (+ breakdown)", total=count)
    times, embed_times = [], []
    for i in range(count):
        q = QUESTIONS[i % len(QUESTIONS)]
        t0 = time.perf_counter()
        retriever.search(q)
        times.append((time.perf_counter() - t0) * 1000)
        progress.advance(task)
    # Where the time goes: the two retrievers as search() calls them, one after the other
    # (query embedding + FAISS, then FTS5), and the query embedding on its own with no FAISS
    # call in between (torch and faiss each bring an OpenMP thread pool; interleaving them
    # on few cores is what search() does, so the difference is worth seeing).
    n = retriever.settings.candidates
    dense_times, keyword_times = [], []
    for i in range(count):
        q = QUESTIONS[i % len(QUESTIONS)]
        t0 = time.perf_counter()
        retriever.dense(q, n, Filters())
        t1 = time.perf_counter()
        retriever.keyword(q, n, Filters())
        dense_times.append((t1 - t0) * 1000)
        keyword_times.append((time.perf_counter() - t1) * 1000)
    for i in range(count):
        t0 = time.perf_counter()
        embedder.encode([QUESTIONS[i % len(QUESTIONS)]])
        embed_times.append((time.perf_counter() - t0) * 1000)
    progress.remove_task(task)
    out = percentiles(times)
    out["queries"] = out.pop("n")
    out.update(chunks=corpus.index.size, index_type=corpus.index.kind, mode="hybrid",
               k=retriever.settings.top_k, candidates=n, questions=QUESTIONS,
               dense_p50_ms=percentiles(dense_times)["p50_ms"],
               keyword_p50_ms=percentiles(keyword_times)["p50_ms"],
               embed_only_p50_ms=percentiles(embed_times)["p50_ms"])
    return out


# --- output ----------------------------------------------------------------------------

def _mb(b: int) -> str:
    return f"{b / 2**20:,.1f}"


def render(report: dict, console) -> None:
    from rich.table import Table

    t = Table(title=f"Vector search, k={K}, single queries (exact_search_max={report['settings']['exact_search_max']:,})")
    for col in ("store", "vectors", "index", "build s", "queries", "p50 ms", "p95 ms", "exact p50 ms",
                "index MB", "RSS Δ MB", f"recall@{RECALL_AT}"):
        t.add_column(col, justify="left" if col == "index" else "right")
    for r in report["index"]:
        kind = r["index_type"] + (f" {r['nprobe']}/{r['nlist']}" if "nlist" in r else "")
        if r["index_type"] == "hnsw":
            kind += f" m={r['m']} efc={r['ef_construction']} efs={r['ef_search']}"
        queries = f"{r['queries']}" + (f" (of {r['queries_requested']})*" if r["queries"] < r["queries_requested"] else "")
        exact = f"{r['exact_p50_ms']:.2f}" + ("" if r["index_type"] == "flat" else f" (n={r['exact_queries']})")
        store = r.get("store", "faiss")
        build = f"{r['build_s']:.2f}" + (f" ({r['insert_s']:.1f}+{r['index_build_s']:.1f})" if store == "pg" else "")
        t.add_row(store, f"{r['size']:,}", kind, build, queries, f"{r['p50_ms']:.3f}",
                  f"{r['p95_ms']:.3f}", exact, _mb(r["index_bytes"]),
                  "-" if r["rss_delta_bytes"] is None else _mb(r["rss_delta_bytes"]),
                  f"{r['recall_at_10']:.3f}" + ("" if r["index_type"] != "flat" else " (exact)"))
    console.print(t)
    for r in report["index"]:
        if "note" in r:
            console.print(f"* {r['size']:,}: {r['note']}")
    for r in report["index"]:
        if r.get("ef_sweep"):
            console.print(f"pg {r['size']:,}: ef_search → recall@10 / p50 ms: " + ", ".join(
                f"{p['ef_search']} → {p['recall_at_10']:.3f} / {p['p50_ms']:.2f}" for p in r["ef_sweep"]))
    if any(r.get("store") == "pg" for r in report["index"]):
        console.print("[dim]pg: PostgreSQL + pgvector in a throwaway local server; build s = COPY + HNSW "
                      "build; exact p50 = the same query with the index off (a sequential scan); index MB "
                      "= the HNSW relation alone (the table holds the vectors again).[/dim]")

    e = report["embedding"]
    t2 = Table(title="Embedding throughput (bundled corpus chunks)")
    for col in ("chunks", "mean chars", "repeats", "seconds per pass", "chunks/s (median)", "chunks/s (best)"):
        t2.add_column(col, justify="right")
    t2.add_row(str(e["chunks"]), f"{e['mean_chars']:.0f}", str(e["repeats"]),
               ", ".join(f"{s:.2f}" for s in e["seconds"]), f"{e['chunks_per_s']:.1f}",
               f"{e['best_chunks_per_s']:.1f}")
    console.print(t2)

    r = report["retrieval"]
    t3 = Table(title=f"End-to-end hybrid retrieval ({r['chunks']} chunks, {r['index_type']}, top {r['k']})")
    for col in ("searches", "p50 ms", "p95 ms", "mean ms", "dense step p50 ms", "keyword step p50 ms",
                "query embedding alone p50 ms"):
        t3.add_column(col, justify="right")
    t3.add_row(str(r["queries"]), f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['mean_ms']:.1f}",
               f"{r['dense_p50_ms']:.1f}", f"{r['keyword_p50_ms']:.2f}", f"{r['embed_only_p50_ms']:.1f}")
    console.print(t3)

    m = report["machine"]
    busy = report.get("contention")
    if busy and busy["other_share"] > 0.05:
        console.print(f"[yellow]Other processes used {busy['other_share']:.0%} of the CPUs during this run "
                      f"({busy['other_cpu_s']:.0f} CPU-seconds): timings are inflated and noisy.[/yellow]")
    console.print(
        f"[dim]One run on this machine ({m['cpus']} CPUs, {m['platform']}; faiss {m['faiss']} with "
        f"{m['faiss_threads']} threads, torch threads {m['torch_threads']}; load average "
        f"{m['load_average_at_start']}) in {report['total_s']:.0f}s, peak RSS "
        f"{_mb(report['peak_rss_bytes'])} MB. Ratios between rows are from this single run, not "
        "averages over runs; synthetic vectors are clustered to resemble MiniLM embeddings, so IVF "
        "recall on other data may differ. RSS Δ is the process's growth while building the index "
        "(allocator reuse can make it smaller than the index).[/dim]")


def _machine() -> dict:
    import faiss

    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = None
    return {"cpus": os.cpu_count(), "platform": platform.platform(terse=True),
            "python": platform.python_version(), "faiss": faiss.__version__,
            "faiss_threads": faiss.omp_get_max_threads(), "torch_threads": threads,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def main(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .errors import UserError
    from .ingest import ensure_corpus
    from .settings import load_settings

    try:
        sizes = parse_sizes(getattr(args, "sizes", None) or "1000,10000,100000,1000000")
    except ValueError as exc:
        raise UserError(f"--sizes: {exc} (want e.g. 1000,10000,100000 or 10k,1m)") from None
    queries = int(getattr(args, "queries", None) or 200)
    if queries < 1:
        raise UserError("--queries must be at least 1")
    repeats = int(getattr(args, "embed_repeats", 3))
    e2e = int(getattr(args, "e2e_queries", 50))
    budget = float(getattr(args, "search_budget_s", 60.0))
    out = getattr(args, "out", None)
    try:
        stores = parse_stores(getattr(args, "stores", None) or "faiss")
    except ValueError as exc:
        raise UserError(f"--stores: {exc}") from None

    settings = load_settings()
    answers = int(getattr(args, "answers", 0) or 0)
    only_answers = bool(getattr(args, "only_answers", False))
    if only_answers and not answers:
        answers = 20
    err = Console(stderr=True, highlight=False)
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=150)   # a piped table keeps its columns whole
    start = time.perf_counter()
    cpu_before = cpu_snapshot()
    report = {"settings": {"exact_search_max": settings.exact_search_max, "k": K, "dimension": DIM, "stores": stores,
                           "hnsw": {"m": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction,
                                    "ef_search": settings.hnsw_ef_search},
                           "seed": SEED, "topic_size": TOPIC_SIZE, "topic_strength": [B_MIN, B_MAX],
                           "query_noise": QUERY_NOISE},
              "machine": _machine(), "index": []}

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as progress:
        # The real corpus first: its index is small, and RSS deltas below start from a loaded embedder.
        task = progress.add_task("opening the corpus index", total=None)
        corpus = ensure_corpus(settings, progress=False, echo=lambda m: progress.console.print(m))
        progress.remove_task(task)
        if answers:
            # Whole answers against raw llama.cpp on the same prompts (rag/bench_answer.py).
            from . import bench_answer
            from .answer import Answerer
            from .evaluate import load_questions

            pool = [q.question for q in load_questions()]
            chosen = bench_answer.model_questions(pool, Answerer(settings, corpus=corpus, progress=False), answers)
            report["answers"] = bench_answer.bench_answers(settings, chosen, progress=progress)
            report["cold"] = bench_answer.bench_cold_ask(settings, chosen[0])
        if not only_answers:
            report["embedding"] = bench_embedding(corpus, repeats, progress)
            e = report["embedding"]
            progress.console.print(f"embedding: {e['chunks']} chunks, {e['chunks_per_s']:.1f} chunks/s")
            report["retrieval"] = bench_retrieval(corpus, e2e, progress)
            r = report["retrieval"]
            progress.console.print(f"retrieval: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms")
            server = url = None
            if "pg" in stores:
                server, url = start_bench_database()
            try:
                for n in sizes:
                    rows = []
                    if "faiss" in stores:
                        rows.append({"store": "faiss", **bench_size(n, queries, settings.exact_search_max, progress, budget)})
                    if "pg" in stores:
                        rows.append(bench_pg_size(n, queries, url, settings, progress, budget))
                    for row in rows:
                        report["index"].append(row)
                        progress.console.print(
                            f"{row['store']} {n:,} vectors: {row['index_type']}, build {row['build_s']:.1f}s, "
                            f"p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms, recall@10 {row['recall_at_10']:.3f}")
            finally:
                if server is not None:
                    server.cleanup()

    report["total_s"] = time.perf_counter() - start
    report["contention"] = contention(cpu_before, cpu_snapshot())
    report["peak_rss_bytes"] = peak_rss_bytes()
    if not only_answers:
        render(report, console)
    if answers:
        from .bench_answer import render as render_answers

        render_answers(report, console)
    if out:
        path = Path(out).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        err.print(f"[dim]wrote {path}[/dim]")
    return 0
