"""The dates minutes set for later meetings, for "when is the next meeting?".

Minutes close with a "Date of the next meeting" or "Dates of future meetings" item. Asked
which of five listed dates follows the September 2025 meeting, the small model picked the
second; the calendar sum is done here instead, and the item is cited.

>>> slots = scheduled_meetings(ensure_corpus(load_settings()).store)   # doctest: +SKIP
>>> next_meeting(slots, date(2021, 9, 24)).written                      # doctest: +SKIP
'Friday 10 December 2021 at 10.00am'
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from .records import MONTHS, format_date
from .retrieve import MONTH_YEAR, time_scope
from .store import Store

# The item that sets the next dates; its wording differs little between councils.
SCHEDULE_TITLE = re.compile(r"\b(?:dates?|time) of (?:the )?(?:next|future|forthcoming) meetings?\b"
                            r"|^\s*(?:next|future|forthcoming) meetings?\b", re.I)
_MONTH_NAMES = "|".join(MONTHS)
# "Friday 21 November 2025", "18 June" (the year left to the reader), "10th December 2021".
WRITTEN_DATE = re.compile(
    rf"\b(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_NAMES})"
    r"(?:,?\s+((?:19|20)\d{2}))?\b", re.I)
# "at 10.00am", "at 2.00 pm", "at 10:00 am": said with the date, or once for a list of them.
CLOCK = re.compile(r"\bat\s+(\d{1,2}(?:[.:]\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.))", re.I)
# Questions whose subject is the meeting date itself: "When is the next meeting?", "the
# board meeting after the September 2025 one", "what date was the next meeting set for?".
# "When will the report come to the next meeting?" is about the report, and is not one.
_NEXT = r"(?:next|following|upcoming|subsequent|forthcoming)"
# "the board's next meeting" names the meeting; "the report at the next meeting" does not.
_NOT_A_LINK = r"(?!(?:to|at|for|by|in|on|before|until|from|with|be)\b)"
ASKS_NEXT = re.compile(
    rf"\bwhen\s+(?:is|was|will|would|are|were)\s+(?:be\s+)?(?:the\s+)?(?:{_NOT_A_LINK}[\w'’]+\s+){{0,3}}?{_NEXT}\s+(?:board\s+)?meetings?\b"
    r"|\bwhen\s+(?:did|does|do|will|would)\s+the\s+(?:\w+\s+){0,2}?(?:board|committee|council|panel)\s+(?:next\s+meet|meet\s+next)\b"
    r"|\bmeeting\s+(?:after|following)\s+(?:the|its|that|\d)"
    rf"|\b(?:date|day)s?\s+(?:of|for)\s+(?:the\s+)?{_NEXT}\s+meeting\b"
    rf"|\b{_NEXT}\s+meeting\s+(?:was\s+|is\s+|be\s+)?(?:set|scheduled|due|arranged|fixed|planned)\b", re.I)
ASKS_A_DATE = re.compile(r"\bwhen\b|\b(?:what|which)\s+(?:date|day)\b", re.I)
FIRST_OF_YEAR = re.compile(r"\b(?:first|earliest)\s+(?:board\s+)?meeting\s+(?:of|in)\s+((?:19|20)\d{2})\b", re.I)


@dataclass(frozen=True)
class Slot:
    """One meeting date as a set of minutes gave it."""

    when: date
    written: str          # as the minutes wrote it (weekday included), with year and time
    sentence: str         # the sentence that holds it, for the citation's quote
    item_id: int
    set_on: date          # the meeting that set it
    meeting_date: str     # ...as the store has it ('2025-09')
    kind: str             # minutes, agenda or report
    doc: str = ""         # the document that set it


def meeting_day(meeting_date: str | None) -> date | None:
    """'2021-09-24' as a date; a month alone ('2025-09') as its first day."""
    if not meeting_date:
        return None
    parts = [int(x) for x in meeting_date.split("-")]
    return date(*parts) if len(parts) == 3 else date(parts[0], parts[1], 1) if len(parts) == 2 else None


def dates_in(text: str, set_on: date) -> list[tuple[date, str, int]]:
    """(date, as written, offset) for each date in text; a date without a year is the
    next such day after the meeting that wrote it."""
    out = []
    for m in WRITTEN_DATE.finditer(text):
        day, month = int(m.group(1)), [x.lower() for x in MONTHS].index(m.group(2).lower()) + 1
        year = int(m.group(3)) if m.group(3) else set_on.year + ((month, day) <= (set_on.month, set_on.day))
        try:
            when = date(year, month, day)
        except ValueError:      # "31 September"
            continue
        written = " ".join(m.group(0).replace(",", "").split()) + ("" if m.group(3) else f" {year}")
        clock = CLOCK.match(text[m.end():].lstrip())
        if clock is None:
            # A list's shared time comes before its first date ("all at 10.00am: Friday ...").
            start = max(text.rfind(". ", 0, m.start()), 0)
            clock = CLOCK.search(text, start, WRITTEN_DATE.search(text, start).start())
        if clock:
            written += f" at {clock.group(1).replace(' ', '')}"
        out.append((when, written, m.start()))
    return out


def sentence_at(text: str, offset: int) -> str:
    """The sentence holding a date; in a list of dates, its lead-in and that entry."""
    start = text.rfind(". ", 0, offset)
    start = start + 2 if start >= 0 else 0
    ends = [i for i in (text.find(". ", offset), text.find(";", offset), text.find("\n\n", offset)) if i != -1]
    end = min(ends) if ends else len(text)
    sentence = text[start:end].strip(" ;.\n")
    first = WRITTEN_DATE.search(sentence)
    colon = sentence.rfind(":", 0, first.start()) if first else -1
    lead, entries = sentence[:colon], sentence[colon + 1:]
    if colon > 0 and (";" in entries or "\n\n" in entries.strip()):
        entry = re.split(r";|\n\n", entries.strip())[-1]
        sentence = f"{lead}: … {entry}"
    return " ".join(sentence.split()) + "."


def scheduled_meetings(store: Store) -> list[Slot]:
    """Every later meeting date the minutes set, oldest first."""
    slots = []
    for item_id, it in store.items():
        set_on = meeting_day(it.meeting_date)
        if set_on is None or not SCHEDULE_TITLE.search(it.title):
            continue
        body = it.body
        for when, written, offset in dates_in(body, set_on):
            if when > set_on:
                slots.append(Slot(when, written, sentence_at(body, offset), item_id, set_on,
                                  it.meeting_date, it.kind, it.doc))
    return sorted(slots, key=lambda s: (s.when, -s.set_on.toordinal()))


def next_meeting(slots: list[Slot], after: date) -> Slot | None:
    """The first date set after `after`, as the latest minutes up to then gave it."""
    later = [s for s in slots if s.when > after and s.set_on <= after]
    if not later:
        return None
    first = min(s.when for s in later)
    return _plainest([s for s in later if s.when == first])


def first_meeting_of(slots: list[Slot], year: int) -> Slot | None:
    same_year = [s for s in slots if s.when.year == year]
    if not same_year:
        return None
    first = min(s.when for s in same_year)
    return _plainest([s for s in same_year if s.when == first])


def _plainest(slots: list[Slot]) -> Slot:
    """Of the same date set twice, the latest setting, told in the shortest sentence."""
    return min(slots, key=lambda s: (-s.set_on.toordinal(), len(s.sentence)))


def reference_day(question: str, meeting_dates: list[str]) -> date | None:
    """The meeting the question counts from: a date it names, the meeting in a month or
    year it names, or else the latest minutes (the corpus's "now")."""
    for m in WRITTEN_DATE.finditer(question):
        if m.group(3):
            found = dates_in(m.group(0), date(int(m.group(3)), 1, 1))
            if found:
                return found[0][0]
    scope = time_scope(question, meeting_dates)
    if not scope.filters.active():
        return meeting_day(meeting_dates[-1]) if meeting_dates else None
    if scope.year and not MONTH_YEAR.search(question):
        # "after the 2014 meeting" counts from that year's meeting, not from all since.
        inside = [d for d in meeting_dates if d.startswith(scope.year)]
    else:
        inside = [d for d in meeting_dates if scope.filters.admits_date(d)]
    if inside:
        return meeting_day(inside[-1])
    # No minutes then: count from the end of the month or year named (the meeting held in
    # it, whichever day that was, is not the one asked for).
    if scope.year and not MONTH_YEAR.search(question):
        return date(int(scope.year), 12, 31)
    end = scope.filters.date_to or scope.filters.date_from
    if not end:
        return None
    year, month = int(end[:4]), int(end[5:7])
    return date(year, month, calendar.monthrange(year, month)[1])


def answer_when(question: str, store: Store, dates: list[str],
                docs_named: Callable[[str], set[str] | None] | None = None) -> tuple[str, Slot] | None:
    """(answer citing [1], the slot it gives), when the question asks the date
    of a next or first meeting and the minutes set one; None leaves it to the usual path.
    docs_named: the documents of the body a question names, among minutes of several bodies
    (another body's next meeting is not this one's); asked only of date questions."""
    if not ASKS_A_DATE.search(question):
        return None
    slots = scheduled_meetings(store)
    docs = docs_named(question) if docs_named else None
    if docs is not None:
        slots = [s for s in slots if s.doc in docs]
        dates = sorted({it.meeting_date for _, it in store.items() if it.doc in docs and it.meeting_date})
    first = FIRST_OF_YEAR.search(question)
    if first:
        year = int(first.group(1))
        if any(d.startswith(str(year)) for d in dates):
            return None     # minutes of that year say better when it met
        slot = first_meeting_of(slots, year)
        return (f"{_set_by(slot)} the first meeting of {year} for {slot.written} [1].", slot) if slot else None
    if not ASKS_NEXT.search(question):
        return None
    after = reference_day(question, dates)
    slot = next_meeting(slots, after) if after else None
    if not slot:
        return None
    if slot.set_on == after:
        return f"{_set_by(slot)} the next meeting for {slot.written} [1].", slot
    return f"{_set_by(slot)} a meeting for {slot.written}, the first date set after {format_date(after.isoformat())} [1].", slot


def _set_by(slot: Slot) -> str:
    source = "minutes" if slot.kind == "minutes" else f"{slot.kind} for"
    return f"The {source} of {format_date(slot.meeting_date)} scheduled".replace("for of", "for")
