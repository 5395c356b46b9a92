"""One small strategy per kind of question; each runs the shared steps (rag/steps.py) its way.

    fact      retrieve -> evidence -> generate -> check citations
    parts     each part of a two-part question from its own best items, answered in turn
    timeline  "what happened to X": the matter's meetings, oldest first, in the minutes' words
    schedule  "when is the next meeting?": the date the minutes themselves set

A strategy takes (steps, plan, ask) and returns an Answer; the dispatcher in rag/answer.py
picks it from plan.kind.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cite import content_words
from .evidence import Passage, informative
from .plan import Plan
from .records import Answer, Citation, Hit
from .retrieve import merge_filters, time_scope
from .schedule import Slot
from .steps import ABSTAIN_TEXT, Steps, is_abstention
from .store import fts_terms

# A timeline step longer than this keeps fewer sentences (its decision is kept longest).
STEP_CHARS = 900
# Words of a question that say when or how to tell, never what the matter is.
NOT_A_MATTER = re.compile(
    r"(?i:recent|latest|last|previous|earliest|first|next|meetings?|board|minutes|updates?|happen\w*"
    r"|history|timeline|time|over|since|until|progress|became|story|\d{4}|january|february|march"
    r"|april|may|june|july|august|september|october|november|december)")
# Words that say how a matter moved between meetings: what a timeline step should report.
MOVEMENT = re.compile(
    r"\b(?:propos|intend|plann|agree|approv|decid|defer|postpon|extend|extension|fund|allocat|delay"
    r"|complet|launch|replac|consult|commission|appoint|adopt|award|withdr|cancel|expect)", re.I)


@dataclass
class Ask:
    """The caller's options for one question."""

    fast: bool = False
    model: str | Path | None = None
    no_llm: bool = False
    on_token: Callable[[str], None] | None = None
    t0: float = field(default_factory=time.perf_counter)
    timings: dict = field(default_factory=dict)

    def emit(self, text: str) -> None:
        if self.on_token:
            self.on_token(text)

    def elapsed(self) -> float:
        return (time.perf_counter() - self.t0) * 1000


def _nothing_found(steps: Steps, plan: Plan, hits: list[Hit], ask: Ask) -> Answer:
    ask.timings["total"] = ask.elapsed()
    ans = Answer(plan.question, ABSTAIN_TEXT, True, closest=hits[:3], timings_ms=ask.timings,
                 mode="extractive" if ask.no_llm else "llm")
    if plan.scope.label and not hits:
        ans.answer = f"No minutes from {plan.scope.label} matched this question."
    ask.emit(ans.answer)
    return ans


def _gather(steps: Steps, plan: Plan, ask: Ask, hits: list[Hit] | None = None):
    hits = steps.retrieve(plan) if hits is None else hits
    ask.timings["retrieve"] = ask.elapsed()
    relevant = steps.relevant(plan.question, hits)
    ask.timings["evidence"] = ask.elapsed() - ask.timings["retrieve"]
    return hits, relevant


# --- fact ---------------------------------------------------------------------------------
def fact(steps: Steps, plan: Plan, ask: Ask) -> Answer:
    hits, relevant = _gather(steps, plan, ask)
    if not relevant:
        return _nothing_found(steps, plan, hits, ask)
    steps.number(relevant)
    steps.evidence.select_evidence(relevant)
    return _respond(steps, plan, ask, hits, relevant)


def _respond(steps: Steps, plan: Plan, ask: Ask, hits: list[Hit], relevant: list[Passage]) -> Answer:
    """Generate from numbered passages (per part for a two-part question), then check."""
    mode = "extractive" if ask.no_llm else "llm"
    partial = False
    if ask.no_llm:
        text = steps.extractive(relevant)
        ask.emit(text)
    elif len(plan.parts) > 1:
        text, relevant = _answer_parts(steps, plan, hits, ask)
        partial = text != ABSTAIN_TEXT
    else:
        text = steps.generate(plan.question, relevant, ask.fast, ask.model, ask.on_token, ask.timings, ask.t0)
        if steps.misses_the_ask(plan.question, text):
            text = ABSTAIN_TEXT
    ask.timings["total"] = ask.elapsed()
    return steps.finish(plan.question, text, relevant, hits[:3], ask.timings, mode, partial,
                        verbatim=ask.no_llm)


# --- parts --------------------------------------------------------------------------------
def parts(steps: Steps, plan: Plan, ask: Ask) -> Answer:
    hits = steps.retrieve(plan)
    if hits:
        hits = cover_parts(steps, plan, hits)
    hits, relevant = _gather(steps, plan, ask, hits)
    if not relevant:
        return _nothing_found(steps, plan, hits, ask)
    steps.number(relevant)
    steps.evidence.select_evidence(relevant)
    return _respond(steps, plan, ask, hits, relevant)


