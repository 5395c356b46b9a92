"""Segment minutes text into agenda items with their meeting metadata.

Three layouts are understood, and a file may hold several documents:

* web captures (ModernGov pages saved as text): one table row per agenda item, rows
  ending in ``|``; the row's position is the agenda item number;
* numbered minutes (``18. Introductions``): printed minute numbers, the agenda item
  number taken from "marked 'Agenda Item N'" or else counted from the first minute;
* agenda packs: an agenda, sets of minutes each with its own date, and reports, split
  at their headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .records import MONTHS, Item

# Part of each document's stored hash: bump it when loading or parsing changes what a file
# yields, so that an index built before re-reads its files on the next ingest instead of
# keeping the old items. 2: PDF running headers and footers dropped. 3: numbering that
# restarts under headings, numbers alone on their line, resolution numbers (rag/segment.py).
PARSE_VERSION = "3"

_MONTH_RE = "|".join(MONTHS)
DATE_RE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE}),?\s+(\d{{4}})\b", re.I)
FILE_DATE_RE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})(?:-?(\d{2}))?(?!\d)")
MINUTES_START = re.compile(
    r"^\W*Minutes of (?:a|the) (?:meeting|proceedings) of (?:the )?(?P<body>.+?) held\b", re.I
)
NUMBERED = re.compile(r"^\s*(?:#{1,6}\s*)?(?P<num>\d{1,3})\.\s+(?P<title>\S.*)$")
MARKED_ITEM = re.compile(r"marked\s+['‘’\"]Agenda Item\s+(\d{1,3})", re.I)
RESOLUTION = re.compile(r"\b(RESOLVED|AGREED|NOTED)\b\s*:?", re.M)
PRESENTER = re.compile(r"\bwill\s+(?:present|give|provide|introduce|report)\b", re.I)
BOARD_HEADING = re.compile(r"\b(BOARD|COMMITTEE|COUNCIL|PANEL|CABINET|PARTNERSHIP|AUTHORITY)\b")
TRAILER = re.compile(
    r"^\W*(CHAIRMAN|CHAIR|This page is intentionally left blank)\W*$"
    r"|^\s*\d{1,2}[.:]\d{2}\s*(?:am|pm)?\s*[-–]\s*\d{1,2}[.:]\d{2}\s*(?:am|pm)\b.*$",
    re.I,
)
# Words that end an organisation's name: a web-capture row whose "title" is only one of
# these was cut off mid-title ("Council. Minutes: ...").
ORG_TAILS = {"council", "police", "service", "board", "partnership", "commissioner",
             "report", "update", "officer", "group", "authority"}
# Phrases after which a minute's first sentence names its subject.
SUBJECT_CUES = re.compile(
    r"\b(?:regarding|concerning|an update on|update on|updated the Board on|to review|"
    r"on the work of|about|in respect of|relating to)\s+(?:the\s+)?", re.I
)
OPENING = re.compile(
    r"^(?:The\s+)?(?:Board|Committee|Panel|Council)\s+(?:considered|received|noted|heard)\s+"
    r"(?:(?:a|an|the)\s+)?(?:(?:verbal\s+)?(?:report|presentation|update|newsletter)\s+"
    r"(?:(?:and\s+\w+\s+)?(?:of|from|by)\s+)?)?",
    re.I,
)


def clean_markup(line: str) -> str:
    """Drop the markdown and HTML emphasis left by PDF-to-text converters."""
    line = re.sub(r"</?u>|\*\*|__", "", line)
    line = re.sub(r"^#{1,6}\s*", "", line.strip())
    return line.strip()


def iso_from_match(m: re.Match) -> str:
    month = next(i for i, name in enumerate(MONTHS, 1) if name.lower() == m.group(2).lower())
    return f"{int(m.group(3)):04d}-{month:02d}-{int(m.group(1)):02d}"


def date_from_filename(name: str) -> str | None:
    m = FILE_DATE_RE.search(name)
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    return "-".join(g for g in m.groups() if g)


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    m = re.search(r"(?<![A-Z])(?<!\b[A-Z][a-z])[.!?](?=\s+[A-Z(]|$)", text)
    return text[: m.start()] if m else text


def derive_title(body: str, max_words: int = 10) -> str:
    """A short title from an item's first sentence, for rows whose title is missing or cut off."""
    sentence = first_sentence(re.sub(r"^\s*Minutes:\s*", "", body))
    cue = SUBJECT_CUES.search(sentence)
    if cue:
        subject = re.split(r"[,;(]|\s+which\s+|\s+and the\b", sentence[cue.end():])[0]
    else:
        subject = re.split(r"[,;(]", OPENING.sub("", sentence))[0]
    words = subject.strip(" .").split()
    if not words:
        words = sentence.split()
    title = " ".join(words[:max_words])
    if len(words) > max_words:
        title += "…"
    return title[:1].upper() + title[1:]


