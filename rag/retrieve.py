"""Hybrid retrieval: FAISS (dense) + SQLite FTS5 (BM25), fused by reciprocal rank, per item
(or pgvector + PostgreSQL full-text search with RAG_DATABASE_URL: rag/store_pg.py).

>>> retriever = Retriever(ensure_corpus(load_settings()))     # doctest: +SKIP
>>> [h.citation() for h in retriever.search("DArDR post", k=2)]  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .embed import get_embedder
from .ingest import Corpus
from .records import MONTHS, Hit
from .store import Filters

MODES = ("hybrid", "dense", "keyword")
_MONTH = {m.lower(): i for i, m in enumerate(MONTHS, 1)}
_MONTH.update({m[:3].lower(): i for i, m in enumerate(MONTHS, 1)})
MONTH_YEAR = re.compile(r"\b(" + "|".join(sorted(_MONTH, key=len, reverse=True)) + r")\.?,?\s+(\d{4})\b", re.I)
SCOPED_YEAR = re.compile(
    r"\b(?:in|during|since|before|after|of|from|for)\s+(?:the\s+)?(?:(?:early|late|mid|spring|summer|autumn|winter)[\s-]+)?"
    r"(?:year\s+)?((?:19|20)\d{2})\b"
    r"|\b((?:19|20)\d{2})\s+meeting", re.I)
# "before the 2014 revision", "for the 2020/21 precept": a year between "the" and a noun names
# a thing (set, reported or revised in other years' minutes), not when the meeting was.
NAMES_A_THING = re.compile(r"(?:[/-]\d{2,4})?\s+(?!meetings?\b|minutes\b|years?\b|financial\b|period\b)[a-z]", re.I)
LATEST = re.compile(r"\b(latest|most recent|last|newest|previous|recent)\s+(meeting|minutes)\b|\blatest\b", re.I)
EARLIEST = re.compile(r"\b(earliest|first|oldest)\s+(meeting|minutes)\b", re.I)


# Times a question names ("in March 2025", "2020/21"): left out where a question's names
# should say which body it is about, not when.
TIME_WORDS = re.compile(r"\b(?:19|20)\d{2}(?:/\d{2}(?:\d{2})?)?\b|\b(?:" + "|".join(MONTHS) + r")\b", re.I)


def undated(question: str) -> str:
    return TIME_WORDS.sub(" ", question)


@dataclass
class TimeScope:
    filters: Filters
    label: str | None = None
    year: str | None = None     # a year the question named, for items that mention it


def time_scope(question: str, meeting_dates: list[str]) -> TimeScope:
    """Read "in 2015", "March 2025", "the latest meeting" into a date filter."""
    m = MONTH_YEAR.search(question)
    if m:
        month = _MONTH[m.group(1).lower().rstrip(".")]
        ym = f"{m.group(2)}-{month:02d}"
        return TimeScope(Filters(date_from=f"{ym}-01", date_to=f"{ym}-31"), f"{MONTHS[month - 1]} {m.group(2)}",
                         m.group(2))
    m = next((m for m in SCOPED_YEAR.finditer(question) if not NAMES_A_THING.match(question, m.end())
              or not re.search(r"\bthe\s", m.group(0), re.I)), None)
    if m:
        year = m.group(1) or m.group(2)
        word = question[m.start():m.start() + 6].lower()
        if word.startswith(("since", "after", "from")):
            return TimeScope(Filters(date_from=f"{year}-01-01"), f"since {year}", year)
        if word.startswith("before"):
            return TimeScope(Filters(date_to=f"{int(year) - 1}-12-31"), f"before {year}", year)
        return TimeScope(Filters(date_from=f"{year}-01-01", date_to=f"{year}-12-31"), year, year)
    if meeting_dates and LATEST.search(question):
        d = meeting_dates[-1]
        return TimeScope(Filters(date_from=d[:7] + "-01" if len(d) == 7 else d, date_to=d), "the latest meeting")
    if meeting_dates and EARLIEST.search(question):
        d = meeting_dates[0]
        return TimeScope(Filters(date_from=d[:7] + "-01" if len(d) == 7 else d, date_to=d), "the earliest meeting")
    return TimeScope(Filters())


def merge_filters(base: Filters, extra: Filters) -> Filters:
    """User-chosen filters win; a time read from the question fills in what is unset."""
    return replace(base, date_from=base.date_from or extra.date_from, date_to=base.date_to or extra.date_to)


class Retriever:
    def __init__(self, corpus: Corpus, settings=None):
        self.corpus = corpus
        self.settings = settings or corpus.settings

    def dense(self, query: str, limit: int, filters: Filters) -> list[tuple[int, float]]:
        vector = get_embedder().encode([query])[0]
        return self.corpus.vector_search(vector, limit, filters)

    def keyword(self, query: str, limit: int, filters: Filters) -> list[tuple[int, float]]:
        return self.corpus.store.keyword_search(query, limit, filters)

    def search(self, query: str, k: int | None = None, filters: Filters | None = None,
               mode: str = "hybrid", keyword_weight: float | None = None) -> list[Hit]:
        """Top-k agenda items for the query, best first; each item appears once.
        keyword_weight: instead of the setting, for a query padded with context words."""
        k = k or self.settings.top_k
        filters = filters or Filters()
        n = self.settings.candidates
        with self.corpus.lock:
            dense = self.dense(query, n, filters) if mode in ("hybrid", "dense") else []
            # The other names the minutes give a matter the question names ("DArDR" was
            # "domestic homicide reviews") join the keyword side.
            others = self.corpus.aliases().expand(query) if mode in ("hybrid", "keyword") else []
            keyword = self.keyword(" ".join([query, *others]), n, filters) if mode in ("hybrid", "keyword") else []
            return self._fuse(dense, keyword, k, mode, keyword_weight)

    def _fuse(self, dense, keyword, k, mode, keyword_weight: float | None = None) -> list[Hit]:
        rrf = self.settings.rrf_k
        scores: dict[int, float] = {}
        dense_rank: dict[int, int] = {}
        keyword_rank: dict[int, int] = {}
        for rank, (cid, s) in enumerate(dense, 1):
            scores[cid] = scores.get(cid, 0.0) + (1.0 / (rrf + rank) if mode == "hybrid" else s)
            dense_rank[cid] = rank
        weight = self.settings.keyword_weight if keyword_weight is None else keyword_weight
        for rank, (cid, s) in enumerate(keyword, 1):
            scores[cid] = scores.get(cid, 0.0) + (weight / (rrf + rank) if mode == "hybrid" else s)
            keyword_rank[cid] = rank
        info = self.corpus.store.chunk_info(list(scores))
        best: dict[int, tuple[float, int]] = {}
        item_score: dict[int, float] = {}
        for cid, s in scores.items():
            item_id = info[cid][0]
            # An item is as good as its best chunk; other chunks of it do not take slots.
            if item_id not in best or s > best[item_id][0]:
                best[item_id] = (s, cid)
            item_score[item_id] = max(item_score.get(item_id, 0.0), s)
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:k]
        hits = []
        for item_id, (s, cid) in ranked:
            it = self.corpus.store.item(item_id)
            hits.append(Hit(item_id=item_id, chunk_id=cid, score=s, doc=it.doc,
                            meeting_date=it.meeting_date, item=it.item, minute=it.minute,
                            title=it.title, kind=it.kind, text=info[cid][1], item_text=it.body,
                            committee=it.committee, dense_rank=dense_rank.get(cid),
                            keyword_rank=keyword_rank.get(cid), code=it.code, pages=it.pages,
                            anchor=it.anchor))
        return hits
