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

from . import cite, schedule
from .cite import CLAIM_SPLIT, MARKER, CitationFilter
from .embed import get_embedder
from .evidence import Evidence, Passage, informative
from .ingest import Corpus, ensure_corpus
from .llm import get_llm
from .models import resolve_llm_path
from .selfcheck import ensure_native_ok
from .records import Answer, Citation, Hit
from .retrieve import MONTHS, Retriever, TimeScope, merge_filters, time_scope
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
# A question about what happened at a meeting, not about a period the minutes discuss.
ABOUT_A_MEETING = re.compile(r"\b(?:meetings?|met|minutes|agenda)\b", re.I)
# A timeline step longer than this keeps fewer sentences (its decision is kept longest).
STEP_CHARS = 900
# Words of a question that say when or how to tell, never what the matter is.
NOT_A_MATTER = re.compile(
    r"(?i:recent|latest|last|previous|earliest|first|next|meetings?|board|minutes|updates?|happen\w*"
    r"|history|timeline|time|over|since|until|progress|became|story|\d{4}|"
    + "|".join(m.lower() for m in MONTHS) + ")")
# Words that say how a matter moved between meetings: what a timeline step should report.
MOVEMENT = re.compile(
    r"\b(?:propos|intend|plann|agree|approv|decid|defer|postpon|extend|extension|fund|allocat|delay"
    r"|complet|launch|replac|consult|commission|appoint|adopt|award|withdr|cancel|expect)", re.I)
TIMELINE = re.compile(
    r"\bwhat (?:has |have )?happen(?:ed|s)? (?:to|with)\b|\bhistory of\b|\bprogress (?:of|on|with)\b"
    r"|\bover time\b|\bhow (?:has|have|did) .{3,60} (?:develop|progress|change|evolve)|\btimeline\b"
    r"|\bstory of\b|\bwhat became of\b|\bupdates? on .{3,40} over\b",
    re.I,
)


# Where one question asks two things: ", and what ...", "? When ...", ". Who ...".
_WH = r"(?:what|who|whom|whose|when|where|which|why|how)"
_AUX = r"(?:is|was|were|are|did|does|do|has|have|had|can|could|would|will)"
PART_BREAK = re.compile(rf"(?:,\s*|\s+)and\s+(?={_WH}\b)|[?.;]\s+(?=[A-Z])(?=(?i:{_WH}|{_AUX})\b)")


def question_parts(question: str) -> list[str]:
    """The separate things a question asks, in order ("Who chaired X in 2015, and who chairs it
    now?" -> two parts); a lead-in statement ("Back in 2015 ... . What ...?") is context, not
    a part. One part for ordinary questions."""
    # Lead-in statements ("Back in 2015 officers wanted a review.") are context, not parts,
    # and an "and how" inside one does not split it.
    sentences = re.split(r"(?<=[.?!])\s+(?=[A-Z])", question.strip())
    while (len(sentences) > 1 and sentences[0].endswith(".")
           and not re.match(rf"(?i:{_WH}|{_AUX})\b", sentences[0])):
        sentences.pop(0)
    asked = " ".join(sentences)
    pieces = [p.strip(" ,;") for p in PART_BREAK.split(asked) if p.strip(" ,;?.")]
    if len(pieces) < 2:
        return [question]
    return [p if p.endswith("?") else p + "?" for p in pieces]


# A question asking for an amount or a date is not answered by a sentence holding none:
# "How many fixed penalty notices were issued?" is not answered by "a query about the low
# number of fixed penalty notices would be investigated".
ASKS_AMOUNT = re.compile(
    r"\bhow many\b|\bhow much\b(?! (?:progress|support|work|effort|interest|attention|concern|of)\b)"
    r"|\bwhat (?:is|was|were|are) the (?:total |overall )?(?:number|amount|cost|value|sum|percentage)\b", re.I)
STATES_AMOUNT = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundred|thousand|million|billion|half|dozen|none|zero|single|no one|nobody|nothing)\b", re.I)
ASKS_DATE = re.compile(r"^\s*(?:on |by )?(?:what|which) (?:dates?|days?)\b", re.I)
# Asking when: earlier minutes can set dates in a time that has no minutes ("what date was
# set for the first meeting of 2022?").
ASKS_WHEN = re.compile(rf"^\s*when\b|{ASKS_DATE.pattern}", re.I)
STATES_DATE = re.compile(
    rf"\d|\b(?:{'|'.join(MONTHS)}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    r"|spring|summer|autumn|winter|next meeting)\b", re.I)


