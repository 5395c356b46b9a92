"""Answers: read the question into a plan, run the strategy for its kind, return an Answer.

A thin dispatcher: the plan is read in rag/plan.py, each kind's strategy is in
rag/strategies.py, and the steps they share (retrieve, evidence, generate, check
citations) are in rag/steps.py.

>>> answerer = Answerer(load_settings())                       # doctest: +SKIP
>>> answerer.ask("what happened to the DArDR post?").answer    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import schedule, strategies
from .ingest import Corpus, ensure_corpus
from .plan import read_question, rewrite_followup
from .records import Answer
from .settings import Settings
from .steps import ABSTAIN_TEXT, Steps, is_abstention  # noqa: F401  (the public names)
from .errors import QuestionError, check_question  # noqa: F401  (the public names)
from .store import Filters


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
        self.steps = Steps(settings, self.corpus, progress=progress, echo=echo)
        self.retriever = self.steps.retriever

    def llm(self, fast: bool = False, model: str | Path | None = None):
        return self.steps.llm(fast=fast, model=model)

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None,
            fast: bool = False, model: str | Path | None = None, no_llm: bool = False,
            on_token: Callable[[str], None] | None = None, previous: str | None = None) -> Answer:
        """Answer one question. ``previous``: the question asked just before, in a
        conversation; a follow-up ("who funds it?") is read as being about its subject."""
        run = strategies.Ask(fast=fast, model=model, no_llm=no_llm, on_token=on_token)
        question = check_question(rewrite_followup(question, previous) if previous else question)
        if mostly_non_latin(question):
            return Answer(question, "I can only answer questions written in English about these minutes.",
                          True, timings_ms={"total": 0.0}, mode="none")
        steps = self.steps
        steps.answered_by = (fast, model)    # the model that answers also runs the checks
        dates = self.corpus.store.meeting_dates()
        slot = None
        if steps.rule("schedule") and not (filters and filters.active()):
            slot = schedule.answer_when(question, self.corpus.store, dates, steps.evidence.docs_named)
        plan = read_question(question, dates, filters, self.settings.top_k, k,
                             schedule_slot=slot, split_parts=steps.rule("parts"))
        if plan.kind == "schedule":
            return strategies.schedule(steps, plan, run, *slot)
        if not no_llm and plan.kind != "timeline":
            steps.preload(fast=fast, model=model)
        return {"timeline": strategies.timeline, "parts": strategies.parts,
                "fact": strategies.fact}[plan.kind](steps, plan, run)
