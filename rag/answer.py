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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embed import get_embedder
from .ingest import Corpus, ensure_corpus
from .llm import get_llm
from .models import resolve_llm_path
from .records import Answer, Citation, Hit, format_date
from .retrieve import Retriever, merge_filters, time_scope
from .settings import Settings
from .store import STOPWORDS, Filters, fts_terms

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
INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier) (?:instructions|prompts?)|disregard (?:the |all )?"
    r"(?:previous|above|prior)|you are now|system prompt|new instructions?:|^\s*(?:assistant|system)\s*:",
    re.I | re.M,
)
# Sentences that carry no information about the matter itself.
BOILERPLATE = re.compile(r"\bis filed with these minutes\b|\bare filed with these minutes\b|^A copy of the", re.I)
DECISION_QUESTION = re.compile(r"\b(decid|decision|resolv|agree|approv|conclu|outcome|recommend)", re.I)
# What kind of answer a question wants, and what a sentence holding one looks like.
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
ANSWER_TYPES = [
    (re.compile(r"^\s*who\b|\bwho (?:presented|chaired|led|gave|is|was)\b|\bwhich (?:officer|person|councillor|member)", re.I),
     re.compile(r"\b(?:by|from|of|Cllr\.?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z'-]+)+|[A-Z][a-z]+ [A-Z][a-z'-]+,")),
    (re.compile(r"\bhow much\b|\bcost|\bfund|\bbudget|\bspen[dt]|\bmoney\b|\bgrant|\ballocat", re.I),
     re.compile(r"£\s?\d")),
    (re.compile(r"\bhow many\b|\bnumber of\b|\bpercentage\b|\bproportion\b|\brate\b", re.I),
     re.compile(r"\d")),
    (re.compile(r"^\s*when\b|\bwhat date\b|\bwhich date\b|\bby when\b", re.I),
     re.compile(rf"\b(?:{_MONTHS})\b|\b(?:19|20)\d{{2}}\b")),
]
# Words that start sentences or name the body itself; not evidence of a fact.
COMMON_CAPITALS = set(
    "The A An It Its Yes No This That These Those They Their He She His Her There Here In On At By For "
    "Of And But As To If When Where What Who Which Why How Also However Board Council Committee Minutes "
    "Passage Passages Members Member Chairman Chair".split()
)
NAME_OR_NUMBER = re.compile(r"£?\d[\d,]*(?:\.\d+)?%?|\b[A-Z][A-Za-z'’&-]*[A-Za-z]\b")


def unsupported(claim: str, source: str) -> list[str]:
    """Names and figures in a claim that the cited text does not contain.

    A small model sometimes pins a figure from one item on a subject named in the
    question ("the OPCC gave £100,000 to Warning Zone"); every name and number it
    states must be found in the passage it cites.
    """
    text = MARKER.sub("", claim)
    haystack = " ".join(source.split()).lower().replace("’", "'")
    initials = {"".join(w[0] for w in seq.split()).lower()
                for seq in re.findall(r"(?:[A-Z][a-z]+\s+(?:(?:of|and|the|for)\s+)?){2,}", source)}
    missing = []
    for token in NAME_OR_NUMBER.findall(text):
        bare = token.strip("£%").rstrip(",.").replace("’", "'")
        if not bare or token in COMMON_CAPITALS or len(bare) < 2:
            continue
        needle = bare.lower()
        if needle in haystack or needle.rstrip("s") in haystack:
            continue
        if bare.isupper() and needle in {i.replace("of", "").replace("and", "") for i in initials} | initials:
            continue
        missing.append(token)
    return missing


# Claims are the answer's sentences; a marker after a full stop stays with its sentence.
CLAIM_SPLIT = re.compile(r"(?<=[.!?\]])\s+(?!\[)|\n+")
MARKER = re.compile(r"\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")
SENTENCE_SPLIT = re.compile(
    r"(?<=[.!?;:])\s+(?=[A-Z(\"'‘“£0-9-])|\n+|\s+(?=\((?:[ivx]{1,4}|[a-h])\)\s)|\s+(?=[a-h]\)\s)"
)


class QuestionError(ValueError):
    """A question that cannot be asked as it stands; the message is shown as is."""


def unwrap(text: str) -> str:
    """Join hard-wrapped lines; keep breaks after sentence ends and before list bullets."""
    text = re.sub(r"(?<![.:;!?|])[ \t]*\n(?![ \t]*(?:\n|[-*•]|\(?[a-zivx0-9]{1,4}[.)]\s))[ \t]*", " ", text)
    return text


ABBREVIATION = re.compile(r"\b(no|nos|cllr|mr|mrs|ms|dr|supt|insp|ch|st|para|paras|cc|ltd|approx|ref)\.\s", re.I)


