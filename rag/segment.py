"""Find the meetings and the top-level agenda items of any minutes document, from its own structure.

Input is the loader's Blocks (lines or paragraphs with layout cues); output is one
MeetingSegments per meeting in the file, each with its date, body name and items. Three
general mechanisms, tried in this order and combined:

1. **Numbering.** Every place where a number could open an item (at a line start, or inline
   after a sentence end, since copied and PDF-extracted minutes glue items together) is a
   candidate; the longest rising run of such numbers (steps of 1 to 5, as minute and item
   numbers go) is the item sequence. Numbers that restart inside an item (the parts of a
   resolution, 7.1/7.2 sub-points, motions) cannot join the run. Numbered lines that read as
   motions ("1. Moved by ...", "That Council approve ...") are not titles. A number alone on
   its line ("3.") opens the line below it. When the numbering starts again at 1 under the
   headings of one style, the headings are the items and the numbers their points.
2. **Typography.** Markup headings (HTML h1-h6, Word heading styles, markdown #), bold or
   larger-type lines, and short ALL-CAPS lines. The most frequent kind of such heading is
   the item level.
3. **File numbers.** US minutes key items by a file number ("(12-005)", "4-A 2023-3362"),
   Canadian ones by a resolution number ("R2020-170"); lines that open with one are items too.

A document with none of these is split into sections of sensible size at paragraph or
heading boundaries, each titled from its content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .records import MONTHS, Block

# --- dates -------------------------------------------------------------------------------
_MONTH = "|".join(MONTHS) + "|" + "|".join(m[:3] for m in MONTHS) + r"|Sept"
_FR_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
              "octobre", "novembre", "décembre"]
DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?,?\s+(\d{{4}})\b", re.I)
MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
FRENCH_DATE = re.compile(rf"\b(\d{{1,2}})(?:er)?\s+({'|'.join(_FR_MONTHS)})\s+(\d{{4}})\b", re.I)
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def _month(name: str) -> int:
    low = name.lower().rstrip(".")
    for i, m in enumerate(MONTHS, 1):
        if m.lower().startswith(low[:3]):
            return i
    return _FR_MONTHS.index(low) + 1


def find_date(text: str) -> str | None:
    """The first full date written in text, as YYYY-MM-DD."""
    found = []
    for rx, order in ((DAY_MONTH_YEAR, "dmy"), (MONTH_DAY_YEAR, "mdy"), (FRENCH_DATE, "dmy"),
                      (ISO_DATE, "iso")):
        m = rx.search(text)
        if not m:
            continue
        try:
            if order == "dmy":
                y, mo, d = int(m.group(3)), _month(m.group(2)), int(m.group(1))
            elif order == "mdy":
                y, mo, d = int(m.group(3)), _month(m.group(1)), int(m.group(2))
            else:
                y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        except ValueError:
            continue
        if 1 <= mo <= 12 and 1 <= d <= 31 and 1900 < y < 2100:
            found.append((m.start(), f"{y:04d}-{mo:02d}-{d:02d}"))
    return min(found)[1] if found else None


# --- furniture -----------------------------------------------------------------------------
FURNITURE = re.compile(
    r"^(?:page\s*\d+(?:\s*of\s*\d+)?|\d{1,3}|-\s*\d+\s*-|\d+\s*/\s*\d+"
    r"|signed\W*(?:chair(?:man|person)?)?[\s_.…]*(?:date[\s_.…]*)?|date[\s_.…]{3,}|[_.…\s]{5,}"
    r"|chair(?:man|person)?\s*[_.…]{3,}.*|this page is intentionally left blank)$", re.I)
PAGE_MARK = re.compile(r"\b(?:page\s+\d+\s+of\s+\d+|\d+\s+of\s+\d+)\b", re.I)


def furniture(blocks: list[Block]) -> set[int]:
    """Indexes of page numbers, signature lines and running headers/footers: short lines at
    the top or bottom of most pages (both pages of a two-page file), the same once their
    digits are blanked. The first one stays when it tops its page: there it is the title."""
    pages = {b.page for b in blocks if b.page}
    shape = [re.sub(r"\d+", "#", b.text.lower()) for b in blocks]
    repeated: set[str] = set()
    title: set[int] = set()
    if len(pages) >= 2:
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for i, b in enumerate(blocks):
            if b.page:
                first.setdefault(b.page, i)
                last[b.page] = i
        seen: dict[str, set[int]] = {}
        at: dict[str, int] = {}          # where each edge line first appears
        inner: set[str] = set()
        for i, b in enumerate(blocks):
            if not b.page or len(b.text.split()) > 14:
                continue
            key = shape[i]
            if i - first[b.page] < 3 or last[b.page] - i < 3:
                seen.setdefault(key, set()).add(b.page)
                at.setdefault(key, i)
            else:
                inner.add(key)
        repeated = {k for k, v in seen.items()
                    if len(v) >= min(len(pages), max(3, len(pages) // 2)) and k not in inner}
        title = {at[k] for k in repeated
                 if at[k] - first[blocks[at[k]].page] < 3 and not FURNITURE.match(blocks[at[k]].text.strip())}
    return {i for i, b in enumerate(blocks) if i not in title
            and (FURNITURE.match(b.text.strip()) or shape[i] in repeated)}


# --- item openings ---------------------------------------------------------------------------
# A number that opens an item: "7.", "7)", "805.Apologies", "135/19", "1 – FINANCES", "*43 Authorize".
NUMBER_OPEN = re.compile(
    r"(?P<star>\*)?(?P<num>\d{1,4})(?P<slash>/\d{2,4})?(?:[.):](?!\d)|\s*[-–—]\s+|(?=\s+[A-Z*“\"'(]))\s*"
    r"(?=[A-Z*“\"'(])")
# ... counted only where an item can start: a line start, or after a sentence end / a gap.
INLINE_BOUNDARY = re.compile(
    r"(?:[.!?:;)”\"’]\s+|\s{2,}|[a-z]\s+(?=\d{2,4}\s)|\s(?=\*\d{1,4}\s+[A-Z])|\s(?=\d{1,4}[.)]\s+[A-Z]))")
# ... or a resolution number: "R2020-170 L. Andersen, J. Scott: That the minutes ...".
FILE_NUMBER = re.compile(r"^(?:\d{1,2}-[A-Z]\s+)?\(?\*?(?P<file>\d{2,4}-\d{3,5}|[A-Z](?:19|20)\d{2}\s?-\s?\d{2,4})\)?(?:\s|$)")
LETTER_OPEN = re.compile(r"^(?P<num>[A-Z])[.)]\s+\*?(?=[A-Z])")
MOTION = re.compile(r"^(?:moved|seconded|that\b|resolved|whereas|it was (?:moved|resolved|agreed)|"
                    r"motion\b|m/s\b|carried|approved\b)", re.I)
PROCEDURAL = re.compile(
    r"\b(?:call(?:ed)? to order|roll call|apolog|absence|declarations? of|interests?|minutes|"
    r"adjourn|public (?:comment|forum|session|participation)|correspondence|report|business|"
    r"consent|planning|finance|accounts|communications?|matters arising|date of (?:the )?next|"
    r"any other business|agenda|presentations?|hearings?|closed (?:session|meeting)|by-?laws?|"
    r"motions?|announcements?|updates?)\b", re.I)


@dataclass
class Opening:
    """A place where an item may start: block index, offset in its text, label, title."""

    block: int
    offset: int
    label: str
    value: int
    title: str
    line_start: bool
    styled: bool
    kind: str          # "number", "heading", "file"


@dataclass
class Segment:
    """One item found: its label, title and the blocks (the first possibly cut) it spans."""

    label: str | None
    title: str
    text: str
    pages: tuple[int, int] | None = None
    anchor: str | None = None
    title_derived: bool = False


@dataclass
class MeetingSegments:
    date: str | None
    body: str | None
    header: str
    items: list[Segment] = field(default_factory=list)
    sections: bool = False     # no item structure found: sized sections instead


def is_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) >= 0.85


ABBREVIATION = r"(?<!\bNo)(?<!\bNos)(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bCllr)(?<!\bCo)(?<!\bInc)(?<!\bLtd)(?<!\bvs)(?<!\bCllrs)"
# "To note: ...", "To discuss: ..." (UK agenda wording): the verb alone is not the title.
AGENDA_VERB = re.compile(r"^(?:to\s+)?(?:note|discuss|approve|receive|consider|agree|resolve|ratify|"
                         r"adopt|confirm|review|decide|report)$", re.I)


def title_of(rest: str, max_words: int = 14) -> str:
    """The title at the start of an item's text: up to a colon, a dash, a sentence end, a
    sub-point number, or where an ALL-CAPS title runs into ordinary text."""
    rest = rest.strip().lstrip("*").strip()
    words = rest.split()
    # An ALL-CAPS run followed by ordinary words: "PLAY AREAS The clerk reported ..."
    caps = 0
    for w in words:
        letters = [c for c in w if c.isalpha()]
        if letters and all(c.isupper() for c in letters) and (len(letters) > 1 or w in ("A", "I")):
            caps += 1
        elif not letters:
            caps += 1 if caps else 0
        else:
            break
    if caps >= 2 and caps < len(words):
        rest = " ".join(words[:caps])
    rest = re.split(r"\s+\d{1,3}\.\d{1,2}(?:\.\d+)?\s", rest, maxsplit=1)[0]   # "Reports 6.1 Chair's Report"
    pieces = re.split(ABBREVIATION + r"(?<=[a-z0-9)\]])[.!?](?:\s|$)|:\s|:$|\s[-–—]\s|\s[-–—]$|\s{3,}|\t", rest)
    cut = pieces[0].strip(" .:;,-–—")
    if AGENDA_VERB.match(cut) and len(pieces) > 1:
        cut = f"{cut}: {pieces[1].strip(' .:;,-–—')}"
    words = cut.split()
    title = " ".join(words[:max_words])
    return title + ("…" if len(words) > max_words else "")


def _title_like(title: str) -> bool:
    return bool(title) and not MOTION.match(title) and len(title.split()) <= 14


def _styled(b: Block, body_is_caps: bool) -> bool:
    return bool(b.heading or b.bold or b.size >= 1.12 or (is_caps(b.text) and not body_is_caps))


# "3." alone on its line, the title on the next (minutes converted from PDF to text).
BARE_NUMBER = re.compile(r"^(?P<num>\d{1,3})[.)]$")


def number_openings(blocks: list[Block]) -> list[Opening]:
    out: list[Opening] = []
    for i, b in enumerate(blocks):
        text = b.text
        if b.number:
            out.append(Opening(i, 0, b.number, int(b.number), title_of(text), True,
                               _styled(b, False), "number"))
            continue
        bare = BARE_NUMBER.match(text.strip())
        if bare:
            nxt = blocks[i + 1].text.strip() if i + 1 < len(blocks) else ""
            if re.match(r"[A-Z*“\"'(]", nxt):
                out.append(Opening(i, 0, bare.group("num"), int(bare.group("num")), title_of(nxt), True,
                                   _styled(blocks[i + 1], False), "number"))
            continue
        positions = [0] + [m.end() for m in INLINE_BOUNDARY.finditer(text)]
        for pos in positions:
            m = NUMBER_OPEN.match(text, pos)
            if not m:
                continue
            label = (m.group("num") + (m.group("slash") or ""))
            rest = text[m.end():]
            out.append(Opening(i, pos, label, int(m.group("num")), title_of(rest), pos == 0,
                               pos == 0 and _styled(b, False), "number"))
    return out


def best_chain(openings: list[Opening]) -> list[Opening]:
    """The highest-scoring rising run of item numbers (each step +1 to +5).

    A line-start opening weighs more than an inline one, a title-like one more than a
    motion; runs must mostly read as titles.
    """
    if not openings:
        return []
    weights = [(2.0 if o.line_start else 1.0) + (1.0 if _title_like(o.title) else -1.5)
               + (0.5 if o.styled else 0.0) for o in openings]
    best = list(weights)
    prev = [-1] * len(openings)
    for j, oj in enumerate(openings):
        for i in range(j - 1, max(-1, j - 400), -1):
            oi = openings[i]
            if (oi.block, oi.offset) >= (oj.block, oj.offset):
                continue
            step = oj.value - oi.value
            if 1 <= step <= 5 and best[i] + weights[j] > best[j]:
                best[j], prev[j] = best[i] + weights[j], i
    end = max(range(len(openings)), key=lambda k: best[k])
    chain = []
    while end != -1:
        chain.append(openings[end])
        end = prev[end]
    chain.reverse()
    titled = sum(_title_like(o.title) for o in chain)
    if len(chain) < 3 or titled < len(chain) * 0.6:
        return []
    return chain


def plausible_chain(blocks: list[Block], chain: list[Opening]) -> list[Opening]:
    """A run found only inside running text, with pages of text between its numbers, is
    numbers in prose (a transcript saying "item 57"), not the document's items."""
    if not chain or any(o.line_start for o in chain):
        return chain
    span = sum(len(b.text) for b in blocks[chain[0].block:])
    return chain if span / len(chain) <= 5000 else []


