"""Citations: keep every [n] pointing at a passage that was shown and supports the claim.

The model's text is split into claims (sentences). A marker that names no passage is
dropped while streaming; a claim whose named passage supports it clearly less than
another is re-pointed; a claim stating names or figures its passage does not contain is
dropped; each citation's quote is the item sentence that best supports its claims.
"""

from __future__ import annotations

import re

import numpy as np

from .evidence import Passage
from .store import STOPWORDS

COMMON_CAPITALS = set(
    "The A An It Its Yes No This That These Those They Their He She His Her There Here In On At By For "
    "Of And But As To If When Where What Who Which Why How Also However Board Council Committee Minutes "
    "Passage Passages Members Member Chairman Chair".split()
)
FIGURE_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?")
NAME_OR_NUMBER = re.compile(r"£?\d[\d,]*(?:\.\d+)?%?|\b[A-Z][A-Za-z'’&-]*[A-Za-z]\b")


def bare(token: str) -> str:
    """A NAME_OR_NUMBER token as it is looked for in a text: no currency or percent sign, no
    trailing punctuation, and a possessive read as its name ("Chicago's" -> "Chicago")."""
    return re.sub(r"'s$", "", token.strip("£%").rstrip(",.").replace("’", "'"))


def unsupported(claim: str, source: str) -> list[str]:
    """Names and figures in a claim that the cited text does not contain.

    A small model sometimes pins a figure from one item on a subject named in the
    question ("the OPCC gave £100,000 to Warning Zone"); every name and number it
    states must be found in the passage it cites (see source_text for what that holds).
    """
    text = MARKER.sub("", claim)
    haystack = " ".join(source.split()).lower().replace("’", "'")
    # "Office of the Police and Crime Commissioner" stands behind "OPCC".
    initials = {"".join(w[0] for w in seq.split() if w[0].isupper()).lower()
                for seq in re.findall(r"[A-Z][a-z]+(?:\s+(?:(?:of|and|the|for)\s+)*[A-Z][a-z]+)+", source)}
    figures = {f.replace(",", "").rstrip(".") for f in FIGURE_TOKEN.findall(haystack)}
    missing = []
    for token in NAME_OR_NUMBER.findall(text):
        # A possessive is its name: "Chicago's budget" is grounded by "Chicago".
        name = bare(token)
        if not name or token in COMMON_CAPITALS or name in COMMON_CAPITALS or len(name) < 2:
            continue
        needle = name.lower()
        if needle[0].isdigit():
            # A figure is found whole, read as the claim's figures are: "12" is not in
            # "2012", nor "75" in "£75,000" ("1757" is "1,757").
            if needle.replace(",", "") in figures:
                continue
        elif needle in haystack or needle.rstrip("s") in haystack:
            continue
        if name.isupper() and needle in initials:
            continue
        missing.append(token)
    return missing


# Claims are the answer's sentences; a marker after a full stop stays with its sentence.
# "Mr. T. Sehl" and "Cllr. C. Wise" are one sentence, not three; nor does a sentence go on
# in lower case after a full stop ("Holdings Inc. in August").
CLAIM_SPLIT = re.compile(r"(?<=[.!?\]])(?<!\b[A-Z]\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bNo\.)"
                         r"(?<!\bMrs\.)(?<!\bCllr\.)\s+(?![\[a-z])|\n+")
MARKER = re.compile(r"\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")


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


def content_words(text: str) -> set[str]:
    """Words and numbers that carry content (no stopwords, no short words, no [n] marks)."""
    return {w for w in re.findall(r"[a-z0-9£][a-z0-9£,'-]*", MARKER.sub("", text).lower())
            if (len(w) > 3 or any(ch.isdigit() for ch in w)) and w not in STOPWORDS}


def overlap(words: set[str], passage: Passage) -> np.ndarray:
    """The share of the words that each sentence of a passage contains."""
    return np.array([sum(w in s.lower() for w in words) / len(words) if words else 0.0
                     for s in passage.sentences])