def extract_resolution(body: str) -> str | None:
    m = RESOLUTION.search(body)
    if not m:
        return None
    text = " ".join(body[m.start():].split())
    return text or None


def smart_title(text: str) -> str:
    """'SAFER COMMUNITIES PERFORMANCE 2014/15 QUARTER 3' -> 'Safer Communities Performance 2014/15 Quarter 3'."""
    if text.upper() != text:
        return text
    small = {"and", "of", "the", "for", "in", "on", "to", "a", "an", "by"}
    words = text.lower().split()
    out = [w if (i and w in small) else w[:1].upper() + w[1:] for i, w in enumerate(words)]
    for acronym in ("Asb", "Csp", "Opcc", "Llr", "Pcc", "Nhs", "Cse"):
        out = [acronym.upper() if w == acronym else w for w in out]
    return " ".join(out)


@dataclass
class Part:
    """One document inside a file: minutes, an agenda, a report, or a web capture."""

    kind: str
    lines: list[str]
    meeting_date: str | None = None
    committee: str | None = None
    title: str | None = None


def _is_board_heading(line: str) -> bool:
    plain = clean_markup(line)
    return (
        ("**" in line or line.lstrip().startswith("#"))
        and plain.isupper()
        and len(plain.split()) >= 3
        and bool(BOARD_HEADING.search(plain))
    )


def _date_near(lines: list[str], start: int, span: int = 4) -> str | None:
    for line in lines[start: start + span]:
        m = DATE_RE.search(line)
        if m:
            return iso_from_match(m)
    return None


def split_parts(text: str) -> list[Part]:
    """Cut a file into its documents at minutes openings and board headings."""
    lines = text.split("\n")
    starts: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if MINUTES_START.search(clean_markup(line)):
            starts.append((i, "minutes"))
        elif _is_board_heading(line):
            starts.append((i, "heading"))
    if not starts:
        return [Part(kind="body", lines=lines)]
    parts: list[Part] = []
    if any(line.strip() for line in lines[: starts[0][0]]):
        parts.append(Part(kind="preamble", lines=lines[: starts[0][0]]))
    for n, (start, kind) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        chunk = lines[start:end]
        if kind == "minutes":
            m = MINUTES_START.search(clean_markup(chunk[0]))
            parts.append(Part(kind="minutes", lines=chunk, meeting_date=_date_near(chunk, 0, 3),
                              committee=m.group("body").strip() if m else None))
            continue
        committee = smart_title(clean_markup(chunk[0]))
        window = [clean_markup(x) for x in chunk[1:12] if x.strip()]
        date = _date_near(window, 0, 4)
        if any(re.fullmatch(r"Agenda", w, re.I) for w in window[:4]):
            parts.append(Part(kind="agenda", lines=chunk, meeting_date=date, committee=committee))
            continue
        title = next((w for w in window[:5] if w.isupper() and not DATE_RE.search(w)), None)
        parts.append(Part(kind="report", lines=chunk, meeting_date=date, committee=committee,
                          title=smart_title(title) if title else None))
    return parts