def heading_openings(blocks: list[Block], chain: list[Opening]) -> list[Opening]:
    """Typographic headings of the most frequent kind (markup level, bold, larger, caps)."""
    body_caps = sum(is_caps(b.text) for b in blocks) > len(blocks) * 0.5
    groups: dict[tuple, list[int]] = {}
    for i, b in enumerate(blocks):
        title = title_of(b.text)
        words = len(b.text.split())
        if not title or MOTION.match(title) or find_date(b.text) and words < 10:
            continue
        if b.heading:
            key = ("h", b.heading)
        elif b.bold and words <= 16:
            key = ("bold", round(b.size, 1))
        elif b.size >= 1.12 and words <= 16:
            key = ("size", round(b.size, 1))
        elif is_caps(b.text) and not body_caps and words <= 14:
            key = ("caps",)
        elif not body_caps and is_caps(" ".join(b.text.split()[:3])) and len(title.split()) >= 2 \
                and re.match(r"^[^a-z]{4,}?(?::|\s[-–—])", b.text):
            key = ("caps",)          # run-in: "APPROVAL OF MINUTES: Motion to approve ..."
        else:
            continue
        groups.setdefault(key, []).append(i)
    if not groups:
        return []

    def score(item):
        key, idx = item
        hits = sum(bool(PROCEDURAL.search(blocks[i].text)) for i in idx)
        rank = {"h": 3, "size": 2, "bold": 1, "caps": 1}[key[0]]
        return (len(idx) >= 3, hits + len(idx) * 0.5 + rank, -key[1] if key[0] == "h" else 0)

    key, idx = max(groups.items(), key=score)
    if len(idx) < 3 and not chain:
        return []
    if chain and key[0] != "h":
        # Beside a numbered run, only headings outside its numbered lines add items
        # (US minutes: CAPS section headings between numbered or file-numbered entries).
        numbered = {o.block for o in chain}
        idx = [i for i in idx if i not in numbered and not NUMBER_OPEN.match(blocks[i].text)]
        if key[0] in ("bold", "size"):
            return []
    return [Opening(i, 0, "", 0, title_of(blocks[i].text), True, True, "heading") for i in idx]


