"""Read a question once into a typed Plan: what kind of answer, which parts, which time.

Every later stage reads the Plan instead of matching the question's wording again, and
the chat's follow-up rewriting lives here too, so the terminal and the chat plan the same
question the same way.

>>> plan = read_question("what happened to the DArDR post?", dates=["2025-03-21", "2025-09-26"])
>>> plan.kind, plan.parts
('timeline', ['what happened to the DArDR post?'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .retrieve import TimeScope, time_scope
from .store import Filters

# --- kinds ---------------------------------------------------------------------------------
# "What happened to X": the dated account of a matter across meetings.
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
    sentences = re.split(r"(?<=[.?!])\s+(?=[A-Z])", question.strip())
    while (len(sentences) > 1 and sentences[0].endswith(".")
           and not re.match(rf"(?i:{_WH}|{_AUX})\b", sentences[0])):
        sentences.pop(0)
    asked = " ".join(sentences)
    pieces = [p.strip(" ,;") for p in PART_BREAK.split(asked) if p.strip(" ,;?.")]
    if len(pieces) < 2:
        return [question]
    return [p if p.endswith("?") else p + "?" for p in pieces]


@dataclass
class Plan:
    """What the pipeline will do for one question.

    kind: "schedule" (when is the next meeting), "timeline" (what happened to X), "parts"
    (a question asking two things) or "fact" (everything else).
    """

    question: str
    kind: str
    parts: list[str]
    scope: TimeScope = field(default_factory=lambda: TimeScope(Filters()))
    filters: Filters = field(default_factory=Filters)   # the user's own filters (--from, --doc ...)
    k: int = 4


def read_question(question: str, dates: list[str], filters: Filters | None = None,
                  top_k: int = 4, k: int | None = None, schedule_slot=None,
                  split_parts: bool = True) -> Plan:
    """The Plan for a question. ``schedule_slot`` is the answer the minutes' own schedule
    gives (rag/schedule.py), when the question asks for a next or first meeting's date;
    ``split_parts`` off reads every question as one part (for the ablation table)."""
    filters = filters or Filters()
    timeline = bool(TIMELINE.search(question))
    parts = question_parts(question) if split_parts else [question]
    kind = "timeline" if timeline else "parts" if len(parts) > 1 else "fact"
    if kind == "fact" and schedule_slot is not None and not filters.active():
        kind = "schedule"
    # A time in one part of a two-part question ("in 2015 ..., and what now?") is not a
    # limit on the whole question.
    scope = time_scope(question, dates) if len(parts) == 1 else TimeScope(Filters())
    wide = timeline or len(parts) > 1
    return Plan(question=question, kind=kind, parts=parts, scope=scope, filters=filters,
                k=k or (top_k + 2 if wide else top_k))


# --- follow-ups: the chat's next question made to stand alone (no LLM: a few rules, instant) ---
FOLLOWUP_WORDS = {
    "it", "its", "it's", "they", "them", "their", "theirs", "that", "this", "those", "these",
    "he", "him", "his", "she", "her", "hers", "there", "then", "such", "same", "former", "latter",
}
# "the post", "the report" ... a definite noun that leans on the previous question.
FOLLOWUP_PHRASE = re.compile(
    r"\b(?:the|that|this)\s+(?:post|report|item|plan|strategy|scheme|project|proposal|decision|"
    r"funding|money|grant|review|update|programme|issue|matter|officer|role)\b",
    re.I)
FOLLOWUP_START = re.compile(r"^\s*(?:and|also|what about|how about|and what|so|then|why not)\b", re.I)
SUBJECT_STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "be", "been", "by", "can", "could", "did", "do", "does",
    "for", "from", "get", "got", "had", "has", "have", "how", "i", "in", "into", "is", "it", "its",
    "me", "much", "many", "of", "on", "or", "please", "said", "say", "says", "should", "tell",
    "that", "the", "their", "there", "these", "they", "this", "those", "to", "was", "were", "what",
    "when", "where", "which", "who", "whom", "why", "will", "with", "would", "about", "any",
    "happened", "happen", "happens", "decided", "decide", "agreed", "discussed", "presented",
    "present", "mentioned", "said", "we", "you", "our", "your", "he", "she", "him", "her", "his",
    "them", "then", "also", "so", "up", "out", "if", "not", "no", "yes", "than", "more", "most",
    "board", "meeting", "meetings", "minutes", "council", "fund", "funds", "funded", "give", "gave",
}
ABOUT = re.compile(r"\s*\(about:\s*([^)]*)\)\s*$")
WORD = re.compile(r"[A-Za-z0-9£][A-Za-z0-9£'&/.-]*[A-Za-z0-9]|[A-Za-z0-9]")


def subject_words(question: str, limit: int = 6) -> list[str]:
    """The content words of a question, in order: 'what happened to the DArDR post?' -> DArDR, post."""
    m = ABOUT.search(question)
    carried = m.group(1).split() if m else []
    own = WORD.findall(ABOUT.sub("", question))
    out: list[str] = []
    for w in own + carried:
        w = w.strip(".'")
        if w and w.lower() not in SUBJECT_STOPWORDS and w.lower() not in FOLLOWUP_WORDS \
                and w.lower() not in {x.lower() for x in out}:
            out.append(w)
    return out[:limit]


def is_followup(question: str) -> bool:
    words = WORD.findall(question)
    return (len(words) <= 4 or any(w.lower() in FOLLOWUP_WORDS for w in words)
            or bool(FOLLOWUP_PHRASE.search(question)) or bool(FOLLOWUP_START.match(question)))


def rewrite_followup(question: str, previous: str | None) -> str:
    """Make a follow-up stand alone by naming the subject of the previous question.

    >>> rewrite_followup("who funds it?", "what happened to the DArDR post?")
    'who funds it? (about: DArDR post)'
    >>> rewrite_followup("What was decided about Community Protection Notices?", "what about it?")
    'What was decided about Community Protection Notices?'
    """
    question = " ".join((question or "").split())
    if not previous or not question or not is_followup(question):
        return question
    have = {w.lower() for w in WORD.findall(question)}
    subject = [w for w in subject_words(previous) if w.lower() not in have]
    if not subject:
        return question
    return f"{question} (about: {' '.join(subject)})"
