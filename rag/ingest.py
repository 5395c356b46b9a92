"""Ingestion: files -> items -> chunks -> SQLite + embeddings -> FAISS, kept in step.

>>> corpus = Corpus.open(load_settings())          # doctest: +SKIP
>>> report = corpus.ingest([Path("data/minutes")])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunk import chunk_item
from .embed import DIMENSION, get_embedder
from .index import VectorIndex
from .load import SUPPORTED, LoadError
from .models import EMBEDDING_MODEL_NAME
from . import parse
from .parse import parse_file
from .settings import Settings
from .store import Filters, Store

DB_FILE = "minutes.db"


@dataclass
class FileResult:
    path: str
    status: str            # "added", "updated", "unchanged", "removed" or "error"
    items: int = 0
    chunks: int = 0
    error: str | None = None


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    embedded: int = 0      # chunks whose text had to be embedded (others came from the cache)

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "error"]

    @property
    def items(self) -> int:
        return sum(f.items for f in self.files if f.status in ("added", "updated"))


def expand_paths(paths: list[Path]) -> tuple[list[Path], list[FileResult]]:
    """Files named directly, plus supported files found under folders (sorted)."""
    files, problems = [], []
    for p in paths:
        if p.is_dir():
            # README files describe a folder; they are not minutes.
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED
                            and not f.name.lower().startswith("readme"))
        elif p.exists():
            files.append(p)
        else:
            problems.append(FileResult(str(p), "error", error="no such file or folder"))
    return files, problems


ALIASES_FILE = "aliases.json"


def _write_atomic(path: Path, text: str) -> None:
    """Write beside, then rename: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:          # a read-only index folder: relearn next time instead
        tmp.unlink(missing_ok=True)


def _names(question: str) -> set[str]:
    """The names and figures a question uses (cite.NAME_OR_NUMBER, less common capitals)."""
    from .cite import COMMON_CAPITALS, NAME_OR_NUMBER, bare

    return {t for t in (bare(t) for t in NAME_OR_NUMBER.findall(question)) if len(t) > 1 and t not in COMMON_CAPITALS}


def open_store(settings: Settings):
    """The store the settings name: PostgreSQL + pgvector when ``database_url`` is set (shared
    by many processes), else the index folder's SQLite database (one machine)."""
    if settings.database_url:
        from .errors import UserError

        try:
            from .store_pg import PgStore
        except ImportError as exc:
            raise UserError(f"a database URL needs the [scale] extra (pip install -e '.[scale]'): {exc}") from None
        return PgStore(settings.database_url, DIMENSION, m=settings.hnsw_m,
                       ef_construction=settings.hnsw_ef_construction, ef_search=settings.hnsw_ef_search)
    return Store(settings.index_dir / DB_FILE)


class StoreIndex:
    """Stands where the FAISS index does when the store searches its own vectors (PostgreSQL):
    each chunk's vector is written in its document's transaction, so add, remove and save
    have nothing left to do."""

    kind = "hnsw"

    def __init__(self, store):
        self.store = store

    @property
    def size(self) -> int:
        return self.store.chunk_count()

    def add(self, ids, vectors) -> None:
        pass

    def remove(self, ids) -> None:
        pass

    def save(self, directory, manifest) -> None:
        pass


def read_document(f: Path, committee: str | None, previous: str | None) -> tuple[str, list] | FileResult:
    """(sha256, items) of a file, or the FileResult that says it is unchanged or unreadable.
    Touches no store, so Ray workers run it too (rag/ingest_ray.py)."""
    try:
        data = f.read_bytes()
        # The parser's version is hashed too: a file read by an older parser is read again.
        sha = hashlib.sha256(parse.PARSE_VERSION.encode() + b"\0" + data).hexdigest()
        if previous == sha:
            return FileResult(str(f), "unchanged")
        items = parse_file(f, committee=committee)
        if not items:
            raise LoadError("no agenda items found")
    except LoadError as exc:
        return FileResult(str(f), "error", error=str(exc))
    except FileNotFoundError:
        return FileResult(str(f), "error", error="file vanished before it could be read")
    except (OSError, UnicodeError) as exc:
        return FileResult(str(f), "error", error=f"cannot read: {exc.__class__.__name__}: {exc}")
    return sha, items