def _continues(blocks: list[Block], i: int) -> bool:
    """A line that carries on the styled line before it (a long title or heading wrapped onto
    a second line: "MINUTES of the meeting held in ... County" / "Hall, Maidstone.")."""
    if i == 0:
        return False
    prev, b = blocks[i - 1], blocks[i]
    same = prev.bold == b.bold and prev.heading == b.heading and round(prev.size, 1) == round(b.size, 1)
    return (same and prev.page == b.page and not b.gap and len(prev.text) >= 60
            and not prev.text.rstrip().endswith((".", ":", ";", "?", "!")))


def nested_headings(blocks: list[Block], numbers: list[Opening]) -> list[Opening]:
    """Headings whose sections each number their paragraphs from 1 again.

    Minutes that number the points inside each item ("Challenge Cards Update" / "(Item 5)" /
    "1. Jo Carpenter introduced ... 2. ...", or "CONSENT AGENDA" / "1. Minutes ... 2.
    Financials") give a rising run of numbers inside one item, which is not the item
    sequence. When, under at least two headings of one style, the first numbered line is a 1,
    and that is so under at least half of the headings that have numbered lines, the headings
    are the items (of the styles for which it holds, the one whose lines read most like
    agenda titles).
    """
    starts = sorted((o.block, o.value) for o in numbers if o.line_start)
    if sum(v == 1 for _, v in starts) < 2:
        return []
    numbered = {o.block for o in numbers if o.line_start}
    body_caps = sum(is_caps(b.text) for b in blocks) > len(blocks) * 0.5
    groups: dict[tuple, list[int]] = {}
    for i, b in enumerate(blocks):
        words = len(b.text.split())
        if i in numbered or words > 16 or not title_of(b.text) or MOTION.match(b.text) or _continues(blocks, i):
            continue
        if b.heading:
            key = ("h", b.heading)
        elif b.bold or b.size >= 1.12:
            # Bold section headings in capitals and bold names or sub-headings in ordinary
            # case are two levels.
            key = ("styled", b.bold, round(b.size, 1), is_caps(b.text))
        elif is_caps(b.text) and not body_caps:
            key = ("caps",)
        else:
            continue
        groups.setdefault(key, []).append(i)
    best, best_score = [], (0.0, 0)
    for idx in groups.values():
        if len(idx) < 3:
            continue
        restart = with_numbers = 0
        for k, h in enumerate(idx):
            end = idx[k + 1] if k + 1 < len(idx) else len(blocks)
            inside = [v for blk, v in starts if h < blk < end]
            if inside:
                with_numbers += 1
                restart += inside[0] == 1
        if restart < 2 or restart * 2 < with_numbers:
            continue
        score = (sum(bool(PROCEDURAL.search(blocks[i].text)) for i in idx) / len(idx), restart)
        if score > best_score:
            best, best_score = idx, score
    return [Opening(i, 0, "", 0, title_of(blocks[i].text), True, True, "heading") for i in best]


