"""Answers: retrieved items -> best evidence sentences -> LLM -> checked citations.

The pipeline, not the model, guarantees the citations: every ``[n]`` left in an answer
points at a passage that was retrieved and shown to the model, each citation carries
the sentence of the item that best supports it, and an answer that declines shows the
closest items instead of sources.

>>> answerer = Answerer(load_settings())                       # doctest: +SKIP
>>> answerer.ask("what happened to the DArDR post?").answer    # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import cite
from .cite import CLAIM_SPLIT, MARKER, CitationFilter
from .embed import get_embedder
from .evidence import Evidence, Passage, informative
from .ingest import Corpus, ensure_corpus
from .llm import get_llm
from .models import resolve_llm_path
from .records import Answer, Citation, Hit
from .retrieve import Retriever, merge_filters, time_scope
from .settings import Settings
from .store import Filters, fts_terms

MAX_QUESTION_CHARS = 2000
ABSTAIN_TEXT = "The minutes provided do not say."
# Phrases with which models decline; an answer made of them is an abstention.
DECLINE = re.compile(
    r"minutes provided do not say|(?:do|does|did) not (?:say|mention|state|contain|specify|provide|include|answer)"
    r"|no (?:information|mention|details?|record)|not (?:mentioned|stated|specified|provided|available|found)"
    r"|cannot (?:answer|find|determine)|can't (?:answer|find|determine)|unable to (?:answer|find|determine)"
    r"|i don't know|i do not know|there is no indication",
    re.I,
)
TIMELINE = re.compile(
    r"\bwhat (?:has |have )?happen(?:ed|s)? (?:to|with)\b|\bhistory of\b|\bprogress (?:of|on|with)\b"
    r"|\bover time\b|\bhow (?:has|have|did) .{3,60} (?:develop|progress|change|evolve)|\btimeline\b"
    r"|\bstory of\b|\bwhat became of\b|\bupdates? on .{3,40} over\b",
    re.I,
)


class QuestionError(ValueError):
    """A question that cannot be asked as it stands; the message is shown as is."""


def is_abstention(text: str) -> bool:
    """True when the answer declines rather than answers (short answers only: a long
    answer that says 'no details were given' about one point still answers)."""
    stripped = MARKER.sub("", text).strip()
    return not stripped or (bool(DECLINE.search(stripped)) and len(stripped) < 160)


def check_question(question: str) -> str:
    q = " ".join((question or "").split())
    if not q:
        raise QuestionError("the question is empty; ask something like: ask \"what happened to the DArDR post?\"")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q):,} characters long; keep it under {MAX_QUESTION_CHARS:,}")
    return q


def mostly_non_latin(question: str) -> bool:
    letters = [c for c in question if c.isalpha()]
    # Accented Latin letters (café, Zürich) count as Latin; CJK, Arabic, Cyrillic etc. do not.
    latin = sum(1 for c in letters if c.isascii() or "\u00c0" <= c <= "\u024f")
    return bool(letters) and latin / len(letters) < 0.6


class Answerer:
    """Question in, Answer out; the corpus, embedder and LLM are loaded once and reused."""

    def __init__(self, settings: Settings, corpus: Corpus | None = None, progress: bool = True, echo=print):
        self.settings = settings
        self.corpus = corpus or ensure_corpus(settings, progress=progress, echo=echo)
        self.retriever = Retriever(self.corpus, settings)
        self.evidence = Evidence(self.corpus, settings)
        self.progress = progress
        self._prompts: dict[str, str] = {}

    # --- helpers ---------------------------------------------------------------------
    def prompt(self, name: str) -> str:
        if name not in self._prompts:
            self._prompts[name] = (Path(self.settings.prompts_dir) / f"{name}.txt").read_text().strip()
        return self._prompts[name]

    def llm(self, fast: bool = False, model: str | Path | None = None):
        path = resolve_llm_path(self.settings, fast=fast, explicit=model, progress=self.progress)
        return get_llm(str(path), self.settings.n_ctx, self.settings.threads)

    def build_messages(self, question: str, passages: list[Passage]) -> list[dict]:
        blocks = []
        for p in passages:
            blocks.append(f"[{p.n}] {p.label()}\n{p.evidence_text()}")
        user = self.prompt("user").format(passages="\n\n".join(blocks), question=question)
        return [{"role": "system", "content": self.prompt("answer")},
                {"role": "user", "content": user}]

    def anchor_terms(self, question: str) -> list[str]:
        """The question's rarest words in the corpus (names, acronyms): what a timeline is about."""
        counts = []
        for term in fts_terms(question):
            n = self.corpus.store.db.execute(
                "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (term,)).fetchone()[0]
            if n:
                counts.append((n, term.strip('"').lower()))
        if not counts:
            return []
        rarest = min(n for n, _ in counts)
        return [t for n, t in counts if n <= 1.5 * rarest]

    def timeline_steps(self, question: str, passages: list[Passage]) -> list[Passage]:
        anchors = self.anchor_terms(question)
        return [p for p in passages
                if p.best >= self.settings.timeline_floor and (not anchors or p.mentions(anchors))]

    def finish(self, question: str, text: str, passages: list[Passage], closest: list[Hit],
               timings: dict, mode: str) -> Answer:
        """Turn raw model text into an Answer whose every citation is real and quoted."""
        by_n = {p.n: p for p in passages}
        text = CitationFilter(set(by_n)).feed(text) if passages else MARKER.sub("", text)
        text = re.sub(r"[ \t]+\n", "\n", text).strip()
        if is_abstention(text) or not passages:
            return Answer(question, ABSTAIN_TEXT if not text or is_abstention(text) else text, True,
                          closest=closest, timings_ms=timings, mode=mode)
        embedder = get_embedder()
        claims = [s for s in re.split(CLAIM_SPLIT, text) if s.strip()]
        claim_vecs = embedder.encode([MARKER.sub("", c) for c in claims])
        claims = [cite.repoint(c, v, passages) for c, v in zip(claims, claim_vecs)]
        grounded = [cite.grounded(c, by_n) for c in claims]
        if not any(grounded):
            return Answer(question, ABSTAIN_TEXT, True, closest=closest, timings_ms=timings, mode=mode)
        if not all(grounded):
            # Drop sentences stating names or figures their passage does not contain.
            claim_vecs = claim_vecs[[i for i, ok in enumerate(grounded) if ok]]
            claims = [c for c, ok in zip(claims, grounded) if ok]
            text = " ".join(claims)
        else:
            text = cite.rejoin(text, claims)
        cited: dict[int, list[int]] = {}
        for ci, claim in enumerate(claims):
            for m in MARKER.finditer(claim):
                for x in re.split(r"[,;]", m.group(1)):
                    cited.setdefault(int(x), []).append(ci)
        if not cited:
            # The model cited nothing: attach the passage that best supports the answer.
            support = [float((p.vectors @ claim_vecs.T).max()) for p in passages]
            best = passages[int(np.argmax(support))]
            text = text.rstrip() + f" [{best.n}]"
            cited = {best.n: list(range(len(claims)))}
        citations = []
        for n in sorted(cited, key=lambda x: text.find(f"[{x}]")):
            p = by_n[n]
            h = p.hit
            citations.append(Citation(n=n, doc=h.doc, meeting_date=h.meeting_date, item=h.item,
                                      minute=h.minute, title=h.title, item_id=h.item_id, kind=h.kind,
                                      quote=cite.quote_for(p, [claims[i] for i in cited[n]],
                                                           claim_vecs[cited[n]])))
        return Answer(question, text, False, citations=citations, timings_ms=timings, mode=mode)

    # --- the public call -------------------------------------------------------------
    def ask(self, question: str, k: int | None = None, filters: Filters | None = None,
            fast: bool = False, model: str | Path | None = None, no_llm: bool = False,
            on_token: Callable[[str], None] | None = None) -> Answer:
        t0 = time.perf_counter()
        question = check_question(question)
        timings: dict[str, float] = {}
        if mostly_non_latin(question):
            return Answer(question, "I can only answer questions written in English about these minutes.",
                          True, timings_ms={"total": 0.0}, mode="none")
        timeline = bool(TIMELINE.search(question))
        k = k or (self.settings.top_k + 2 if timeline else self.settings.top_k)
        dates = self.corpus.store.meeting_dates()
        scope = time_scope(question, dates)
        chosen = merge_filters(filters or Filters(), scope.filters)
        hits = self.retriever.search(question, k=k, filters=chosen)
        if not hits and scope.year and dates and scope.year > dates[-1][:4] and not (filters and filters.active()):
            # A year after the last meeting can only be a date the minutes look ahead to
            # ("the meeting in March 2026"): widen, keeping only items that mention it.
            wider = self.retriever.search(question, k=k, filters=filters)
            hits = [h for h in wider if scope.year in h.item_text]
        timings["retrieve"] = (time.perf_counter() - t0) * 1000
        passages = self.evidence.passages(question, hits) if hits else []
        relevant = self.evidence.relevant(passages)
        timings["evidence"] = (time.perf_counter() - t0) * 1000 - timings["retrieve"]
        mode = "extractive" if no_llm else "llm"
        if not relevant:
            timings["total"] = (time.perf_counter() - t0) * 1000
            ans = Answer(question, ABSTAIN_TEXT, True, closest=hits[:3], timings_ms=timings, mode=mode)
            if scope.label and not hits:
                ans.answer = f"No minutes from {scope.label} matched this question."
            if on_token:
                on_token(ans.answer)
            return ans
        # A timeline needs the matter to come up at two or more meetings.
        timeline = timeline and len({p.hit.meeting_date for p in relevant}) > 1
        if timeline:
            relevant.sort(key=lambda p: (p.hit.meeting_date or "9999", p.hit.item or 0))
        for new_n, p in enumerate(relevant, 1):
            p.n = new_n
        self.evidence.select_evidence(relevant)
        steps = self.timeline_steps(question, relevant) if timeline else []
        if no_llm:
            text = self.timeline_lines(steps) if len(steps) > 1 else self.extractive(relevant)
            if on_token:
                on_token(text)
        else:
            text = self.generate(question, relevant, fast, model, on_token, timings, t0)
            if len(steps) > 1 and not is_abstention(text):
                # The dated steps come from the minutes themselves, oldest first, each cited;
                # a small model asked to write a timeline skips and merges meetings.
                tail = "\n\nTimeline:\n" + self.timeline_lines(steps)
                text = text.rstrip() + tail
                if on_token:
                    on_token(tail)
        timings["total"] = (time.perf_counter() - t0) * 1000
        return self.finish(question, text, relevant, hits[:3], timings, mode)

    @staticmethod
    def timeline_lines(passages: list[Passage]) -> str:
        """One line per meeting, oldest first: its date, item and best sentence, cited."""
        lines = []
        for p in passages:
            where = p.hit.citation().split(":", 1)[0]
            lines.append(f"- {where}: {p.best_sentence()} [{p.n}]")
        return "\n".join(lines)

    def extractive(self, passages: list[Passage]) -> str:
        """No generation: the best supporting sentences, each cited."""
        # Sentences of higher-ranked items are preferred a little on near-ties.
        ranked = sorted(((float(p.scores[i]) - 0.05 * r, p.n, p.sentences[i])
                         for r, p in enumerate(passages) for i in p.evidence
                         if informative(p.sentences[i], p.hit.title)), reverse=True)[:2]
        if not ranked:
            ranked = [(0.0, passages[0].n, passages[0].best_sentence())]
        return " ".join(f"{s} [{n}]" for _, n, s in ranked)

    def generate(self, question, passages, fast, model, on_token, timings, t0) -> str:
        llm = self.llm(fast=fast, model=model)
        timings["load_model"] = (time.perf_counter() - t0) * 1000 - timings["retrieve"] - timings["evidence"]
        messages = self.build_messages(question, passages)
        filt = CitationFilter({p.n for p in passages})
        parts: list[str] = []
        start = time.perf_counter()
        for piece in llm.stream(messages, max_tokens=self.settings.max_answer_tokens):
            if "first_token" not in timings:
                timings["first_token"] = (time.perf_counter() - t0) * 1000
            parts.append(piece)
            if on_token:
                shown = filt.feed(piece)
                if shown:
                    on_token(shown)
        if on_token:
            rest = filt.flush()
            if rest:
                on_token(rest)
        timings["generate"] = (time.perf_counter() - start) * 1000
        return "".join(parts)