def cover_parts(steps: Steps, plan: Plan, hits: list[Hit]) -> list[Hit]:
    """Make sure each part of a question has its own best item among the hits; each part
    is searched with the whole question as context, under its own time if it names one.
    Word counts would let the other part's words, there only to resolve "it", lead that
    search; the dense ranking weighs as much as the keyword one here, and a part whose
    best item an earlier part already holds takes its next best."""
    dates = steps.corpus.store.meeting_dates()
    filters = merge_filters(plan.filters, plan.scope.filters)
    must: list[Hit] = []
    for part in plan.parts:
        scope = time_scope(part, dates)
        found = steps.search(f"{part} {plan.question}", 1 + len(must), merge_filters(filters, scope.filters),
                             keyword_weight=1.0)
        fresh = [h for h in found if all(h.item_id != m.item_id for m in must)]
        if fresh:
            must.append(fresh[0])
    rest = [h for h in hits if all(h.item_id != m.item_id for m in must)]
    return (must + rest)[:max(plan.k, len(must))]


def part_hits(steps: Steps, part: str, hits: list[Hit], question: str = "") -> list[Hit]:
    """A time a part names is its own ("who presented them in March 2025?"): the part
    sees only that time's items, when there are any of the body the question is about.
    "How many riders in 2024, and how many does it expect in 2025?" names a year the 2024
    minutes look forward to; the 2025 items found were another council's."""
    when = time_scope(part, steps.corpus.store.meeting_dates()).filters
    own = [h for h in hits if when.admits_date(h.meeting_date)] if when.active() else hits
    if own is not hits and steps.of_another_body(question or part, own, hits):
        return hits
    return own or hits


# A part that points back ("why?", "why were they kept in post?", "what is planned for it?")
# means nothing to the model on its own.
POINTS_BACK = re.compile(r"^\W*\w+\W*$|\b(?:it|its|they|them|their|that|this|these|those|he|she|him|her|his|then)\b", re.I)


# A question answered yes or no ("Did the board agree ...?", "Was it funded?").
YES_NO = re.compile(r"\s*(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could|should)\b", re.I)


def _not_said(part: str) -> str:
    return f"On “{part.rstrip('?')}”, the minutes provided do not say."


def _in_context(part: str, before: list[str]) -> str:
    """The part as the model sees it: one that points back is joined to the part before it
    ("Until when did the board agree to keep paying staff; why?"). The model may restate the
    earlier answer, but "why?" alone it declines."""
    # A part naming one thing at most ("what was the quote?", "which jobs?") leans on the
    # part before it as much as one saying "it".
    if not before or not (POINTS_BACK.search(part) or len(content_words(part)) <= 1):
        return part
    return f"{before[-1].rstrip('?')}; {part}"


def _answer_parts(steps: Steps, plan: Plan, hits: list[Hit], ask: Ask) -> tuple[str, list[Passage]]:
    """One short generation per part, each from the evidence for that part, numbered
    across the whole answer: a small model given two questions answers one."""
    per_part = []
    for part in plan.parts:
        # The part's own words lead; the whole question resolves "it" and "the post".
        per_part.append(steps.relevant(f"{part} {plan.question}", part_hits(steps, part, hits, plan.question)))
    order = [h.item_id for h in hits]
    used = sorted({p.hit.item_id for found in per_part for p in found}, key=order.index)
    number = {item_id: n for n, item_id in enumerate(used, 1)}
    merged: dict[int, Passage] = {}
    for found in per_part:
        for p in found:
            p.n = number[p.hit.item_id]
        steps.evidence.select_evidence(found)
        for p in found:
            if p.hit.item_id in merged:
                keep = merged[p.hit.item_id]
                keep.evidence = sorted(set(keep.evidence) | set(p.evidence))
            else:
                merged[p.hit.item_id] = p
    texts = []
    unsaid: set[int] = set()   # parts the minutes do not answer
    for i, (part, found) in enumerate(zip(plan.parts, per_part)):
        if not found:
            unsaid.add(i)
            continue
        if texts:
            ask.emit(" ")
        asked = _in_context(part, plan.parts[:i])
        if asked != part and i - 1 in unsaid and YES_NO.match(plan.parts[i - 1]) and steps.rule("presupposes"):
            # "Did the council appeal, and what happened?": what followed presupposes a yes
            # that the minutes do not give. Asked anyway, the model answers as if it had
            # ("The council appealed ...") after declining the first part.
            unsaid.add(i)
            texts.append(_not_said(part))
            continue
        part_text = steps.generate(asked, found, ask.fast, ask.model, ask.on_token, ask.timings, ask.t0).strip()
        declined = is_abstention(part_text) or steps.misses_the_ask(part, part_text)
        if declined:
            unsaid.add(i)
        texts.append(_not_said(part) if declined else part_text)
    passages = sorted(merged.values(), key=lambda p: p.n)
    if all(is_abstention(t) for t in texts):
        return ABSTAIN_TEXT, passages
    return " ".join(texts), passages


