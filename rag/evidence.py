"""Evidence: the sentences of the retrieved items that bear on a question.

Every sentence of each retrieved item is scored against the question (embedding
similarity, words of the question not already in the item's title, the kind of answer
the question wants, decisions for "what was decided" questions); the best ones, within
a character budget shared by relevance, are what the model is shown.

>>> finder = Evidence(corpus, settings)                                   # doctest: +SKIP
>>> passages = finder.relevant(finder.passages(question, retriever.search(question)))  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .embed import get_embedder
from .ingest import Corpus
from .models import EMBEDDING_MODEL_NAME
from .records import MONTHS, Hit
from .settings import Settings
from .store import content_hash, fts_terms

INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier) (?:instructions|prompts?)|disregard (?:the |all )?"
    r"(?:previous|above|prior)|you are now|system prompt|new instructions?:|^\s*(?:assistant|system)\s*:",
    re.I | re.M,
)
# How much a sentence holding all of the question's (rarity-weighted) words gains over
# embedding similarity alone; similarities of relevant sentences run about 0.3-0.7.
TERM_WEIGHT = 0.3
# Question words longer than this are matched by their first STEM_CHARS letters.
STEM_CHARS = 6
# Sentences that carry no information about the matter itself.
BOILERPLATE = re.compile(r"\bis filed with these minutes\b|\bare filed with these minutes\b|^A copy of the", re.I)
DECISION_QUESTION = re.compile(r"\b(decid|decision|resolv|agree|approv|conclu|outcome|recommend)", re.I)
# What kind of answer a question wants, and what a sentence holding one looks like.
_MONTHS = "|".join(MONTHS)
ANSWER_TYPES = [
    (re.compile(r"^\s*who\b|\bwho (?:presented|chaired|led|gave|is|was)\b|\bwhich (?:officer|person|councillor|member)", re.I),
     re.compile(r"\b(?:by|from|of|Cllr\.?|Mr\.?|Mrs\.?|Ms\.?|Dr\.?)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z'-]+)+|[A-Z][a-z]+ [A-Z][a-z'-]+,"
               r"|[A-Z][a-z]+ [A-Z][a-z'-]+ (?:was|is|had|has|would|will|said|explained|reported|presented|confirmed)\b")),
    (re.compile(r"\bhow much\b|\bcost|\bfund|\bbudget|\bspen[dt]|\bmoney\b|\bgrant|\ballocat", re.I),
     re.compile(r"£\s?\d")),
    (re.compile(r"\bhow many\b|\bnumber of\b|\bpercentage\b|\bproportion\b|\brate\b", re.I),
     re.compile(r"\d")),
    (re.compile(r"^\s*when\b|\bwhat date\b|\bwhich date\b|\bby when\b", re.I),
     re.compile(rf"\b(?:{_MONTHS})\b|\b(?:19|20)\d{{2}}\b")),
]
# A sentence opening like this carries on from the one before it (its cause, its subject).
CONTINUES = re.compile(
    r"(?:\((?:[ivx]{1,4}|[a-h])\)\s*)?(?:Therefore|Thus|Hence|Consequently|As a result|However|This|These|They"
    r"|He|She|Its|Their|His|Her|In addition|Also|Further(?:more)?|But|So)\b")
# A label ending in a colon is joined to what follows it when either is shorter than this
# many words (a value such as "Cllr Shewell." or "18 March 2022", or a label such as
# "VOTING IN FAVOUR:"); two full sentences either side of a colon stay apart.
LABEL_VALUE_WORDS = 8
DECISIONS = ("RESOLVED", "AGREED", "NOTED")
DECISION_HEAD = re.compile(rf"^({'|'.join(DECISIONS)})\b\s*:?\s*")
SENTENCE_SPLIT = re.compile(
    r"(?<=[.!?;:])\s+(?=[A-Z(\"'‘“£0-9-])|\n+|\s+(?=\((?:[ivx]{1,4}|[a-h])\)\s)|\s+(?=[a-h]\)\s)"
)



def unwrap(text: str) -> str:
    """Join hard-wrapped lines; keep breaks after sentence ends and before list bullets."""
    text = re.sub(r"(?<![.:;!?|])[ \t]*\n(?![ \t]*(?:\n|[-*•]|\(?[a-zivx0-9]{1,4}[.)]\s))[ \t]*", " ", text)
    return text


ABBREVIATION = re.compile(r"\b(no|nos|cllr|mr|mrs|ms|dr|supt|insp|ch|st|para|paras|cc|ltd|approx|ref)\.\s", re.I)
# A capital initial before a capitalised name ("Cllr. C. Wise", "Mrs. D. Taylor") is not a sentence end.
INITIAL = re.compile(r"(?<![A-Za-z])[A-Z]\.\s(?!(?:The|This|That|These|It|In|A|An|At|On|There)\b)(?=[A-Z][a-z])")


def split_sentences(text: str) -> list[str]:
    """Sentences and resolution clauses; a clause keeps its 'RESOLVED:' so it reads as a decision."""
    out = []
    decision = None
    # A word joiner (not whitespace to the regex) keeps "no. 5" from ending a sentence.
    # Markdown's emphasis, headings and quoted lines ("> final figures from the ...") are
    # layout, not words of the minutes.
    text = re.sub(r"</?u>|\*\*|^#{1,6}\s*|^(?:>[ \t]?)+", "", text, flags=re.M)
    text = ABBREVIATION.sub(lambda m: m.group(0)[:-1] + "\u2060", unwrap(text))
    text = INITIAL.sub(lambda m: m.group(0)[:-1] + "\u2060", text)
    for piece in SENTENCE_SPLIT.split(text):
        piece = piece.replace("\u2060", " ")
        piece = " ".join(piece.split()).strip(" |-")
        head = DECISION_HEAD.match(piece)
        if head:
            decision = head.group(1)
            piece = piece[head.end():] and piece
        elif decision and re.match(r"^(?:\(?[a-h]\)|That\b|The\b)", piece):
            piece = f"{decision}: {piece}"
        else:
            decision = None if len(piece) > 40 and not piece.startswith(("(", "-")) else decision
        if (out and out[-1].endswith(":") and piece and not piece.startswith(DECISIONS)
                and min(len(piece.split()), len(out[-1].split())) < LABEL_VALUE_WORDS):
            # "Election of Chairman for 2022/23: Cllr Shewell.", "MOTION BY: Allen Fisk": a
            # label and its value are one statement; apart, the label is a lead-in and the
            # value too short to quote, and the answer is in neither.
            out[-1] = f"{out[-1]} {piece}"
        elif len(piece) >= 12 and re.search(r"[A-Za-z]{3}", piece):
            out.append(piece)
    return out


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
    # Its best score against the question under the other names of what it asks about
    # (rag/aliases.py); sentences are still chosen by their own scores.
    alias_best: float = 0.0
    # What the question's words found in the item's title add to each of its sentences when
    # items are compared (an item is about its title), though not when its own sentences
    # are ranked against each other: "Todd Feinberg welcomed to SSA Commission" answers
    # "which new commissioner was welcomed?" by its title.
    title_bonus: float = 0.0
    # The question's names and figures that this passage's document uses (the body, the
    # place, the date): an answer may say them back (rag/cite.py, source_text).
    context: str = ""

    @property
    def best(self) -> float:
        return max(float(self.scores.max()) + self.title_bonus if len(self.scores) else 0.0, self.alias_best)

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
        text = re.sub(r"[-–]", " ", self.hit.item_text + " " + self.hit.title).lower()
        return any(t in text for t in terms)


class Evidence:
    """Scores, caches and selects evidence sentences for one corpus."""

    def __init__(self, corpus: Corpus, settings: Settings):
        self.corpus = corpus
        self.settings = settings

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
        weights = self.term_weights(question)
        out, offset = [], 0
        for n, (hit, sents) in enumerate(zip(hits, sentence_lists), 1):
            vecs = sv[offset: offset + len(sents)]
            offset += len(sents)
            scores = vecs @ qv
            # A sentence holding the question's words (names, acronyms, sums) is evidence
            # even when the embedding misses it. Words of the item's title do not count:
            # every sentence of the item is about its title.
            # Nor do the words that name the meeting (its body, place and date, from the first
            # line of its header): every item of the meeting is about them, and a question
            # about another body's minutes names them to say which minutes it means.
            context = self.meeting_name(hit.doc)
            weights_here = {t: w for t, w in weights.items() if t not in context}
            fresh = {t: w for t, w in weights_here.items() if t not in hit.title.lower()}
            title_bonus = TERM_WEIGHT * sum(w for t, w in weights_here.items() if t not in fresh)
            if fresh:
                overlap = np.array([sum(w for t, w in fresh.items() if t in s.lower()) for s in sents])
                scores = scores + TERM_WEIGHT * overlap
            for wants, looks in ANSWER_TYPES:
                if wants.search(question):
                    scores = scores + 0.15 * np.array([bool(looks.search(s)) for s in sents])
            if DECISION_QUESTION.search(question):
                scores = scores + 0.15 * np.array([s.startswith(DECISIONS) for s in sents])
            out.append(Passage(n=n, hit=hit, sentences=sents, vectors=vecs, scores=scores,
                               title_bonus=title_bonus))
        return out

    def meeting_name(self, doc: str) -> str:
        """The first line of each header of a document, lower case: "east palo alto planning
        commission regular meeting minutes january 27, 2020" (empty when it has no header)."""
        names = self.corpus.learnt("meeting_names")
        if doc not in names:
            firsts = []
            for text in self.corpus.headers(doc):
                sentences = split_sentences(text)
                firsts.append(sentences[0] if sentences else text[:200])
            names[doc] = " ".join(firsts).lower()
        return names[doc]

    def docs_named(self, question: str) -> set[str] | None:
        """The documents whose meeting the question names by the words that set it apart
        ("the Town of North Star's next meeting"), among minutes of several bodies; None when
        it names none (those words are in more than half of the meeting names, or none)."""
        docs = [name for _, _, name in self.corpus.store.documents()]
        if len(docs) < 2:
            return None
        from .cite import COMMON_CAPITALS, NAME_OR_NUMBER

        names = {doc: f"{self.meeting_name(doc)} {doc.lower()}" for doc in docs}
        counts = {}
        # Names and figures only ("North Star", "2021"): "board" or "meeting" says which kind
        # of minutes, not whose.
        for token in NAME_OR_NUMBER.findall(question):
            if token in COMMON_CAPITALS or len(token) < 2:
                continue
            word = token.lower().strip("£%")
            counts[word] = sum(word in name for name in names.values())
        telling = [t for t, n in counts.items() if 0 < n <= len(docs) / 2]
        if not telling:
            return None
        score = {doc: sum(t in name for t in telling) for doc, name in names.items()}
        best = max(score.values())
        return {doc for doc, n in score.items() if n == best}

    def term_weights(self, question: str) -> dict[str, float]:
        """The question's words as stems, weighted by rarity in the corpus (shares summing to 1).

        "co-ordinator" or "Ofsted" matching a sentence says far more than "board" does; a
        six-letter stem lets "inspectorate" find "inspections" and "disabled" "disability".
        A word the corpus never uses keeps the top weight, so it still dilutes the others.
        """
        store = self.corpus.store
        total = store.chunks_matching() or 1
        weights: dict[str, float] = {}
        for term in fts_terms(question):
            word = term.strip('"').lower()
            stem = word[:STEM_CHARS] if len(word) > STEM_CHARS else word
            if stem in weights:
                continue
            query = f'"{stem}"*' if stem != word else f'"{word}"'
            df = store.chunks_matching(query)
            if df is None:  # an FTS syntax corner case: treat the word as common
                df = total
            weights[stem] = float(np.log((total + 1) / (df + 0.5)))
        norm = sum(weights.values())
        return {t: w / norm for t, w in weights.items()} if norm > 0 else {}

    def sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        """Sentence embeddings, cached in SQLite by content hash: items recur across questions."""
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
        whole = "whole_items" not in {r.strip() for r in self.settings.rules_off.split(",")}
        for p, share in zip(passages, shares):
            if whole and sum(len(x) + 1 for x in p.sentences) <= share:
                # The item fits its share: the natural unit, whole and in order.
                p.evidence = [i for i, x in enumerate(p.sentences) if informative(x, p.hit.title)] \
                    or list(range(len(p.sentences)))
                continue
            chosen, used = [], 0
            for i in np.argsort(-p.scores):
                if len(chosen) >= self.settings.evidence_sentences:
                    break
                if int(i) in chosen or not informative(p.sentences[i], p.hit.title):
                    continue
                # A sentence that leans on its neighbour ("Therefore a dispersed model was
                # being considered", "It was intended that the post ...") comes with it.
                group = [int(i)]
                if CONTINUES.match(p.sentences[i]) and i > 0:
                    group.insert(0, int(i) - 1)
                if i + 1 < len(p.sentences) and CONTINUES.match(p.sentences[i + 1]):
                    group.append(int(i) + 1)
                group = [j for j in group if j not in chosen]
                length = sum(len(p.sentences[j]) + 1 for j in group)
                if chosen and used + length > share:
                    # Too long with its neighbours: the sentence alone may still fit.
                    group, length = [int(i)], len(p.sentences[i]) + 1
                    if used + length > share:
                        continue
                chosen.extend(group)
                used += length
            p.evidence = sorted(chosen) or [int(np.argmax(p.scores))]

    def relevant(self, passages: list[Passage]) -> list[Passage]:
        """Passages above the floor and not far behind the best one: a small model is
        distracted by marginal passages, and each one costs prompt time. The retriever's
        first item stays whenever it clears the floor: whole-item search ranks it first more
        reliably than one sentence's score (an agenda line naming the topic can outscore
        the sentence that answers)."""
        floor = self.settings.relevance_floor
        # A meeting's opening lines (body, date, place) share the question's names and
        # outscore the item that answers it; the bar is set by the items themselves.
        content = [p for p in passages if p.hit.kind != "header"]
        top = max((p.best for p in content or passages), default=0.0)
        return [p for i, p in enumerate(passages)
                if p.best >= floor and (i == 0 or p.best >= top - self.settings.relevance_margin)]