BULLET = re.compile(r"^(?P<glyph>[\u2022\u25cf\u25aa\u25a0\u25e6\u2023\u2043\u25ba\uf0b7\uf0a7\uf076\uf0d8\uf0fc*o-])\s+(?=\S)")


def bullet_openings(blocks: list[Block]) -> list[Opening]:
    """Minutes written as a bullet list: the outermost bullet (the first glyph used) opens items."""
    glyphs = [(i, m.group("glyph"), m.end()) for i, b in enumerate(blocks) if (m := BULLET.match(b.text))]
    if not glyphs:
        return []
    top = glyphs[0][1]
    out = [Opening(i, 0, "", 0, title_of(blocks[i].text[end:]), True, False, "bullet")
           for i, g, end in glyphs if g == top]
    return out if len(out) >= 3 else []


def file_openings(blocks: list[Block]) -> list[Opening]:
    out = []
    for i, b in enumerate(blocks):
        m = FILE_NUMBER.match(b.text)
        if m:
            rest = b.text[m.end():].lstrip(" -–")
            label = b.text[: m.end()].strip(" ()*")
            if not rest.strip() and i + 1 < len(blocks):      # the title is on the next line
                rest = blocks[i + 1].text
            out.append(Opening(i, 0, label, 0, title_of(rest), True, False, "file"))
    return out if len(out) >= 2 else []


