"""SQLite store: documents, items, chunks, an FTS5 keyword index and cached embeddings.

SQLite is the source of truth. Embeddings are kept by content hash, so text that has
not changed is never embedded again, and the FAISS index can always be rebuilt from here.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .records import Item

SCHEMA = """
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    ingested_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    meeting_date TEXT,
    committee TEXT,
    item INTEGER,
    minute INTEGER,
    resolution TEXT,
    title_derived INTEGER NOT NULL DEFAULT 0,
    code TEXT,
    pages TEXT,
    anchor TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    header TEXT NOT NULL,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_doc ON items(doc_id);
CREATE INDEX IF NOT EXISTS chunks_item ON chunks(item_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, text, tokenize = 'porter unicode61'
);
CREATE TABLE IF NOT EXISTS embeddings (
    content_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (content_hash, model)
);
-- Vectors of single sentences, filled as questions need them (evidence scoring).
CREATE TABLE IF NOT EXISTS sentence_vectors (
    content_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (content_hash, model)
);
"""
VECTOR_TABLES = ("embeddings", "sentence_vectors")

# Words too common in minutes to help a keyword search.
STOPWORDS = set(
    "a an and are as at be been by did do does for from had has have how i in is it its "
    "of on or that the their there this to was were what when where which who whom why "
    "will with about any happened happen tell me please board meeting meetings minutes "
    "council said say says agreed decided decide decision".split()
)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Filters:
    """Restrict a search to meetings in a date range, one document, or one committee."""

    date_from: str | None = None    # ISO, inclusive; a YYYY-MM meeting counts as the whole month
    date_to: str | None = None
    doc: str | None = None
    committee: str | None = None

    def sql(self, alias: str = "i") -> tuple[str, list]:
        clauses, args = [], []
        if self.date_from:
            clauses.append(f"({alias}.meeting_date || '-99') >= ?")
            args.append(self.date_from)
        if self.date_to:
            clauses.append(f"{alias}.meeting_date <= ?")
            args.append(self.date_to)
        if self.doc:
            clauses.append("d.name = ?")
            args.append(self.doc)
        if self.committee:
            clauses.append(f"{alias}.committee LIKE ?")
            args.append(f"%{self.committee}%")
        return (" AND ".join(clauses) or "1=1"), args

    def active(self) -> bool:
        return any([self.date_from, self.date_to, self.doc, self.committee])

    def admits_date(self, meeting_date: str | None) -> bool:
        """The date part of sql(), for hits already in hand."""
        if not meeting_date:
            return not (self.date_from or self.date_to)
        return ((not self.date_from or meeting_date + "-99" >= self.date_from)
                and (not self.date_to or meeting_date <= self.date_to))


ITEM_COLUMNS = ("i.id, d.name, i.kind, i.position, i.title, i.body, i.meeting_date, "
                "i.committee, i.item, i.minute, i.resolution, i.title_derived, i.code, i.pages, i.anchor")
# Columns added after the first release: an older database gains them when opened.
LATER_ITEM_COLUMNS = ("code", "pages", "anchor")


def _row_to_item(row) -> Item:
    return Item(doc=row[1], kind=row[2], position=row[3], title=row[4], body=row[5],
                meeting_date=row[6], committee=row[7], item=row[8], minute=row[9],
                resolution=row[10], title_derived=bool(row[11]), code=row[12], pages=row[13],
                anchor=row[14])


class Store:
    """One index folder's SQLite database; the FAISS file beside it holds the vectors' index."""

    has_vectors = False     # dense search goes through the FAISS index (rag/index.py)

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.executescript(SCHEMA)
        have = {r[1] for r in self.db.execute("PRAGMA table_info(items)")}
        with self.db:
            for column in LATER_ITEM_COLUMNS:
                if column not in have:
                    self.db.execute(f"ALTER TABLE items ADD COLUMN {column} TEXT")

    def close(self) -> None:
        self.db.close()

    # --- documents -------------------------------------------------------------------
    def document_hash(self, path: str) -> str | None:
        row = self.db.execute("SELECT sha256 FROM documents WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def documents(self) -> list[tuple[int, str, str]]:
        return self.db.execute("SELECT id, path, name FROM documents ORDER BY name").fetchall()

    def chunk_ids_of_document(self, path: str) -> list[int]:
        return [r[0] for r in self.db.execute(
            "SELECT c.id FROM chunks c JOIN items i ON c.item_id = i.id "
            "JOIN documents d ON i.doc_id = d.id WHERE d.path = ?", (path,))]

    def replace_document(self, path: str, name: str, sha: str, items: list[Item],
                         chunker) -> tuple[list[int], list[int]]:
        """Swap a document's items and chunks in one transaction; returns (removed, added) chunk ids."""
        removed = self.chunk_ids_of_document(path)
        added: list[int] = []
        with self.db:
            self._delete_chunks_fts(removed)
            self.db.execute("DELETE FROM documents WHERE path = ?", (path,))
            doc_id = self.db.execute(
                "INSERT INTO documents (path, name, sha256) VALUES (?, ?, ?)", (path, name, sha)
            ).lastrowid
            for it in items:
                item_id = self.db.execute(
                    "INSERT INTO items (doc_id, position, kind, title, body, meeting_date, committee,"
                    " item, minute, resolution, title_derived, code, pages, anchor)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (doc_id, it.position, it.kind, it.title, it.body, it.meeting_date, it.committee,
                     it.item, it.minute, it.resolution, int(it.title_derived), it.code, it.pages,
                     it.anchor),
                ).lastrowid
                for ch in chunker(it, item_id):
                    cid = self.db.execute(
                        "INSERT INTO chunks (item_id, seq, header, text, content_hash) VALUES (?,?,?,?,?)",
                        (item_id, ch.seq, ch.header, ch.text, content_hash(ch.content)),
                    ).lastrowid
                    self.db.execute("INSERT INTO chunks_fts (rowid, title, text) VALUES (?, ?, ?)",
                                    (cid, ch.header, ch.text))
                    added.append(cid)
        return removed, added

    def remove_document(self, path: str) -> list[int]:
        removed = self.chunk_ids_of_document(path)
        with self.db:
            self._delete_chunks_fts(removed)
            self.db.execute("DELETE FROM documents WHERE path = ?", (path,))
        return removed

    def _delete_chunks_fts(self, ids: list[int]) -> None:
        self.db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])

    # --- items and chunks ------------------------------------------------------------
    def items(self, filters: Filters | None = None) -> list[tuple[int, Item]]:
        where, args = (filters or Filters()).sql()
        rows = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items i JOIN documents d ON i.doc_id = d.id "
            f"WHERE {where} ORDER BY d.name, i.position", args).fetchall()
        return [(r[0], _row_to_item(r)) for r in rows]

    def item(self, item_id: int) -> Item:
        row = self.db.execute(
            f"SELECT {ITEM_COLUMNS} FROM items i JOIN documents d ON i.doc_id = d.id WHERE i.id = ?",
            (item_id,)).fetchone()
        return _row_to_item(row)

    def chunk_rows(self, ids: list[int] | None = None) -> list[tuple[int, int, str, str]]:
        """(chunk id, item id, content hash, content) for the given chunks, or all."""
        sql = "SELECT id, item_id, content_hash, header || char(10) || text FROM chunks"
        if ids is None:
            return self.db.execute(sql + " ORDER BY id").fetchall()
        out = []
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            out += self.db.execute(sql + f" WHERE id IN ({','.join('?' * len(part))})", part).fetchall()
        return out

    def chunk_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def state(self) -> str:
        """Changes with every ingest or removal (ids only grow): cheap to read per question."""
        return str(self.db.execute("SELECT COUNT(*), MAX(id) FROM chunks").fetchone())

    def allowed_chunk_ids(self, filters: Filters) -> list[int]:
        where, args = filters.sql()
        return [r[0] for r in self.db.execute(
            "SELECT c.id FROM chunks c JOIN items i ON c.item_id = i.id "
            f"JOIN documents d ON i.doc_id = d.id WHERE {where}", args)]

    def chunk_info(self, ids: list[int]) -> dict[int, tuple[int, str]]:
        """chunk id -> (item id, chunk text)."""
        out = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            for cid, item_id, text in self.db.execute(
                f"SELECT id, item_id, text FROM chunks WHERE id IN ({','.join('?' * len(part))})", part):
                out[cid] = (item_id, text)
        return out

    def corpus_hash(self) -> str:
        digest = hashlib.sha256()
        for cid, h in self.db.execute("SELECT id, content_hash FROM chunks ORDER BY id"):
            digest.update(f"{cid}:{h}\n".encode())
        return digest.hexdigest()

    def meeting_dates(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT meeting_date FROM items WHERE meeting_date IS NOT NULL ORDER BY meeting_date")]

    # --- keyword search --------------------------------------------------------------
    def chunks_matching(self, match: str | None = None) -> int | None:
        """How many chunks an FTS5 query matches (all chunks without one); None when FTS5
        cannot parse it. Rarity of a word in the corpus weights evidence and anchors timelines."""
        try:
            if match is None:
                return self.db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
            return self.db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)).fetchone()[0]
        except sqlite3.OperationalError:
            return None

    def keyword_search(self, query: str, limit: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """BM25 over chunk headers and text; returns (chunk id, score) best first."""
        terms = fts_terms(query)
        if not terms:
            return []
        match = " OR ".join(terms)
        where, args = (filters or Filters()).sql()
        # Title/header matches weigh double: agenda titles name the subject of the item.
        rows = self.db.execute(
            "SELECT f.rowid, bm25(chunks_fts, 2.0, 1.0) AS s FROM chunks_fts f "
            "JOIN chunks c ON c.id = f.rowid JOIN items i ON c.item_id = i.id "
            f"JOIN documents d ON i.doc_id = d.id WHERE chunks_fts MATCH ? AND {where} "
            "ORDER BY s LIMIT ?", [match, *args, limit]).fetchall()
        return [(r[0], -r[1]) for r in rows]

    # --- embedding cache -------------------------------------------------------------
    def cached_vectors(self, hashes: list[str], model: str, table: str = "embeddings") -> dict[str, np.ndarray]:
        assert table in VECTOR_TABLES
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            part = hashes[start:start + 500]
            for h, blob in self.db.execute(
                f"SELECT content_hash, vector FROM {table} WHERE model = ? AND content_hash IN "
                f"({','.join('?' * len(part))})", [model, *part]):
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def save_vectors(self, vectors: dict[str, np.ndarray], model: str, table: str = "embeddings") -> None:
        assert table in VECTOR_TABLES
        with self.db:
            self.db.executemany(
                f"INSERT OR REPLACE INTO {table} (content_hash, model, vector) VALUES (?, ?, ?)",
                [(h, model, v.astype(np.float32).tobytes()) for h, v in vectors.items()])

    def prune_vectors(self) -> None:
        """Drop cached vectors of text no chunk holds any more."""
        with self.db:
            self.db.execute("DELETE FROM embeddings WHERE content_hash NOT IN (SELECT content_hash FROM chunks)")


def fts_terms(query: str) -> list[str]:
    import re

    words = re.findall(r"[A-Za-z0-9£][A-Za-z0-9£'&/.-]*[A-Za-z0-9]|[A-Za-z0-9]", query)
    out, seen = [], set()
    for w in words:
        w = w.strip(".'").replace('"', "")
        if not w or w.lower() in STOPWORDS or w.lower() in seen:
            continue
        seen.add(w.lower())
        out.append(f'"{w}"')
    return out