# --- timeline -----------------------------------------------------------------------------
def timeline(steps: Steps, plan: Plan, ask: Ask) -> Answer:
    """ "What happened to X" is told as the minutes tell it: per meeting, oldest first, what
    was proposed, reported and decided, in the minutes' own words and cited. The small
    model, asked for this, turns "was looking to extend" into "extended" and merges meetings."""
    hits = steps.retrieve(plan)
    if hits and len(plan.parts) > 1:
        hits = cover_parts(steps, plan, hits)
    hits, relevant = _gather(steps, plan, ask, hits)
    if not relevant:
        return _nothing_found(steps, plan, hits, ask)
    relevant.sort(key=lambda p: (p.hit.meeting_date or "9999", p.hit.item or 0))
    steps.number(relevant)
    steps.evidence.select_evidence(relevant)
    anchors = _anchor_terms(steps, plan.question)
    chosen = [p for p in relevant
              if p.best >= steps.settings.timeline_floor and (not anchors or p.mentions(anchors))]
    # An account of one meeting is not a timeline: the question ("what happened to the $5,000
    # proposed for lighting?") is answered like any other, by the model from the evidence.
    if len({p.hit.meeting_date or p.hit.doc for p in chosen}) < 2 or not steps.rule("timeline"):
        return _respond(steps, plan, ask, hits, relevant)
    text = "\n".join(f"- {p.hit.citation().split(':', 1)[0]}: {' '.join(_step_sentences(p, anchors))} [{p.n}]"
                     for p in chosen)
    ask.emit(text)
    ask.timings["total"] = ask.elapsed()
    return steps.finish(plan.question, text, relevant, hits[:3], ask.timings,
                        "extractive" if ask.no_llm else "llm", verbatim=True)


def _anchor_terms(steps: Steps, question: str) -> list[str]:
    """The question's rarest words in the corpus (names, acronyms): what a timeline is about."""
    counts = []
    for term in fts_terms(question):
        if NOT_A_MATTER.fullmatch(re.sub(r"['’]s$", "", term.strip('"'))):
            continue
        n = steps.corpus.store.chunks_matching(term)
        if n:
            counts.append((n, term.strip('"').lower()))
    if not counts:
        return []
    rarest = min(n for n, _ in counts)
    anchors = [t for n, t in counts if n <= 1.5 * rarest]
    # The matter under its other names, so the account follows it through a renaming.
    aliases = steps.corpus.aliases()
    return anchors + [name for a in anchors for name in sorted(aliases.names_for(a))]


def _step_sentences(p: Passage, anchors: list[str]) -> list[str]:
    """What the item said about the matter (its two best sentences, those naming it
    first) and what was decided, in reading order."""
    names = np.array([not anchors or any(a in s.lower() for a in anchors) for s in p.sentences])
    moves = np.array([bool(MOVEMENT.search(s)) for s in p.sentences])
    # Naming the matter ("DArDR", "Glen Parva") and saying how it moved (proposed,
    # funded, deferred) outweigh a near tie in similarity.
    ranked = [int(i) for i in np.argsort(-(p.scores + 0.15 * names + 0.1 * moves))
              if informative(p.sentences[i], p.hit.title)]
    decision = [p.sentences[i].startswith(("RESOLVED", "AGREED")) for i in range(len(p.sentences))]
    chosen = [i for i in ranked if decision[i] and names[i]][:1]
    used = sum(len(p.sentences[i]) for i in chosen)
    said = 0
    for i in ranked:
        # The best two of what was said that fit beside the decision (the best always does).
        if not decision[i] and said < 2 and (said == 0 or used + len(p.sentences[i]) <= STEP_CHARS):
            chosen.append(i)
            used += len(p.sentences[i])
            said += 1
    return [p.sentences[i] for i in sorted(chosen or [int(np.argmax(p.scores))])]


# --- schedule -----------------------------------------------------------------------------
def schedule(steps: Steps, plan: Plan, ask: Ask, text: str, slot: Slot) -> Answer:
    """A next-meeting date from the minutes' own schedule, cited to the item that set it."""
    it = steps.corpus.store.item(slot.item_id)
    ask.emit(text)
    citation = Citation.of(1, it, slot.sentence, slot.item_id)
    return Answer(plan.question, text, False, citations=[citation],
                  timings_ms={"total": ask.elapsed()}, mode="schedule")
