"""The shared steps under every answer strategy: retrieve for a plan, pick evidence,
generate, and check the answer's citations.

Strategies (rag/strategies.py) call these; nothing here decides what kind of question it is.
The guarantee lives in ``finish``: every ``[n]`` left in an answer points at a passage that
was retrieved and shown to the model, each citation carries the sentence of the item that
best supports it, and an answer that declines shows the closest items instead of sources.
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
from .ingest import Corpus
from .llm import get_llm
from .models import resolve_llm_path
from .plan import Plan
from .records import MONTHS, Answer, Citation, Hit
from .retrieve import Retriever, merge_filters, undated
from .selfcheck import ensure_native_ok
from .settings import Settings
from .store import STOPWORDS, Filters

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
# The body's own acts: what it decided or discussed then is not told by later minutes.
BODY_ACTS = re.compile(r"\b(?:board|council|committee|commission|cabinet|panel|trustees|they)\s+"
                       r"(?:decide|agree|resolve|approve|vote|discuss|consider)\w*", re.I)
ASKS_WHEN = re.compile(r"^\s*when\b|^\s*(?:on |by )?(?:what|which) (?:dates?|days?)\b", re.I)

# A question asking for an amount or a date is not answered by a sentence holding none:
# "How many fixed penalty notices were issued?" is not answered by "a query about the low
# number of fixed penalty notices would be investigated". (Switchable: rule "amount_date".)
ASKS_AMOUNT = re.compile(
    r"\bhow many\b|\bhow much\b(?! (?:progress|support|work|effort|interest|attention|concern|of)\b)"
    r"|\bwhat (?:is|was|were|are) the (?:total |overall )?(?:number|amount|cost|value|sum|percentage)\b", re.I)
STATES_AMOUNT = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
    r"|hundred|thousand|million|billion|half|dozen|none|zero|single|no one|nobody|nothing)\b", re.I)
ASKS_DATE = re.compile(r"^\s*(?:on |by )?(?:what|which) (?:dates?|days?)\b", re.I)
STATES_DATE = re.compile(
    rf"\d|\b(?:{'|'.join(MONTHS)}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    r"|spring|summer|autumn|winter|next meeting)\b", re.I)
# A number, code or month the question itself names ("2014/15", "Q3", "£1,000", "March").
QUESTION_FIGURE = re.compile(rf"[£$]?\w*\d(?:[\w/%]|[.,:-](?=\w))*|\b(?:{'|'.join(MONTHS)})\b", re.I)

# A figure in an answer ("£1,757.09", "10").
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")
# Words that ask for an amount, not what it is of: an answer saying them back adds nothing.
AMOUNT_WORDS = set("much many cost costs spent spend paid pay amount total number figure value money price "
                   "sum sums".split())


def stems(text: str) -> set[str]:
    """The text's words of four letters or more as five-letter stems ("signatures" ->
    "signa"), so "spend" meets "spending" and "platform" meets "platforms"."""
    return {w[:5] for w in re.findall(r"[a-z][a-z'-]+", text.lower())
            if len(w) >= 4 and w not in STOPWORDS and w not in AMOUNT_WORDS}


def _months_after(iso: str | None, months: int) -> str:
    """'2017-12-31' + 6 months -> '2018-06-31', '2017-01-01' - 6 -> '2016-07-01' (bounds for
    ISO date comparison, taken a whole month wide)."""
    if not iso:
        return "9999" if months >= 0 else "0000"
    if months < 0:
        year, month = int(iso[:4]), int(iso[5:7]) if len(iso) >= 7 else 1
        month += months
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        return f"{year:04d}-{month:02d}-01"
    year, month = int(iso[:4]), int(iso[5:7]) if len(iso) >= 7 else 12
    month += months
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}-31"


def misses_the_ask(question: str, text: str) -> bool:
    """True when the question wants an amount or a date and the answer states none (the
    question's own numbers and months, said back, are not one: "the 2014/15 Q3 dashboard
    showed referrals" does not say how many)."""
    plain = MARKER.sub("", text)
    for said in set(QUESTION_FIGURE.findall(question)):
        plain = re.sub(rf"(?<!\w){re.escape(said)}(?!\w)", " ", plain, flags=re.I)
    return bool((ASKS_AMOUNT.search(question) and not STATES_AMOUNT.search(plain))
                or (ASKS_DATE.search(question) and not STATES_DATE.search(plain)))


def restates(question: str, text: str) -> bool:
    """True when an answer holds no word or figure that the question lacks: it says the
    question back. "Yes"/"No" first is an answer, however few its words."""
    plain = MARKER.sub("", text)
    if re.match(r"\s*(?:yes|no)\b", plain, re.I):
        return False
    if any(f.rstrip(",.") not in question for f in FIGURE.findall(plain)):
        return False
    return not stems(plain) - stems(question)


def is_abstention(text: str) -> bool:
    """True when the answer declines rather than answers (short answers only: a long
    answer that says 'no details were given' about one point still answers)."""
    stripped = MARKER.sub("", text).strip()
    return not stripped or (bool(DECLINE.search(stripped)) and len(stripped) < 160)


def closest_passage(passages: list[Passage]) -> Passage:
    """The passage whose best sentence matches the question best: what a decline quotes as
    "the closest item says", and the rescue's second candidate."""
    return max(passages, key=lambda p: p.best)


def attach(claim: str, n: int | None) -> str:
    """Cite passage n at the end of a sentence, before its full stop."""
    if n is None:
        return claim
    body = claim.rstrip()
    return f"{body[:-1].rstrip()} [{n}]." if body.endswith(".") else f"{body} [{n}]"


# Two answer sentences this close in meaning say the same thing (all-MiniLM cosine; a
# restatement with one more fact scores about 0.85).
SAME_CLAIM = 0.95


def repeats(i: int, similar: np.ndarray, claims: list[str], grounded: list[bool]) -> bool:
    """Whether another grounded claim says what claim i says (``similar``: the claims'
    cosine matrix): of two such, the longer stays (a restatement often adds the reason),
    and of two equal ones the first."""
    return any(grounded[j] and j != i and similar[i, j] >= SAME_CLAIM
               and (len(claims[j]), -j) > (len(claims[i]), -i) for j in range(len(claims)))


class Steps:
    """The corpus, retriever, evidence scorer and model of one Answerer, and the steps on them."""

    def __init__(self, settings: Settings, corpus: Corpus, progress: bool = True, echo=print):
        self.settings = settings
        self.corpus = corpus
        self.retriever = Retriever(corpus, settings)
        self.evidence = Evidence(corpus, settings)
        self.progress = progress
        self.echo = echo
        self._prompts: dict[str, str] = {}
        self.memo = None    # the RememberedLLM, when settings.generation_memo is set
        self.on_prompt: Callable[[list[dict]], None] | None = None   # sees each prompt sent (rag bench)
        self.answered_by: tuple = (False, None)   # (fast, model) of the question being answered

    def rule(self, name: str) -> bool:
        """Whether a switchable answer rule is on (RAG_RULES_OFF lists those switched off)."""
        return name not in {r.strip() for r in self.settings.rules_off.split(",")}

    # --- prompts and model ---------------------------------------------------------------
    def prompt(self, name: str) -> str:
        if name not in self._prompts:
            self._prompts[name] = (Path(self.settings.prompts_dir) / f"{name}.txt").read_text().strip()
        return self._prompts[name]

    def llm(self, fast: bool = False, model: str | Path | None = None):
        llm = self._model(fast, model)
        if self.settings.generation_memo is None:
            return llm
        from .llm import RememberedLLM

        if self.memo is None or self.memo.inner.name != llm.name:
            self.memo = RememberedLLM(llm, self.settings.generation_memo)
        return self.memo

    def _model(self, fast: bool, model: str | Path | None):
        if self.settings.llm_url and not model:
            from .llm import RemoteLLM

            return RemoteLLM(self.settings.llm_url, self.settings.llm_model, self.settings.llm_timeout)
        path = resolve_llm_path(self.settings, fast=fast, explicit=model, progress=self.progress)
        # A build that the CPU refuses would kill this process; prove it in a child first.
        ensure_native_ok(path, self.settings.model_cache_dir, echo=self.echo if self.progress else None)
        return get_llm(str(path), self.settings.n_ctx, self.settings.threads, self.settings.flash_attn,
                       self.settings.draft_tokens)

    def preload(self, fast: bool = False, model: str | Path | None = None) -> None:
        """Load the model in the background while retrieval runs: a cold ask then waits for
        the slower of the two, not their sum. Errors surface when the model is asked for."""
        if self.settings.llm_url and not model:
            return
        import threading

        def load():
            try:
                self._model(fast, model)
            except Exception:        # reported by the call that needs the model
                pass

        threading.Thread(target=load, name="preload-llm", daemon=True).start()

    # --- retrieve ------------------------------------------------------------------------
    def retrieve(self, plan: Plan, question: str | None = None) -> list[Hit]:
        """The plan's items: searched under its time scope and the user's filters; a time
        with no minutes widens only where the minutes can speak about it."""
        question = question or plan.question
        scope = plan.scope
        chosen = merge_filters(plan.filters, scope.filters)
        hits = self.retriever.search(question, k=plan.k, filters=chosen)
        if not scope.year or plan.filters.active():
            return hits
        about_meeting = ABOUT_A_MEETING.search(question) or BODY_ACTS.search(question)
        if hits and scope.filters.date_to and not about_meeting and self.rule("reported_later"):
            # "How many more vehicle crimes were there in 2014?": a year's events are
            # reported in the months after it (the 2014/15 quarter 3 report, March 2015).
            # The best item from those months that names the year joins the year's own.
            end = _months_after(scope.filters.date_to, 6)
            seen = {h.item_id for h in hits}
            later = [h for h in self.retriever.search(question, k=plan.k, filters=plan.filters)
                     if h.item_id not in seen and h.meeting_date
                     and scope.filters.date_to < h.meeting_date <= end and scope.year in h.item_text]
            hits = hits + later[:1]
        if not hits:
            # No minutes from that time. A question about a meeting then ("the June 2025
            # meeting") stays unanswered: other meetings cannot say what happened at it,
            # though they can say when it was to be held. Any other time ("the tax received
            # in 2017", "the election in November 2024") is a time the minutes talk about:
            # widen, keeping items that name it or that come from the months around it
            # (a meeting reports what happened since the last one, and plans what is next).
            # So does what the body itself did then ("what did the Board decide in 2023?").
            # A year after the last minutes ("the board's 2026 meetings") is only planned in
            # them: that is what the minutes can say about it.
            dates = self.corpus.store.meeting_dates()
            future = bool(dates) and scope.year > dates[-1][:4]
            if about_meeting and not ASKS_WHEN.search(question) and not future:
                return hits
            wider = self.retriever.search(question, k=plan.k, filters=plan.filters)
            label = (scope.label if scope.label and scope.label.split()[0] in MONTHS else scope.year).lower()
            start, end = _months_after(scope.filters.date_from, -6), _months_after(scope.filters.date_to, 6)
            hits = [h for h in wider if label in h.item_text.lower()
                    or (not about_meeting and h.meeting_date and start <= h.meeting_date <= end)]
        return hits

    def search(self, query: str, k: int, filters: Filters, keyword_weight: float | None = None) -> list[Hit]:
        return self.retriever.search(query, k=k, filters=filters, keyword_weight=keyword_weight)

    # --- evidence ------------------------------------------------------------------------
    def relevant(self, question: str, hits: list[Hit]) -> list[Passage]:
        """Passages of the hits that clear the relevance floor, best first. Sentences are
        scored against the question with the other names of what it names (rag/aliases.py)."""
        if not hits:
            return []
        passages = self.evidence.passages(question, hits)
        others = self.corpus.aliases().expand(question)
        if not others:
            return self.named(question, self.evidence.relevant(passages))
        # An item is relevant when it is under the question's own words or under the other
        # names of what it asks about (each judged against its own best); its sentences are
        # still chosen by their own scores.
        wide = self.evidence.passages(f"{question} ({'; '.join(others)})", hits)
        keep = {p.hit.item_id for p in self.evidence.relevant(passages)}
        keep |= {w.hit.item_id for w in self.evidence.relevant(wide)}
        for p, w in zip(passages, wide):
            p.alias_best = w.best
        return self.named(question, [p for p in passages if p.hit.item_id in keep])

    def of_another_body(self, question: str, in_time: list[Hit], any_time: list[Hit]) -> bool:
        """True when the items of the time a part of a question names all come from documents
        that use at least two fewer of its other names (body, place, people) than the best
        document of any time: "how many does Crete Township expect in 2025?" names a year
        that Crete's 2024 minutes look forward to, and the 2025 minutes found are another
        body's. (Applied to whole questions too, it let the model answer two unanswerable
        questions from the named body's minutes of other years, one on dev, one on frozen.)"""
        if not in_time or not self.rule("named_time"):
            return False
        names = undated(question)
        uses = {doc: self.corpus.names_used(doc, names) for doc in {h.doc for h in in_time + any_time}}
        return max(uses[h.doc] for h in in_time) < max(uses.values()) - 1   # as named()

    def named(self, question: str, passages: list[Passage]) -> list[Passage]:
        """The passages, less those of documents that use far fewer of the question's names.

        In minutes of many bodies, "Wye Valley Community Council's insurance" also matches
        another council's insurance item, and the model answered from it. A document that
        uses at least two fewer of the question's names (body, place, people, figures, or
        their other names: Corpus.names_used) than the one using most of them is left out;
        one fewer is often only a year. On the 249 dev questions (and parts) this left out a
        passage for 18 and never one of a gold item's document."""
        if len(passages) < 2 or not self.rule("names"):
            return passages
        uses = {doc: self.corpus.names_used(doc, question) for doc in {p.hit.doc for p in passages}}
        most = max(uses.values())
        return [p for p in passages if uses[p.hit.doc] >= most - 1]

    def number(self, passages: list[Passage]) -> None:
        for new_n, p in enumerate(passages, 1):
            p.n = new_n

    # --- generate ------------------------------------------------------------------------
    def build_messages(self, question: str, passages: list[Passage]) -> list[dict]:
        blocks = [f"[{p.n}] {p.label()}\n{p.evidence_text()}" for p in passages]
        user = self.prompt("user").format(passages="\n\n".join(blocks), question=question)
        return [{"role": "system", "content": self.prompt("answer")},
                {"role": "user", "content": user}]

    def generate(self, question: str, passages: list[Passage], fast, model,
                 on_token: Callable[[str], None] | None, timings: dict, t0: float) -> str:
        llm = self.llm(fast=fast, model=model)
        if "load_model" not in timings:
            timings["load_model"] = (time.perf_counter() - t0) * 1000 - timings.get("retrieve", 0) \
                - timings.get("evidence", 0)
        messages = self.build_messages(question, passages)
        if self.on_prompt:
            self.on_prompt(messages)
        timings["prompt_tokens"] = timings.get("prompt_tokens", 0) + llm.count_prompt(messages)
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

    def extractive(self, passages: list[Passage]) -> str:
        """No generation: the best supporting sentences, each cited."""
        # Sentences of higher-ranked items are preferred a little on near-ties.
        ranked = sorted(((float(p.scores[i]) - 0.05 * r, p.n, p.sentences[i])
                         for r, p in enumerate(passages) for i in p.evidence
                         if informative(p.sentences[i], p.hit.title)), reverse=True)[:2]
        if not ranked:
            ranked = [(0.0, passages[0].n, passages[0].best_sentence())]
        return " ".join(f"{s} [{n}]" for _, n, s in ranked)

    def misses_the_ask(self, question: str, text: str) -> bool:
        """misses_the_ask(), unless rule "amount_date" is switched off."""
        return self.rule("amount_date") and misses_the_ask(question, text)

    def answers(self, question: str, text: str) -> float:
        """How sure the model that answered is that ``text`` gives what the question asks
        for (0-1): a yes/no check on the question and the text alone, about 100 prompt tokens."""
        messages = [{"role": "system", "content": self.prompt("check_system")},
                    {"role": "user", "content": self.prompt("check").format(question=question, text=text)}]
        return self.llm(*self.answered_by).yes_probability(messages)

    def rescue(self, question: str, passages: list[Passage]) -> str | None:
        """When the model declines, the minutes' best sentences, if the check says they
        answer the question (the model often declines with the answer in its passages).
        Two candidates, in turn: the best two sentences (extractive()), then the closest
        item's best sentence alone, which a decline would show as "the closest item says";
        a second sentence beside the answer can make the check doubt it."""
        if not passages or not self.rule("quote_rescue"):
            return None
        closest = closest_passage(passages)
        candidates = dict.fromkeys([self.extractive(passages), f"{closest.best_sentence()} [{closest.n}]"])
        for quoted in candidates:
            if not self.misses_the_ask(question, quoted) and self.answers(question, quoted) >= self.settings.answers_floor:
                return quoted
        return None

    # --- check citations -----------------------------------------------------------------
    def decline(self, question: str, passages: list[Passage], closest: list[Hit], timings: dict,
                mode: str) -> Answer:
        """No answer from the model. When retrieval found a clear match, say what the closest
        item does say, quoted and cited, rather than only that the minutes do not say."""
        if passages and self.rule("closest_says") and max(p.best for p in passages) >= self.settings.confident_floor:
            # Still a decline (no sources are claimed), but the reader sees what the best
            # match says and finds that item first among the closest.
            best = closest_passage(passages)
            text = (f"The minutes do not answer this directly. The closest item ({best.hit.citation()}) "
                    f"says: “{best.best_sentence()}”")
            first = [best.hit] + [h for h in closest if h.item_id != best.hit.item_id]
            return Answer(question, text, True, closest=first[:3], timings_ms=timings, mode=mode)
        return Answer(question, ABSTAIN_TEXT, True, closest=closest, timings_ms=timings, mode=mode)

    def decline_or_quote(self, question: str, passages: list[Passage], closest: list[Hit], timings: dict,
                         mode: str, quoting: bool) -> Answer:
        """A decline, unless the minutes' best sentences pass the answer check (rescue());
        those are then the answer, through the same citation checks, quoted once only."""
        if quoting or mode == "extractive":
            return self.decline(question, passages, closest, timings, mode)
        start = time.perf_counter()
        quoted = self.rescue(question, passages)
        spent = (time.perf_counter() - start) * 1000
        timings["check"] = timings.get("check", 0.0) + spent
        if "total" in timings:
            timings["total"] += spent
        if quoted:
            return self.finish(question, quoted, passages, closest, timings, mode, quoting=True)
        return self.decline(question, passages, closest, timings, mode)

    def finish(self, question: str, text: str, passages: list[Passage], closest: list[Hit],
               timings: dict, mode: str, partial: bool = False, verbatim: bool = False,
               quoting: bool = False) -> Answer:
        """Turn raw model text into an Answer whose every citation is real and quoted.
        partial: a two-part answer that says which part the minutes do not answer.
        quoting: the text is already the minutes' best sentences standing in for the model's
        answer; if they fail the checks too, the answer declines.
        verbatim: the text is the minutes' own sentences, already cited where they stand."""
        by_n = {p.n: p for p in passages}
        text = CitationFilter(set(by_n)).feed(text) if passages else MARKER.sub("", text)
        # A dropped marker leaves its space: "open until 17 October [8]." reads "17 October .".
        text = re.sub(r"[ \t]+(?=[.,;:!?](?:\s|$))", "", text)
        text = re.sub(r"[ \t]+\n", "\n", text).strip()
        if not passages or (is_abstention(text) and not partial):
            if text and not is_abstention(text):
                return Answer(question, text, True, closest=closest, timings_ms=timings, mode=mode)
            return self.decline_or_quote(question, passages, closest, timings, mode, quoting)
        embedder = get_embedder()
        for p in passages:
            p.context = self.corpus.question_names_in(p.hit.doc, question)
        claims = [s for s in re.split(CLAIM_SPLIT, text) if s.strip()]
        claim_vecs = embedder.encode([MARKER.sub("", c) for c in claims])
        if not verbatim:
            claims = [cite.repoint(c, v, passages) for c, v in zip(claims, claim_vecs)]
            if any(MARKER.search(c) for c in claims):
                # A sentence the model left uncited (it often cites only one of two) cites
                # the passage that holds its names and supports it best.
                claims = [c if MARKER.search(c) or is_abstention(c) else attach(c, cite.best_holder(c, v, passages))
                          for c, v in zip(claims, claim_vecs)]
        grounded = [verbatim or not self.rule("grounding") or cite.grounded(c, by_n) for c in claims]
        if not verbatim and self.rule("restates") and restates(question, text):
            # "What did the council agree to ask the Commission about the constituency?" -
            # "The council agreed to ask the Commission about the constituency [1]." says
            # nothing; the minutes' own sentences may answer instead (rescue()).
            grounded = [False] * len(claims)
        if not any(grounded):
            # The model tried to answer but named people or figures its passages lack (or
            # only said the question back): as when it declines, the minutes' best sentences
            # answer only if the yes/no check says they do (rescue()). (Quoting them unchecked
            # on a clear match, rule "quote_fallback" until session 18, gained nothing on the
            # frozen split and answered one more unanswerable dev question.)
            return self.decline_or_quote(question, passages, closest, timings, mode, quoting)
        # A part's answer often restates the part before it; say it once.
        unit = claim_vecs / np.maximum(np.linalg.norm(claim_vecs, axis=1, keepdims=True), 1e-9)
        similar = unit @ unit.T
        keep = [ok and not repeats(i, similar, claims, grounded) for i, ok in enumerate(grounded)]
        if not all(keep):
            # Drop sentences stating names or figures their passage does not contain.
            claim_vecs = claim_vecs[[i for i, ok in enumerate(keep) if ok]]
            claims = [c for c, ok in zip(claims, keep) if ok]
            text = " ".join(claims)
        else:
            text = cite.rejoin(text, claims)
        if not verbatim and not partial and self.misses_the_ask(question, text):
            # What survived the check no longer holds the amount or date asked for.
            return self.decline_or_quote(question, passages, closest, timings, mode, quoting)
        cited: dict[int, list[int]] = {}
        for ci, claim in enumerate(claims):
            for m in MARKER.finditer(claim):
                for x in re.split(r"[,;]", m.group(1)):
                    cited.setdefault(int(x), []).append(ci)
        if not cited:
            # The model cited nothing: attach the passage that best supports the answer.
            support = [float((p.vectors @ claim_vecs.T).max()) for p in passages]
            best = passages[int(np.argmax(support))]
            text = attach(text, best.n)
            cited = {best.n: list(range(len(claims)))}
        citations = []
        for n in sorted(cited, key=lambda x: text.find(f"[{x}]")):
            p = by_n[n]
            citations.append(Citation.of(n, p.hit, cite.quote_for(p, [claims[i] for i in cited[n]],
                                                                  claim_vecs[cited[n]], question), p.hit.item_id))
        return Answer(question, text, False, citations=citations, timings_ms=timings, mode=mode)
