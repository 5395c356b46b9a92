"""`rag ingest --ray`: parse and embed many files in parallel with Ray Data.

Parsing (one task per file) and embedding (one embedder per worker, batches of chunk
texts) run on the Ray cluster: a local one on this machine's cores, or the cluster named by
``RAY_ADDRESS`` (the files must then be readable at the same paths on its workers, and the
project installed there). The writes stay in this process, file by file in the plain
path's order and with its code (Corpus._write_document: one transaction per document), so
the store ends up with exactly the items, chunk ids and vectors a plain ``rag ingest`` writes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .errors import UserError
from .ingest import Corpus, FileResult, IngestReport, expand_paths
from .models import EMBEDDING_MODEL_NAME

EMBED_BATCH = 64


def _parse_row(row: dict, committee: str | None, chunk_size: int, overlap: int) -> dict:
    """Ray task: one file -> its sha, items and chunk texts (or its unchanged / error result)."""
    from .chunk import chunk_item
    from .ingest import read_document
    from .store import content_hash

    parsed = read_document(Path(row["path"]), committee, row["previous"] or None)
    if isinstance(parsed, FileResult):
        return {**row, "status": parsed.status, "error": parsed.error or "", "sha": "", "items": "[]",
                "hashes": [], "contents": []}
    sha, items = parsed
    chunks = [c for it in items for c in chunk_item(it, 0, chunk_size, overlap)]
    return {**row, "status": "parsed", "error": "", "sha": sha, "items": json.dumps([asdict(it) for it in items]),
            "hashes": [content_hash(c.content) for c in chunks], "contents": [c.content for c in chunks]}


class _Embed:
    """Ray actor: loads the embedder once per worker, then embeds batch after batch."""

    def __init__(self):
        from .embed import get_embedder

        self.embedder = get_embedder()

    def __call__(self, batch: dict) -> dict:
        vectors = self.embedder.encode([str(t) for t in batch["content"]])
        return {"hash": batch["hash"], "vector": vectors}


def start_ray(num_cpus: int | None = None) -> bool:
    """Join the cluster at RAY_ADDRESS, or start a local one; True when this call started it."""
    try:
        import ray
    except ImportError as exc:
        raise UserError(f"--ray needs the [scale] extra (pip install -e '.[scale]'): {exc}") from None
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if os.environ.get("RAY_ADDRESS"):
        # This package travels with the job; its dependencies must be installed on the workers.
        ray.init(address=os.environ["RAY_ADDRESS"], runtime_env={"py_modules": [str(Path(__file__).parent)]},
                 **quiet)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **quiet)
    return True


def ingest_with_ray(corpus: Corpus, paths: list[Path], committee: str | None = None, progress: bool = True,
                    prune_missing: bool = True, num_cpus: int | None = None) -> IngestReport:
    """As Corpus.ingest, with parsing and embedding spread over a Ray cluster."""
    start = time.perf_counter()
    started = start_ray(num_cpus)
    try:
        import ray
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        ctx.execution_options.preserve_order = True
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        s = corpus.settings

        corpus.embedded = 0
        report = IngestReport()
        files, problems = expand_paths(paths)
        report.files += problems
        rows = [{"n": n, "path": str(f), "previous": corpus.store.document_hash(str(f.resolve())) or ""}
                for n, f in enumerate(files)]
        parsed = []
        if rows:
            parsed = (ray.data.from_items(rows, override_num_blocks=min(len(rows), 4 * workers))
                      .map(_parse_row, fn_kwargs={"committee": committee, "chunk_size": s.chunk_size,
                                                   "overlap": s.chunk_overlap})
                      .take_all())
        parsed.sort(key=lambda r: r["n"])

        # Embed only text the cache does not hold, each distinct text once.
        wanted: dict[str, str] = {}
        for r in parsed:
            wanted.update(zip(r["hashes"], r["contents"]))
        cached = corpus.store.cached_vectors(list(wanted), EMBEDDING_MODEL_NAME)
        missing = [{"hash": h, "content": c} for h, c in wanted.items() if h not in cached]
        if missing:
            vectors = (ray.data.from_items(missing, override_num_blocks=max(1, min(len(missing) // EMBED_BATCH, 4 * workers)))
                       .map_batches(_Embed, batch_size=EMBED_BATCH, batch_format="numpy",
                                    compute=ray.data.ActorPoolStrategy(size=workers))
                       .take_all())
            fresh = {str(v["hash"]): np.asarray(v["vector"], dtype=np.float32) for v in vectors}
            corpus.store.save_vectors(fresh, EMBEDDING_MODEL_NAME)
            corpus.embedded = len(fresh)
    finally:
        if started:
            ray.shutdown()

    # Writes: here, in file order, one transaction per document, as the plain path does.
    from .records import Item

    with corpus.lock:
        index = corpus.index
        for r in parsed:
            f = Path(r["path"])
            if r["status"] != "parsed":
                report.files.append(FileResult(str(f), r["status"], error=r["error"] or None))
                continue
            items = [Item(**d) for d in json.loads(r["items"])]
            report.files.append(corpus._write_document(f, str(f.resolve()), r["sha"], r["previous"] or None,
                                                       items, index))
        if prune_missing:
            report.files += corpus._prune(paths, index)
        index.save(corpus.dir, corpus.manifest())
        corpus.aliases()    # learnt while ingesting, as the plain path does
    report.seconds = time.perf_counter() - start
    report.embedded = corpus.embedded
    return report