def _strip_trailer(lines: list[str]) -> list[str]:
    return [line for line in lines if not TRAILER.match(line)]


def _join(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in _strip_trailer(lines))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def is_web_capture(text: str) -> bool:
    rows = [line for line in text.split("\n") if line.rstrip().endswith("|")]
    return len(rows) >= 3 and "Minutes:" in text


def parse_web_capture(lines: list[str]) -> tuple[list[dict], str]:
    """Rows of a ModernGov capture -> raw items; also returns the preamble text."""
    rows: list[str] = []
    current: list[str] = []
    preamble: list[str] = []
    started = False
    for line in lines:
        stripped = line.strip()
        is_header = bool(re.match(r"^\|?\s*No\.?\s*\|\s*Item\b", stripped, re.I)) or bool(
            re.fullmatch(r"\|?[\s|:-]*-[\s|:-]*", stripped)
        )
        if is_header:
            started = True
            continue
        if not started and not stripped.endswith("|") and "Minutes:" not in stripped:
            preamble.append(line)
            continue
        started = True
        current.append(line)
        if stripped.endswith("|"):
            row = "\n".join(current).strip()
            current = []
            row = re.sub(r"^\|+|\|+$", "", row).strip()
            if row:
                rows.append(row)
    if current and "\n".join(current).strip(" |\n"):
        rows.append("\n".join(current).strip(" |\n"))
    raw_items = []
    for position, row in enumerate(rows, 1):
        number = position
        m = re.match(r"^(\d{1,3})\.?\s*\|\s*", row)
        if m:
            number = int(m.group(1))
            row = row[m.end():]
        row = row.replace(" | ", "\n")
        head, sep, minutes = row.partition("Minutes:")
        head = " ".join(head.split())
        title = tidy_title(head) if head else ""
        cut = (
            not title
            or title[:1].islower()
            or (len(title.split()) == 1 and title.lower() in ORG_TAILS)
        )
        derived = False
        if cut or PRESENTER.search(title):
            if PRESENTER.search(title) and not cut:
                title = "Report by " + re.split(r",?\s+will\s+", title)[0]
            else:
                title = derive_title(minutes if sep else row)
            derived = True
        raw_items.append({"item": number, "title": title, "body": row,
                          "title_derived": derived})
    return raw_items, _join(preamble)


def parse_numbered(lines: list[str]) -> tuple[list[dict], str]:
    """Numbered minutes or agenda lines -> raw items; text before the first is the header."""
    heads: list[tuple[int, int, str]] = []
    last = None
    for i, line in enumerate(lines):
        m = NUMBERED.match(clean_markup(line) if line.lstrip().startswith("#") else line)
        if not m:
            continue
        num = int(m.group("num"))
        if last is not None and not (last < num <= last + 5):
            continue
        heads.append((i, num, clean_markup(m.group("title"))))
        last = num
    if not heads:
        return [], _join(lines)
    items = []
    for n, (i, num, title) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        body = _join([title] + lines[i + 1: end])
        items.append({"number": num, "title": title, "body": body})
    return items, _join(lines[: heads[0][0]])


def _clean_agenda_text(title: str) -> str:
    title = re.sub(r"\(Pages? [^)]*\)", "", title)
    return " ".join(title.replace("\t", " ").split()).strip(" .")


def tidy_title(title: str) -> str:
    """Cut a title that runs on into its first sentence without a full stop."""
    title = first_sentence(title).strip(" .")
    if len(title.split()) > 8:
        title = re.split(r"\s+(?=The\s)", title, maxsplit=1)[0]
    return title