def sentence_support(claim: str, claim_vector: np.ndarray, passage: Passage) -> np.ndarray:
    """How well each sentence of a passage backs a claim: meaning plus shared words and numbers."""
    return passage.vectors @ claim_vector + 0.5 * overlap(content_words(claim), passage)

def support(claim: str, claim_vector: np.ndarray, passage: Passage) -> float:
    """Support from the sentences the model was shown of this passage."""
    scores = sentence_support(claim, claim_vector, passage)
    shown = passage.evidence or list(range(len(passage.sentences)))
    return float(scores[shown].max())

def source_text(passage: Passage) -> str:
    """What a claim citing this passage may draw its names and figures from: the item, its
    label, and the question's own names that its document uses (passage.context). An answer
    that says those back ("stolen from Alameda's Bay Farm Library in January 2005") states
    nothing new by them, though the item itself never names the city; a name the document
    never uses ("the Violence Reduction Network" in a parish council's accounts) still fails."""
    return f"{passage.label()} {passage.hit.item_text} {passage.context}"

def repoint(claim: str, vector: np.ndarray, passages: list[Passage]) -> str:
    """Move a claim's [n] to the passage that supports it when the model named the wrong one.

    Only a passage holding the claim's names and figures may take a citation, so a claim
    that its own passage grounds is never moved to one that merely reads alike; one that
    its passage does not ground moves to the best passage that does.
    """
    cited = [int(x) for m in MARKER.finditer(claim) for x in re.split(r"[,;]", m.group(1))]
    by_n = {p.n: p for p in passages}
    cited = [n for n in cited if n in by_n]
    if not cited or len(passages) < 2:
        return claim
    holders = {n for n, p in by_n.items() if not unsupported(claim, source_text(p))}
    if not holders:
        return claim
    scores = {n: support(claim, vector, by_n[n]) for n in holders}
    best = max(scores, key=scores.get)
    if best in cited:
        return claim
    kept = [n for n in cited if n in holders]
    if kept and scores[best] < max(scores[n] for n in kept) + 0.1:
        return claim
    worst = min(cited, key=lambda n: (n in holders, scores.get(n, -1.0)))
    return re.sub(rf"\[{worst}\]", f"[{best}]", claim, count=1)

def best_holder(claim: str, vector: np.ndarray, passages: list[Passage]) -> int | None:
    """The passage an uncited claim should cite: the best support among those grounding it
    (none when its names are spread over several; it is checked against them all)."""
    holders = [p for p in passages if not unsupported(claim, source_text(p))]
    return max(holders, key=lambda p: support(claim, vector, p)).n if holders else None

def grounded(claim: str, by_n: dict[int, Passage]) -> bool:
    """A claim is grounded when its cited passages (or, uncited, any passage) hold its names and figures."""
    cited = [int(x) for m in MARKER.finditer(claim) for x in re.split(r"[,;]", m.group(1))]
    sources = [by_n[n] for n in cited if n in by_n] or list(by_n.values())
    source = " ".join(source_text(p) for p in sources)
    return not unsupported(claim, source)

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

def quote_for(passage: Passage, claims: list[str], claim_vectors: np.ndarray, question: str = "") -> str:
    """The item's sentence that best supports the sentences citing it. What a claim adds to
    the question counts again: an answer says the question's words back ("The new Glen
    Parva prison is expected to be completed in January 2023"), and a sentence holding only
    those ("the update regarding the Glen Parva Prison project be noted") is not its source."""
    if not claims:
        return passage.best_sentence()
    asked = content_words(question)
    support = np.max([sentence_support(c, v, passage) + 0.5 * overlap(content_words(c) - asked, passage)
                      for c, v in zip(claims, claim_vectors)], axis=0)
    return passage.best_sentence(support + 0.2 * passage.scores)