# --- meetings --------------------------------------------------------------------------------
MEETING_START = re.compile(
    r"\bminutes\s+of\s+(?:the\s+|a\s+|an\s+)?(?P<what>.{0,80}?)\b(?:meeting|session|proceedings|AGM)\b"
    r"|\b(?:regular|special|annual|ordinary|extraordinary|adjourned)\b.{0,60}\bmeeting\s+minutes\b"
    r"|\bcompte[- ]rendu\b|\bproc[eè]s[- ]verbal\b", re.I)


def meeting_starts(blocks: list[Block]) -> list[int]:
    """Blocks that open a meeting's minutes: a minutes heading with a date close by.

    A later opening must stand where a new document would (top of a page, after a rule,
    or set as a heading), so "the minutes of the meeting held on ..." inside an item is
    not taken for one.
    """
    starts = [0]
    for i, b in enumerate(blocks):
        if i < 4 or len(b.text.split()) > 40 or not MEETING_START.search(b.text):
            continue
        # Its date is in the heading or just below it, not in the first item.
        near = [x.text for x in blocks[i: i + 3] if not NUMBER_OPEN.match(x.text)]
        if not find_date(" ".join(near)):
            continue
        lead = re.match(r"^\W*(?:(?:draft|unapproved|approved|official)\s+)?", b.text, re.I).end()
        if not MEETING_START.match(b.text, lead):
            continue
        new_page = b.page is not None and blocks[i - 1].page != b.page
        if (new_page or b.rule or b.heading or is_caps(b.text)) and i - starts[-1] >= 4:
            # The first minutes heading, near the top, opens the first meeting, not a second.
            if len(starts) == 1 and not any(MEETING_START.search(x.text) for x in blocks[:i]) and i <= 25:
                continue
            starts.append(i)
    return starts or [0]