class Corpus:
    """The store and its vector index (FAISS beside SQLite, or pgvector inside PostgreSQL), always in step."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.index_dir
        self.store = open_store(settings)
        self._index: VectorIndex | StoreIndex | None = None
        self.lock = threading.RLock()
        self.embedded = 0   # chunks embedded (not found in the cache) during the current ingest
        self._learnt_state = ""        # the store state that _learnt_cache was built for
        self._learnt_cache: dict = {}

    @classmethod
    def open(cls, settings: Settings) -> "Corpus":
        return cls(settings)

    def is_empty(self) -> bool:
        return self.store.chunk_count() == 0

    def manifest(self) -> dict:
        return {"embedding_model": EMBEDDING_MODEL_NAME, "dimension": DIMENSION,
                "corpus_hash": self.store.corpus_hash()}

    @property
    def index(self) -> VectorIndex | StoreIndex:
        """The FAISS index, loaded if its manifest matches the database, else rebuilt."""
        with self.lock:
            if self._index is None and self.store.has_vectors:
                self._index = StoreIndex(self.store)
            if self._index is None:
                self._index = VectorIndex.load(self.dir, self.manifest(), self.settings.exact_search_max)
                if self._index is None:
                    self._index = self.rebuild_index()
            return self._index

    def question_names_in(self, doc: str, question: str) -> str:
        """The names and figures of a question that the document `doc` uses anywhere (its
        body, place and dates), for checking that an answer states nothing from elsewhere."""
        text = self._doc_text(doc)
        return " ".join(sorted(t for t in _names(question) if t.lower() in text))

    def names_used(self, doc: str, question: str) -> int:
        """How many of the question's names the document `doc` uses, as written or by another
        name it goes by ("ASB" as "anti-social behaviour"; rag/aliases.py)."""
        text = self._doc_text(doc)
        spaced = " " + " ".join(re.sub(r"[-–'()]", " ", text).split()) + " "
        aliases = self.aliases()
        return sum(1 for t in _names(question)
                   if t.lower() in text or any(f" {a} " in spaced for a in aliases.names_for(t)))

    def _doc_text(self, doc: str) -> str:
        """All of a document's items in one lower-case text, and its file name (cached until
        the corpus changes): minutes saved from a web page often name their body only in the
        page's title, which survives as the file name ("wye-valley-cc-2024-03-25.txt")."""
        with self.lock:
            texts = self.learnt("doc_texts")
            if doc not in texts:
                parts = [f"{it.title} {it.body} {it.meeting_date or ''}"
                         for _, it in self.store.items(Filters(doc=doc))]
                parts.append(re.sub(r"[-_.]+", " ", doc))
                texts[doc] = " ".join(" ".join(parts).split()).lower().replace("’", "'")
            return texts[doc]

    def headers(self, doc: str) -> list[str]:
        """The texts of a document's header items (the meeting's name, date, place, who came)."""
        with self.lock:
            heads = self.learnt("headers")
            if doc not in heads:
                heads[doc] = [it.body or it.title for _, it in self.store.items(Filters(doc=doc))
                              if it.kind == "header"]
            return heads[doc]

    def learnt(self, name: str) -> dict:
        """A cache of what later stages learn from the corpus (meeting names per document),
        emptied when an ingest or removal changes the corpus."""
        with self.lock:
            return self._learnt().setdefault(name, {})

    def aliases(self):
        """The names matters go by in these minutes (rag/aliases.py), learnt once per corpus
        state: each document's items are read together, so an acronym meets its expansion."""
        from .aliases import Aliases

        with self.lock:
            learnt_now = self._learnt()
            if "aliases" not in learnt_now:
                # Learnt at ingest and kept beside the index: reading every item again would
                # cost a new `ask` process seconds on a large corpus.
                state = self._learnt_state
                saved = self.dir / ALIASES_FILE
                try:
                    data = json.loads(saved.read_text())
                    learnt = Aliases.from_json(data["groups"]) if data.get("state") == state else None
                except (OSError, ValueError, KeyError, TypeError):
                    learnt = None
                if learnt is None:
                    texts: dict[str, list[str]] = {}
                    for _, it in self.store.items():
                        texts.setdefault(it.doc, []).append(f"{it.title}. {it.body}")
                    learnt = Aliases.learn("\n".join(v) for v in texts.values())
                    _write_atomic(saved, json.dumps({"state": state, "groups": learnt.to_json()}))
                learnt_now["aliases"] = learnt
            return learnt_now["aliases"]

    def _learnt(self) -> dict:
        """What is learnt from the whole corpus (aliases, documents' texts), kept until an
        ingest or removal changes it. The state is cheap to read on every question: any
        change alters the chunk count or the newest chunk id (ids only grow)."""
        state = self.store.state()
        if state != self._learnt_state:
            self._learnt_state, self._learnt_cache = state, {}
        return self._learnt_cache

    def vector_search(self, vector: np.ndarray, limit: int, filters) -> list[tuple[int, float]]:
        """Dense search: in the database for a server store, else in the FAISS index."""
        if self.store.has_vectors:
            return self.store.vector_search(vector, limit, filters)
        allowed = self.store.allowed_chunk_ids(filters) if filters.active() else None
        return self.index.search(vector, limit, allowed)

    def rebuild_index(self) -> VectorIndex | StoreIndex:
        if self.store.has_vectors:
            return StoreIndex(self.store)
        rows = self.store.chunk_rows()
        vectors = self._vectors_for(rows, progress=False)
        index = VectorIndex(DIMENSION, self.settings.exact_search_max)
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        index.build(ids, vectors if len(rows) else np.zeros((0, DIMENSION), np.float32))
        index.save(self.dir, self.manifest())
        return index

    def _vectors_for(self, rows, progress: bool) -> np.ndarray:
        """Vectors for (id, item, hash, content) rows: from the cache, embedding only new text."""
        if not rows:
            return np.zeros((0, DIMENSION), np.float32)
        hashes = [r[2] for r in rows]
        cached = self.store.cached_vectors(hashes, EMBEDDING_MODEL_NAME)
        missing = {r[2]: r[3] for r in rows if r[2] not in cached}
        if missing:
            new = get_embedder().encode(list(missing.values()), progress=progress)
            fresh = dict(zip(missing.keys(), new))
            self.store.save_vectors(fresh, EMBEDDING_MODEL_NAME)
            cached.update(fresh)
            self.embedded += len(fresh)
        return np.stack([cached[h] for h in hashes]).astype(np.float32)

    def ingest(self, paths: list[Path], committee: str | None = None, progress: bool = True,
               prune_missing: bool = True) -> IngestReport:
        """Add new files, replace changed ones, skip unchanged ones, drop vanished ones.

        Each file is one SQLite transaction; the FAISS index is saved once at the end
        (atomically, with a manifest), so an interrupted run never leaves mixed data.
        """
        start = time.perf_counter()
        self.embedded = 0
        report = IngestReport()
        files, problems = expand_paths(paths)
        report.files += problems
        index = self.index
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with self.lock, Progress(TextColumn("ingesting {task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 disable=not progress, transient=True) as bar:
            task = bar.add_task("", total=len(files))
            for f in files:
                bar.update(task, description=f.name)
                report.files.append(self._ingest_file(f, committee, index, progress))
                bar.advance(task)
            if prune_missing:
                report.files += self._prune(paths, index)
            index.save(self.dir, self.manifest())
            self.aliases()      # learnt now, while ingesting, rather than by the next question
        report.seconds = time.perf_counter() - start
        report.embedded = self.embedded
        return report

    def _ingest_file(self, f: Path, committee: str | None, index: VectorIndex, progress: bool) -> FileResult:
        key = str(f.resolve())
        previous = self.store.document_hash(key)
        parsed = read_document(f, committee, previous)
        if isinstance(parsed, FileResult):
            return parsed
        sha, items = parsed
        s = self.settings
        # Embed before touching the database, so a failure leaves the old version intact.
        chunks_by_item = [chunk_item(it, 0, s.chunk_size, s.chunk_overlap) for it in items]
        from .store import content_hash

        pending = [(0, 0, content_hash(c.content), c.content) for cs in chunks_by_item for c in cs]
        self._vectors_for(pending, progress=False)
        return self._write_document(f, key, sha, previous, items, index)

    def _write_document(self, f: Path, key: str, sha: str, previous: str | None, items, index) -> FileResult:
        """One document's items and chunks in one transaction, its vectors (already in the
        cache) into the index; shared by the plain and the Ray ingest (rag/ingest_ray.py)."""
        s = self.settings
        removed, added = self.store.replace_document(
            key, f.name, sha, items,
            lambda it, item_id: chunk_item(it, item_id, s.chunk_size, s.chunk_overlap))
        index.remove(removed)
        index.add(added, self._vectors_for(self.store.chunk_rows(added), progress=False))
        return FileResult(str(f), "updated" if previous else "added", len(items), len(added))

    def _prune(self, paths: list[Path], index: VectorIndex) -> list[FileResult]:
        """Forget documents that were under an ingested folder but no longer exist."""
        out = []
        folders = [str(p.resolve()) for p in paths if p.is_dir()]
        for _, path, _name in self.store.documents():
            if any(path.startswith(folder.rstrip("/") + "/") for folder in folders) and not Path(path).exists():
                index.remove(self.store.remove_document(path))
                out.append(FileResult(path, "removed"))
        return out

    def remove(self, name_or_path: str) -> int:
        """Drop a document by file name or path; returns how many documents went."""
        gone = 0
        with self.lock:
            index = self.index
            for _, path, name in self.store.documents():
                if name_or_path in (name, path):
                    index.remove(self.store.remove_document(path))
                    gone += 1
            if gone:
                self.store.prune_vectors()
                index.save(self.dir, self.manifest())
        return gone


def ensure_corpus(settings: Settings, progress: bool = True, echo=print) -> Corpus:
    """Open the index; on a fresh checkout build it from the bundled sample corpus first."""
    corpus = Corpus.open(settings)
    if corpus.is_empty():
        echo(f"No index yet: building it from {settings.corpus_dir} (first run only)…")
        report = corpus.ingest([settings.corpus_dir], progress=progress)
        echo(f"Indexed {report.items} agenda items from {len(report.files)} files "
             f"in {report.seconds:.1f}s.")
        if corpus.is_empty():
            raise LoadError(f"no minutes could be indexed from {settings.corpus_dir}")
    return corpus