def split_sentences(text: str) -> list[str]:
    """Sentences and resolution clauses; a clause keeps its 'RESOLVED:' so it reads as a decision."""
    out = []
    decision = None
    # A word joiner (not whitespace to the regex) keeps "no. 5" from ending a sentence.
    text = re.sub(r"</?u>|\*\*|^#{1,6}\s*", "", text, flags=re.M)
    text = ABBREVIATION.sub(lambda m: m.group(0)[:-1] + "\u2060", unwrap(text))
    for piece in SENTENCE_SPLIT.split(text):
        piece = piece.replace("\u2060", " ")
        piece = " ".join(piece.split()).strip(" |-")
        head = re.match(r"^(RESOLVED|AGREED|NOTED)\b\s*:?\s*", piece)
        if head:
            decision = head.group(1)
            piece = piece[head.end():] and piece
        elif decision and re.match(r"^(?:\(?[a-h]\)|That\b|The\b)", piece):
            piece = f"{decision}: {piece}"
        else:
            decision = None if len(piece) > 40 and not piece.startswith(("(", "-")) else decision
        if len(piece) >= 12 and re.search(r"[A-Za-z]{3}", piece):
            out.append(piece)
    return out


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


def informative(sentence: str, title: str) -> bool:
    """Worth quoting: not the bare title, not a lead-in ending in a colon."""
    plain = sentence.strip(" .").lower()
    return plain != title.strip(" .").lower() and not sentence.rstrip().endswith(":") and len(plain.split()) >= 5


@dataclass
class Passage:
    n: int
    hit: Hit
    sentences: list[str]
    vectors: np.ndarray
    scores: np.ndarray
    evidence: list[int] = field(default_factory=list)   # indexes into sentences

    @property
    def best(self) -> float:
        return float(self.scores.max()) if len(self.scores) else 0.0

    def label(self) -> str:
        return self.hit.citation()

    def evidence_text(self) -> str:
        return " ".join(self.sentences[i] for i in self.evidence)

    def best_sentence(self, weights: np.ndarray | None = None) -> str:
        """The highest-scoring informative sentence (falls back to any sentence)."""
        scores = self.scores if weights is None else weights
        for i in np.argsort(-scores):
            if informative(self.sentences[i], self.hit.title):
                return self.sentences[i]
        return self.sentences[int(np.argmax(scores))]

    def mentions(self, terms: list[str]) -> bool:
        text = (self.hit.item_text + " " + self.hit.title).lower()
        return any(t in text for t in terms)


class CitationFilter:
    """Streams text while holding back a '[...]' until it is known to point at a passage."""

    def __init__(self, valid: set[int]):
        self.valid = valid
        self.buffer = ""

    def feed(self, text: str) -> str:
        self.buffer += text
        out = ""
        while self.buffer:
            start = self.buffer.find("[")
            if start == -1:
                out, self.buffer = out + self.buffer, ""
                break
            out += self.buffer[:start]
            self.buffer = self.buffer[start:]
            end = self.buffer.find("]")
            if end == -1:
                if len(self.buffer) > 12:      # not a marker after all
                    out, self.buffer = out + self.buffer[0], self.buffer[1:]
                    continue
                break
            out += self._clean(self.buffer[: end + 1])
            self.buffer = self.buffer[end + 1:]
        return out

    def flush(self) -> str:
        rest, self.buffer = self.buffer, ""
        return rest

    def _clean(self, marker: str) -> str:
        m = MARKER.fullmatch(marker)
        if not m:
            return marker
        nums = [int(x) for x in re.split(r"[,;]", m.group(1)) if int(x) in self.valid]
        return "".join(f"[{n}]" for n in dict.fromkeys(nums))