BODY_NAME = re.compile(
    r"\b(?:minutes of (?:the |a |an )?(?:[\w-]+\s+){0,3}?(?:meeting\s+of\s+(?:the\s+)?)?)?"
    r"(?P<body>(?:[A-Z][\w&'’.-]*\s+){0,6}?(?:City |Town |Parish |Community |County |Borough |Township )?"
    r"(?:Council|Board(?: of [A-Z][\w]+)*|Commission|Committee|Cabinet|Panel|Authority|Trustees|Partnership))\b")


def body_name(text: str) -> str | None:
    m = BODY_NAME.search(text)
    if not m:
        return None
    name = " ".join(m.group("body").split())
    name = re.sub(r"^(?:Minutes|The|Of|Regular|Special|Meeting)\s+", "", name, flags=re.I)
    return name if len(name.split()) >= 2 else None


# --- segmentation ----------------------------------------------------------------------------
def segment(blocks: list[Block], file_date: str | None = None) -> list[MeetingSegments]:
    """All meetings of a document with their items; see the module docstring.

    Meetings are found on the blocks as loaded (a date line repeated on each meeting's
    first page is still there); page furniture is dropped inside each meeting after.
    """
    if not blocks:
        return []
    drop = furniture(blocks)
    starts = meeting_starts(blocks)
    out = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(blocks)
        raw = blocks[start:end]
        head_text = " ".join(b.text for b in raw[:15])
        date = find_date(head_text) or file_date
        part = [b for i, b in enumerate(raw, start) if i not in drop]
        out.append(_items(part, date, body_name(head_text)))
    return out