def parse_document(doc: str, text: str, committee: str | None = None) -> list[Item]:
    """All agenda items of one file, in order, with dates, numbers, titles and resolutions."""
    file_date = date_from_filename(doc)
    items: list[Item] = []

    def add(kind, title, body, date, comm, item=None, minute=None, derived=False):
        items.append(Item(
            doc=doc, kind=kind, position=len(items) + 1, title=title or "Untitled",
            body=body, meeting_date=date, committee=comm or committee, item=item,
            minute=minute, resolution=extract_resolution(body), title_derived=derived,
        ))

    if is_web_capture(text):
        raw, preamble = parse_web_capture(text.split("\n"))
        if len(preamble) > 30:
            add("header", "Meeting details", preamble, file_date, None)
        for r in raw:
            add("minutes", r["title"], r["body"], file_date, None, item=r["item"],
                derived=r["title_derived"])
        return items

    for part in split_parts(text):
        date = part.meeting_date or file_date
        if part.kind == "report":
            body = _join(part.lines)
            title = part.title or derive_title(body)
            add("report", title, body, date, part.committee, derived=part.title is None)
            continue
        raw, header = parse_numbered(part.lines)
        if part.kind == "agenda":
            if len(header) > 30:
                add("header", "Agenda details", header, date, part.committee)
            for r in raw:
                title = tidy_title(_clean_agenda_text(r["title"]))
                add("agenda", title, _clean_agenda_text(r["body"]), date, part.committee, item=r["number"])
            continue
        if part.kind == "preamble" and not raw:
            continue
        if len(header) > 30 and part.kind == "minutes":
            add("header", "Attendance and apologies", header, date, part.committee)
        if not raw and part.kind == "body" and header:
            add("minutes", derive_title(header), header, date, part.committee, derived=True)
            continue
        first = raw[0]["number"] if raw else 0
        for r in raw:
            marked = MARKED_ITEM.search(r["body"])
            number = int(marked.group(1)) if marked else r["number"] - first + 1
            add("minutes", _clean_agenda_text(r["title"]), r["body"], date, part.committee,
                item=number, minute=r["number"])
    return items


def uses_sample_layouts(text: str) -> bool:
    """The three layouts this module was written for (ModernGov web captures, numbered
    minutes opening "Minutes of a meeting of ... held", agenda packs under board headings).
    Everything else goes to the general segmenter (rag/segment.py)."""
    if is_web_capture(text):
        return True
    return any(p.kind in ("minutes", "agenda") for p in split_parts(text))


def parse_blocks(doc: str, blocks: list, committee: str | None = None, text: str | None = None) -> list[Item]:
    """All agenda items of one loaded file: the sample layouts as before, any other layout
    through the general segmenter (numbering, typography, file numbers, else sections)."""
    from .segment import segment

    if text is None:
        text = "\n".join(b.text for b in blocks)
    if doc.lower().endswith((".txt", ".md")) and uses_sample_layouts(text):
        items = parse_document(doc, text, committee=committee)
        if sum(it.kind != "header" for it in items) >= 3:
            return items
    file_date = date_from_filename(doc)
    items: list[Item] = []
    for meeting in segment(blocks, file_date=file_date):
        comm = committee or meeting.body
        if len(meeting.header) > 30:
            items.append(Item(doc=doc, kind="header", position=len(items) + 1, title="Meeting details",
                              body=meeting.header, meeting_date=meeting.date, committee=comm))
        for seg in meeting.items:
            number = int(seg.label) if seg.label and seg.label.isdigit() else None
            pages = None
            if seg.pages:
                pages = str(seg.pages[0]) if seg.pages[0] == seg.pages[1] else f"{seg.pages[0]}-{seg.pages[1]}"
            items.append(Item(
                doc=doc, kind="section" if meeting.sections else "minutes", position=len(items) + 1,
                title=seg.title, body=seg.text, meeting_date=meeting.date, committee=comm,
                item=number, resolution=extract_resolution(seg.text), title_derived=seg.title_derived,
                code=seg.label, pages=pages, anchor=seg.anchor))
    return items


def parse_file(path, committee: str | None = None) -> list[Item]:
    """Load one minutes file (any supported type) and return its agenda items."""
    from .load import load_blocks, load_text

    text = load_text(path) if path.suffix.lower() in (".txt", ".md") else None
    return parse_blocks(path.name, load_blocks(path), committee=committee, text=text)