class Answerer:
    """Question in, Answer out; the corpus, embedder and LLM are loaded once and reused."""

    def __init__(self, settings: Settings, corpus: Corpus | None = None, progress: bool = True, echo=print):
        self.settings = settings
        self.corpus = corpus or ensure_corpus(settings, progress=progress, echo=echo)
        self.retriever = Retriever(self.corpus, settings)
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

    def passages(self, question: str, hits: list[Hit]) -> list[Passage]:
        """Score every sentence of the retrieved items against the question."""
        embedder = get_embedder()
        sentence_lists = []
        for hit in hits:
            sents = [s for s in split_sentences(hit.item_text or hit.text)
                     if not INJECTION.search(s) and not BOILERPLATE.search(s)]
            sentence_lists.append(sents or [hit.title])
        flat = [s for sents in sentence_lists for s in sents]
        qv = embedder.encode([question])[0]
        sv = self.sentence_vectors(flat)
        terms = [t.strip('"').lower() for t in fts_terms(question)]
        out, offset = [], 0
        for n, (hit, sents) in enumerate(zip(hits, sentence_lists), 1):
            vecs = sv[offset: offset + len(sents)]
            offset += len(sents)
            scores = vecs @ qv
            # A sentence holding the question's words (names, acronyms, sums) is evidence
            # even when the embedding misses it. Words of the item's title do not count:
            # every sentence of the item is about its title.
            fresh = [t for t in terms if t not in hit.title.lower()]
            if fresh:
                overlap = np.array([sum(t in s.lower() for t in fresh) / len(terms) for s in sents])
                scores = scores + 0.25 * overlap
            for wants, looks in ANSWER_TYPES:
                if wants.search(question):
                    scores = scores + 0.15 * np.array([bool(looks.search(s)) for s in sents])
            if DECISION_QUESTION.search(question):
                scores = scores + 0.15 * np.array([s.startswith(("RESOLVED", "AGREED", "NOTED")) for s in sents])
            out.append(Passage(n=n, hit=hit, sentences=sents, vectors=vecs, scores=scores))
        return out

    def sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        """Sentence embeddings, cached in SQLite by content hash: items recur across questions."""
        from .embed import EMBEDDING_MODEL_NAME
        from .store import content_hash

        if not sentences:
            return np.zeros((0, get_embedder().dimension), np.float32)
        store = self.corpus.store
        hashes = [content_hash(s) for s in sentences]
        with self.corpus.lock:
            cached = store.cached_vectors(hashes, EMBEDDING_MODEL_NAME, table="sentence_vectors")
            missing = {h: s for h, s in zip(hashes, sentences) if h not in cached}
            if missing:
                fresh = dict(zip(missing, get_embedder().encode(list(missing.values()))))
                store.save_vectors(fresh, EMBEDDING_MODEL_NAME, table="sentence_vectors")
                cached.update(fresh)
        return np.stack([cached[h] for h in hashes])

    def select_evidence(self, passages: list[Passage]) -> None:
        """Give each passage its best sentences (in reading order) within the character budget.

        The budget is shared in proportion to how strongly each passage matches (squared
        margin over the relevance floor), so a clearly best item is shown in depth and
        marginal ones by a sentence or two. Every passage keeps its best informative
        sentence, however long, so its key fact is never trimmed away.
        """
        floor = self.settings.relevance_floor
        weights = np.array([max(p.best - floor, 0.01) ** 2 for p in passages])
        shares = weights / weights.sum() * self.settings.evidence_chars
        for p, share in zip(passages, shares):
            chosen, used = [], 0
            for i in np.argsort(-p.scores)[: self.settings.evidence_sentences]:
                if not informative(p.sentences[i], p.hit.title):
                    continue
                length = len(p.sentences[i]) + 1
                if chosen and used + length > share:
                    continue
                chosen.append(int(i))
                used += length
            p.evidence = sorted(chosen) or [int(np.argmax(p.scores))]

    def relevant(self, passages: list[Passage]) -> list[Passage]:
        """Passages above the floor and not far behind the best one: a small model is
        distracted by marginal passages, and each one costs prompt time."""
        floor = self.settings.relevance_floor
        top = max((p.best for p in passages), default=0.0)
        return [p for p in passages if p.best >= max(floor, top - self.settings.relevance_margin)]

    def build_messages(self, question: str, passages: list[Passage]) -> list[dict]:
        blocks = []
        for p in passages:
            blocks.append(f"[{p.n}] {p.label()}\n{p.evidence_text()}")
        user = self.prompt("user").format(passages="\n\n".join(blocks), question=question)
        return [{"role": "system", "content": self.prompt("answer")},
                {"role": "user", "content": user}]

    @staticmethod
    def sentence_support(claim: str, claim_vector: np.ndarray, passage: Passage) -> np.ndarray:
        """How well each sentence of a passage backs a claim: meaning plus shared words and numbers."""
        words = {w for w in re.findall(r"[a-z0-9£][a-z0-9£,'-]*", MARKER.sub("", claim).lower())
                 if (len(w) > 3 or any(ch.isdigit() for ch in w)) and w not in STOPWORDS}
        overlap = np.array([sum(w in s.lower() for w in words) / len(words) if words else 0.0
                            for s in passage.sentences])
        return passage.vectors @ claim_vector + 0.5 * overlap

    def support(self, claim: str, claim_vector: np.ndarray, passage: Passage) -> float:
        """Support from the sentences the model was shown of this passage."""
        scores = self.sentence_support(claim, claim_vector, passage)
        shown = passage.evidence or list(range(len(passage.sentences)))
        return float(scores[shown].max())

    def repoint(self, claim: str, vector: np.ndarray, passages: list[Passage]) -> str:
        """Move a claim's [n] to the passage that supports it when the model named the wrong one."""
        cited = [int(x) for m in MARKER.finditer(claim) for x in re.split(r"[,;]", m.group(1))]
        if not cited or len(passages) < 2:
            return claim
        by_n = {p.n: p for p in passages}
        scores = {p.n: self.support(claim, vector, p) for p in passages}
        best = max(scores, key=scores.get)
        if best in cited or scores[best] < max(scores[n] for n in cited if n in by_n) + 0.1:
            return claim
        worst = min((n for n in cited if n in by_n), key=lambda n: scores[n])
        return re.sub(rf"\[{worst}\]", f"[{best}]", claim, count=1)

    @staticmethod
    def grounded(claim: str, by_n: dict[int, Passage]) -> bool:
        """A claim is grounded when its cited passages (or, uncited, any passage) hold its names and figures."""
        cited = [int(x) for m in MARKER.finditer(claim) for x in re.split(r"[,;]", m.group(1))]
        sources = [by_n[n] for n in cited if n in by_n] or list(by_n.values())
        source = " ".join(f"{p.label()} {p.hit.item_text}" for p in sources)
        return not unsupported(claim, source)

    @staticmethod
    def rejoin(text: str, claims: list[str]) -> str:
        """Put re-pointed claims back in place, keeping the original line breaks."""
        out, pos = [], 0
        originals = [s for s in re.split(CLAIM_SPLIT, text) if s.strip()]
        for original, claim in zip(originals, claims):
            start = text.find(original, pos)
            if start < 0:
                return " ".join(claims)
            out.append(text[pos:start])
            out.append(claim)
            pos = start + len(original)
        out.append(text[pos:])
        return "".join(out)

    def quote_for(self, passage: Passage, claims: list[str], claim_vectors: np.ndarray) -> str:
        """The item's sentence that best supports the sentences citing it."""
        if not claims:
            return passage.best_sentence()
        support = np.max([self.sentence_support(c, v, passage) for c, v in zip(claims, claim_vectors)], axis=0)
        return passage.best_sentence(support + 0.2 * passage.scores)

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
        claims = [self.repoint(c, v, passages) for c, v in zip(claims, claim_vecs)]
        grounded = [self.grounded(c, by_n) for c in claims]
        if not any(grounded):
            return Answer(question, ABSTAIN_TEXT, True, closest=closest, timings_ms=timings, mode=mode)
        if not all(grounded):
            # Drop sentences stating names or figures their passage does not contain.
            claim_vecs = claim_vecs[[i for i, ok in enumerate(grounded) if ok]]
            claims = [c for c, ok in zip(claims, grounded) if ok]
            text = " ".join(claims)
        else:
            text = self.rejoin(text, claims)
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
                                      quote=self.quote_for(p, [claims[i] for i in cited[n]],
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
        scope = time_scope(question, self.corpus.store.meeting_dates())
        chosen = merge_filters(filters or Filters(), scope.filters)
        hits = self.retriever.search(question, k=k, filters=chosen)
        dates = self.corpus.store.meeting_dates()
        if not hits and scope.year and dates and scope.year > dates[-1][:4] and not (filters and filters.active()):
            # A year after the last meeting can only be a date the minutes look ahead to
            # ("the meeting in March 2026"): widen, keeping only items that mention it.
            wider = self.retriever.search(question, k=k, filters=filters)
            hits = [h for h in wider if scope.year in h.item_text]
        timings["retrieve"] = (time.perf_counter() - t0) * 1000
        passages = self.passages(question, hits) if hits else []
        relevant = self.relevant(passages)
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
        self.select_evidence(relevant)
        if no_llm:
            steps = self.timeline_steps(question, relevant) if timeline else []
            text = self.timeline_lines(steps) if len(steps) > 1 else self.extractive(relevant)
            if on_token:
                on_token(text)
        else:
            text = self.generate(question, relevant, fast, model, on_token, timings, t0)
            if timeline and not is_abstention(text) and len(self.timeline_steps(question, relevant)) > 1:
                # The dated steps come from the minutes themselves, oldest first, each cited;
                # a small model asked to write a timeline skips and merges meetings.
                steps = "\n\nTimeline:\n" + self.timeline_lines(self.timeline_steps(question, relevant))
                text = text.rstrip() + steps
                if on_token:
                    on_token(steps)
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

    def stream_lines(self, question: str, **kw) -> Iterator[str]:  # pragma: no cover - convenience
        yield self.ask(question, **kw).answer