def _items(blocks: list[Block], date: str | None, body: str | None) -> MeetingSegments:
    numbers = number_openings(blocks)
    chain = plausible_chain(blocks, best_chain(numbers))
    heads = heading_openings(blocks, chain)
    files = file_openings(blocks)
    nested = nested_headings(blocks, numbers) if chain else []
    if chain and len(files) >= 3 and len({sum(f.block < o.block for f in files) for o in chain}) == 1:
        # The whole run sits inside one file-numbered item: the points of one resolution.
        chain = []
    if nested:
        opens = nested
    elif heads and heads[0].kind == "heading" and blocks[heads[0].block].heading and \
            len(heads) >= len(chain):
        opens = heads
    else:
        opens = chain + heads
        if files:
            taken = {o.block for o in opens}
            opens += [f for f in files if f.block not in taken]
    if not opens:
        opens = bullet_openings(blocks)
    opens.sort(key=lambda o: (o.block, o.offset))
    # Openings before the minutes proper (title lines, attendance) are the header.
    opens = _drop_header_openings(blocks, opens)
    if not opens:
        return MeetingSegments(date, body, "", sections_of(blocks), sections=True)
    first = opens[0]
    header = " ".join(b.text for b in blocks[: first.block])
    if first.offset:
        header = (header + " " + blocks[first.block].text[: first.offset]).strip()
    items = []
    if len(header) > 4000:          # pages before the first item: sections, not one lump
        items += sections_of(blocks[: first.block])
        header = ""
    for k, o in enumerate(opens):
        nxt = opens[k + 1] if k + 1 < len(opens) else None
        end_block = nxt.block if nxt else len(blocks)
        parts = []
        for bi in range(o.block, min(end_block + 1, len(blocks))):
            text = blocks[bi].text
            lo = o.offset if bi == o.block else 0
            hi = nxt.offset if (nxt and bi == nxt.block) else len(text)
            if bi == end_block and (not nxt or nxt.offset == 0):
                break
            parts.append(text[lo:hi].strip())
        text = "\n".join(p for p in parts if p)
        pages = [blocks[bi].page for bi in range(o.block, max(o.block + 1, min(end_block, len(blocks))))
                 if blocks[bi].page]
        title = o.title or title_of(text)
        derived = not o.title
        items.append(Segment(label=o.label or None, title=title or "Untitled", text=text,
                             pages=(min(pages), max(pages)) if pages else None,
                             anchor=blocks[o.block].anchor, title_derived=derived))
    return MeetingSegments(date, body, header, items)


def _drop_header_openings(blocks: list[Block], opens: list[Opening]) -> list[Opening]:
    """Heading openings that are the document's own title lines, not items: those up to the
    meeting's date line at the top, and lines naming the meeting, its date or attendance."""
    dated = next((i for i, b in enumerate(blocks[:12]) if find_date(b.text)), -1)
    out = []
    for o in opens:
        text = blocks[o.block].text
        if o.kind == "heading" and o.block <= dated:
            continue
        leading = not out and o.kind == "heading"
        if leading and (MEETING_START.search(text) or (find_date(text) and len(text.split()) < 12)
                        or re.match(r"^(?:present|attendance|in attendance|members present|also present|"
                                    r"absent|apologies:)\b", text, re.I)
                        or re.fullmatch(r"(?:minutes|agenda|draft minutes)", text.strip(" :"), re.I)):
            continue
        out.append(o)
    return out


def sections_of(blocks: list[Block], target: int = 1500) -> list[Segment]:
    """No item structure: sections of about `target` characters, cut at paragraph gaps."""
    out: list[Segment] = []
    current: list[Block] = []
    size = 0
    for b in _sentence_pieces(blocks, target):
        # Cut at a paragraph or heading; in hard-wrapped text with no blank lines, at a line
        # that starts a sentence once the section is half as long again; never past twice.
        boundary = b.gap or b.heading or b.bold
        sentence = bool(current) and current[-1].text.rstrip().endswith((".", "?", "!", ":"))
        if current and (size >= target and boundary or size >= 1.5 * target and sentence
                        or size >= 2 * target):
            out.append(_section(current))
            current, size = [], 0
        current.append(b)
        size += len(b.text)
    if current:
        out.append(_section(current))
    return out


def _sentence_pieces(blocks: list[Block], target: int) -> list[Block]:
    """Blocks longer than `target` (a page-long paragraph) cut at sentence ends."""
    out = []
    for b in blocks:
        if len(b.text) <= target:
            out.append(b)
            continue
        piece = ""
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", b.text):
            if piece and len(piece) + len(sentence) > target:
                out.append(replace(b, text=piece, gap=True))
                piece = ""
            piece = f"{piece} {sentence}".strip()
        if piece:
            out.append(replace(b, text=piece, gap=True))
    return out


def _section(blocks: list[Block]) -> Segment:
    from .parse import derive_title

    text = "\n".join(b.text for b in blocks)
    first = next((b for b in blocks if (b.heading or b.bold) and len(b.text.split()) <= 12), None)
    title = title_of(first.text) if first else derive_title(text)
    pages = [b.page for b in blocks if b.page]
    return Segment(label=None, title=title, text=text, pages=(min(pages), max(pages)) if pages else None,
                   anchor=blocks[0].anchor, title_derived=first is None)