# A number, code or month the question itself names ("2014/15", "Q3", "£1,000", "March").
QUESTION_FIGURE = re.compile(rf"[£$]?\w*\d(?:[\w/%]|[.,:-](?=\w))*|\b(?:{'|'.join(MONTHS)})\b", re.I)


def misses_the_ask(question: str, text: str) -> bool:
    """True when the question wants an amount or a date and the answer states none (the
    question's own numbers and months, said back, are not one: "the 2014/15 Q3 dashboard
    showed referrals" does not say how many)."""
    plain = MARKER.sub("", text)
    for said in set(QUESTION_FIGURE.findall(question)):
        plain = re.sub(rf"(?<!\w){re.escape(said)}(?!\w)", " ", plain, flags=re.I)
    return bool((ASKS_AMOUNT.search(question) and not STATES_AMOUNT.search(plain))
                or (ASKS_DATE.search(question) and not STATES_DATE.search(plain)))


def attach(claim: str, n: int | None) -> str:
    """Cite passage n at the end of a sentence, before its full stop."""
    if n is None:
        return claim
    body = claim.rstrip()
    return f"{body[:-1].rstrip()} [{n}]." if body.endswith(".") else f"{body} [{n}]"


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
        self.echo = echo
        self._prompts: dict[str, str] = {}

    # --- helpers ---------------------------------------------------------------------
    def prompt(self, name: str) -> str:
        if name not in self._prompts:
            self._prompts[name] = (Path(self.settings.prompts_dir) / f"{name}.txt").read_text().strip()
        return self._prompts[name]

    def llm(self, fast: bool = False, model: str | Path | None = None):
        path = resolve_llm_path(self.settings, fast=fast, explicit=model, progress=self.progress)
        # A build that the CPU refuses would kill this process; prove it in a child first.
        ensure_native_ok(path, self.settings.model_cache_dir, echo=self.echo if self.progress else None)
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
            if NOT_A_MATTER.fullmatch(re.sub(r"['’]s$", "", term.strip('"'))):
                continue
            n = self.corpus.store.chunks_matching(term)
            if n:
                counts.append((n, term.strip('"').lower()))
        if not counts:
            return []
        rarest = min(n for n, _ in counts)
        return [t for n, t in counts if n <= 1.5 * rarest]

    def timeline_steps(self, passages: list[Passage], anchors: list[str]) -> list[Passage]:
        """The meetings at which the matter itself (its rarest words) came up, clearly."""
        return [p for p in passages
                if p.best >= self.settings.timeline_floor and (not anchors or p.mentions(anchors))]

    def finish(self, question: str, text: str, passages: list[Passage], closest: list[Hit],
               timings: dict, mode: str, partial: bool = False, verbatim: bool = False) -> Answer:
        """Turn raw model text into an Answer whose every citation is real and quoted.
        partial: a two-part answer that says which part the minutes do not answer.
        verbatim: the text is the minutes' own sentences, already cited where they stand."""
        by_n = {p.n: p for p in passages}
        text = CitationFilter(set(by_n)).feed(text) if passages else MARKER.sub("", text)
        text = re.sub(r"[ \t]+\n", "\n", text).strip()
        if not passages or (is_abstention(text) and not partial):
            return Answer(question, ABSTAIN_TEXT if not text or is_abstention(text) else text, True,
                          closest=closest, timings_ms=timings, mode=mode)
        embedder = get_embedder()
        claims = [s for s in re.split(CLAIM_SPLIT, text) if s.strip()]
        claim_vecs = embedder.encode([MARKER.sub("", c) for c in claims])
        if not verbatim:
            claims = [cite.repoint(c, v, passages) for c, v in zip(claims, claim_vecs)]
            if any(MARKER.search(c) for c in claims):
                # A sentence the model left uncited (it often cites only one of two) cites
                # the passage that holds its names and supports it best.
                claims = [c if MARKER.search(c) or is_abstention(c) else attach(c, cite.best_holder(c, v, passages))
                          for c, v in zip(claims, claim_vecs)]
        grounded = [verbatim or cite.grounded(c, by_n) for c in claims]
        if not any(grounded):
            # The model tried to answer but named people or figures its passages lack.
            # On a clear match the minutes' own best sentences answer better than a
            # refusal; they are quoted, so they pass this check.
            quoted = (self.extractive(passages)
                      if max(p.best for p in passages) >= self.settings.confident_floor else None)
            if quoted and not misses_the_ask(question, quoted):
                return self.finish(question, quoted, passages, closest, timings, mode)
            return Answer(question, ABSTAIN_TEXT, True, closest=closest, timings_ms=timings, mode=mode)
        if not all(grounded):
            # Drop sentences stating names or figures their passage does not contain.
            claim_vecs = claim_vecs[[i for i, ok in enumerate(grounded) if ok]]
            claims = [c for c, ok in zip(claims, grounded) if ok]
            text = " ".join(claims)
        else:
            text = cite.rejoin(text, claims)
        if not verbatim and not partial and misses_the_ask(question, text):
            # What survived the check no longer holds the amount or date asked for.
            return Answer(question, ABSTAIN_TEXT, True, closest=closest, timings_ms=timings, mode=mode)
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
            citations.append(Citation.of(n, h, cite.quote_for(p, [claims[i] for i in cited[n]],
                                                              claim_vecs[cited[n]]), h.item_id))
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
        parts = question_parts(question)
        k = k or (self.settings.top_k + 2 if timeline or len(parts) > 1 else self.settings.top_k)
        dates = self.corpus.store.meeting_dates()
        if len(parts) == 1 and not timeline and not (filters and filters.active()):
            when = schedule.answer_when(question, self.corpus.store, dates)
            if when:
                return self.scheduled(question, *when, t0, on_token)
        # A time in one part of a two-part question ("in 2015 ..., and what now?") is not a
        # limit on the whole question.
        scope = time_scope(question, dates) if len(parts) == 1 else TimeScope(Filters())
        chosen = merge_filters(filters or Filters(), scope.filters)
        hits = self.retriever.search(question, k=k, filters=chosen)
        if len(parts) > 1 and hits:
            hits = self.cover_parts(question, parts, hits, k, chosen)
        if not hits and scope.year and not (filters and filters.active()):
            # No meeting at that time. A month ("the 12 months to December 2014") or a year
            # after the last meeting ("the meeting in March 2026") can still be what the
            # minutes talk about: widen, keeping only items that name it. A bare past year
            # ("decided in 2023") or a month's meeting ("the June 2025 meeting") with no
            # minutes stays unanswered: other meetings cannot say what happened at it,
            # though they can say when it was to be held.
            month = bool(scope.label) and scope.label.split()[0] in MONTHS
            named = scope.label if month and not ABOUT_A_MEETING.search(question) else None
            if ASKS_WHEN.search(question):
                named = scope.label if month else scope.year
            if named or (dates and scope.year > dates[-1][:4]):
                wider = self.retriever.search(question, k=k, filters=filters)
                hits = [h for h in wider if (named or scope.year).lower() in h.item_text.lower()]
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
        if timeline:
            relevant.sort(key=lambda p: (p.hit.meeting_date or "9999", p.hit.item or 0))
        for new_n, p in enumerate(relevant, 1):
            p.n = new_n
        self.evidence.select_evidence(relevant)
        anchors = self.anchor_terms(question) if timeline else []
        steps = self.timeline_steps(relevant, anchors) if timeline else []
        if steps:
            # "What happened to X" is told as the minutes tell it: per meeting, oldest first,
            # what was proposed, reported and decided, in the minutes' own words and cited.
            # The small model, asked for this, turns "was looking to extend" into "extended"
            # and merges meetings.
            text = self.timeline_lines(steps, anchors)
            if on_token:
                on_token(text)
        elif no_llm:
            text = self.extractive(relevant)
            if on_token:
                on_token(text)
        elif len(parts) > 1:
            text, relevant = self.answer_parts(question, parts, hits, fast, model, on_token, timings, t0)
        else:
            text = self.generate(question, relevant, fast, model, on_token, timings, t0)
            if misses_the_ask(question, text):
                text = ABSTAIN_TEXT
        timings["total"] = (time.perf_counter() - t0) * 1000
        partial = len(parts) > 1 and not steps and not no_llm and text != ABSTAIN_TEXT
        return self.finish(question, text, relevant, hits[:3], timings, mode, partial,
                           verbatim=bool(steps) or no_llm)

    def scheduled(self, question: str, text: str, slot: schedule.Slot, t0: float,
                  on_token: Callable[[str], None] | None) -> Answer:
        """A next-meeting date from the minutes' own schedule, cited to the item that set it."""
        it = self.corpus.store.item(slot.item_id)
        if on_token:
            on_token(text)
        citation = Citation.of(1, it, slot.sentence, slot.item_id)
        return Answer(question, text, False, citations=[citation],
                      timings_ms={"total": (time.perf_counter() - t0) * 1000}, mode="schedule")

    def answer_parts(self, question, parts, hits, fast, model, on_token, timings, t0):
        """One short generation per part, each from the evidence for that part, numbered
        across the whole answer: a small model given two questions answers one."""
        per_part = []
        for part in parts:
            # The part's own words lead; the whole question resolves "it" and "the post".
            found = self.evidence.relevant(self.evidence.passages(f"{part} {question}", self.part_hits(part, hits)))
            per_part.append(found)
        order = [h.item_id for h in hits]
        used = sorted({p.hit.item_id for found in per_part for p in found}, key=order.index)
        number = {item_id: n for n, item_id in enumerate(used, 1)}
        merged: dict[int, Passage] = {}
        for found in per_part:
            for p in found:
                p.n = number[p.hit.item_id]
            self.evidence.select_evidence(found)
            for p in found:
                if p.hit.item_id in merged:
                    keep = merged[p.hit.item_id]
                    keep.evidence = sorted(set(keep.evidence) | set(p.evidence))
                else:
                    merged[p.hit.item_id] = p
        texts = []
        for part, found in zip(parts, per_part):
            if not found:
                continue
            if texts and on_token:
                on_token(" ")
            part_text = self.generate(part, found, fast, model, on_token, timings, t0).strip()
            declined = is_abstention(part_text) or misses_the_ask(part, part_text)
            texts.append(part_text if not declined
                         else f"On “{part.rstrip('?')}”, the minutes provided do not say.")
        passages = sorted(merged.values(), key=lambda p: p.n)
        if all(is_abstention(t) for t in texts):
            return ABSTAIN_TEXT, passages
        return " ".join(texts), passages

    def part_hits(self, part: str, hits: list[Hit]) -> list[Hit]:
        """A time a part names is its own ("who presented them in March 2025?"): the part
        sees only that time's items, when there are any."""
        when = time_scope(part, self.corpus.store.meeting_dates()).filters
        own = [h for h in hits if when.admits_date(h.meeting_date)] if when.active() else hits
        return own or hits

    def cover_parts(self, question: str, parts: list[str], hits: list[Hit], k: int,
                    filters: Filters) -> list[Hit]:
        """Make sure each part of a question has its own best item among the hits; each part
        is searched with the whole question as context, under its own time if it names one."""
        dates = self.corpus.store.meeting_dates()
        must: list[Hit] = []
        for part in parts:
            scope = time_scope(part, dates)
            found = self.retriever.search(f"{part} {question}", k=1,
                                          filters=merge_filters(filters, scope.filters))
            if found and all(h.item_id != found[0].item_id for h in must):
                must.append(found[0])
        rest = [h for h in hits if all(h.item_id != m.item_id for m in must)]
        return (must + rest)[:max(k, len(must))]

    def timeline_lines(self, passages: list[Passage], anchors: list[str]) -> str:
        """One line per meeting, oldest first: its date and item, then what was said and
        decided about the matter, cited."""
        lines = []
        for p in passages:
            where = p.hit.citation().split(":", 1)[0]
            lines.append(f"- {where}: {' '.join(self.step_sentences(p, anchors))} [{p.n}]")
        return "\n".join(lines)

    def step_sentences(self, p: Passage, anchors: list[str]) -> list[str]:
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
        if "load_model" not in timings:
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
        # Two-part questions generate twice; their times add up.
        timings["generate"] = timings.get("generate", 0.0) + (time.perf_counter() - start) * 1000
        return "".join(parts)
