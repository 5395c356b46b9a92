"""The plain records that flow between the pipeline stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]


def format_date(iso: str | None) -> str:
    """'2021-09-24' -> '24 September 2021'; '2025-09' -> 'September 2025'; None -> 'date unknown'."""
    if not iso:
        return "date unknown"
    parts = iso.split("-")
    if len(parts) == 3:
        return f"{int(parts[2])} {MONTHS[int(parts[1]) - 1]} {parts[0]}"
    if len(parts) == 2:
        return f"{MONTHS[int(parts[1]) - 1]} {parts[0]}"
    return iso


@dataclass
class Block:
    """One line or paragraph of a loaded document, with the layout cues the segmenter reads.

    The loaders fill what their format knows: PDF fonts give ``bold`` and ``size``, HTML and
    Word give ``heading`` levels and list ``number``s, HTML gives ``anchor`` ids.
    """

    text: str
    page: int | None = None       # 1-based PDF page
    anchor: str | None = None     # HTML id of the heading (or of the nearest one before it)
    heading: int = 0              # 1-6 from markup (h1-h6, Word "Heading N", markdown #); 0 = none
    bold: bool = False            # the line starts with at least two words in bold
    size: float = 1.0             # font size relative to the document's body text (PDF)
    number: str | None = None     # list number given by markup, not written in the text
    gap: bool = False             # a blank line or a paragraph break comes before it
    rule: bool = False            # a horizontal rule (<hr>) comes before it


@dataclass
class Item:
    """One agenda item (or one report) as the parser understood it."""

    doc: str                      # source file name
    kind: str                     # "minutes", "agenda" or "report"
    position: int                 # order within the document, from 1
    title: str
    body: str
    meeting_date: str | None = None   # ISO date, or YYYY-MM, or None when unknown
    committee: str | None = None
    item: int | None = None       # agenda item number
    minute: int | None = None     # printed minute number
    resolution: str | None = None
    title_derived: bool = False   # title made from the first sentence (missing or cut off)
    code: str | None = None       # the item's number as printed ("135/19", "4-A", "12-005")
    pages: str | None = None      # where it sits in a PDF: "4" or "4-9"
    anchor: str | None = None     # where it sits in an HTML page: the heading's id

    def citation(self) -> str:
        """'24 September 2021, minute 24: Hate Crime Strategic Update'; with a page range
        when the item came from a PDF ('13 February 2025, item 5, pp. 4-9: Budget')."""
        where = format_date(self.meeting_date)
        if self.minute is not None:
            label = f"minute {self.minute}"
        elif self.code is not None:
            label = f"item {self.code}"
        elif self.item is not None:
            label = f"item {self.item}"
        else:
            label = self.kind
        if self.pages:
            label += f", {'pp.' if '-' in self.pages else 'p.'} {self.pages}"
        return f"{where}, {label}: {self.title}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Chunk:
    """A piece of an item small enough to embed, carrying a header so it stands alone."""

    item_id: int
    seq: int
    header: str
    text: str

    @property
    def content(self) -> str:
        return f"{self.header}\n{self.text}"


@dataclass
class Hit:
    """One retrieved agenda item with its best chunk and fused score."""

    item_id: int
    chunk_id: int
    score: float
    doc: str
    meeting_date: str | None
    item: int | None
    minute: int | None
    title: str
    kind: str
    text: str                     # the best chunk's text
    item_text: str = ""           # the whole item body (for quotes and display)
    committee: str | None = None
    dense_rank: int | None = None
    keyword_rank: int | None = None
    code: str | None = None
    pages: str | None = None
    anchor: str | None = None

    def citation(self) -> str:
        return Item(doc=self.doc, kind=self.kind, position=0, title=self.title, body="",
                    meeting_date=self.meeting_date, item=self.item, minute=self.minute,
                    code=self.code, pages=self.pages).citation()

    def ref(self) -> dict:
        out = {"doc": self.doc, "meeting_date": self.meeting_date, "item": self.item,
               "minute": self.minute, "title": self.title}
        out.update({k: v for k, v in (("code", self.code), ("pages", self.pages),
                                      ("anchor", self.anchor)) if v})
        return out


@dataclass
class Citation:
    n: int
    doc: str
    meeting_date: str | None
    item: int | None
    minute: int | None
    title: str
    quote: str
    item_id: int = 0
    kind: str = "minutes"
    committee: str | None = None
    code: str | None = None
    pages: str | None = None      # PDF page range of the item, for opening the original there
    anchor: str | None = None     # HTML heading id of the item

    @classmethod
    def of(cls, n: int, source, quote: str, item_id: int) -> "Citation":
        """A citation of an Item or Hit (both carry the same location fields)."""
        return cls(n=n, doc=source.doc, meeting_date=source.meeting_date, item=source.item,
                   minute=source.minute, title=source.title, quote=quote, item_id=item_id,
                   kind=source.kind, committee=source.committee, code=source.code,
                   pages=source.pages, anchor=source.anchor)

    def label(self) -> str:
        """'Guelph City Council, 31 March 2014, item 5, pp. 4-9: ...': the body first when the
        minutes name it, the page range when the item came from a PDF."""
        text = Item(doc=self.doc, kind=self.kind, position=0, title=self.title, body="",
                    meeting_date=self.meeting_date, item=self.item, minute=self.minute,
                    code=self.code, pages=self.pages).citation()
        return f"{self.committee}, {text}" if self.committee else text


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    closest: list[Hit] = field(default_factory=list)   # shown instead of sources on abstention
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: str = "llm"

    def to_json(self) -> dict:
        out = {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [
                {k: v for k, v in asdict(c).items()
                 if k not in ("item_id", "kind") and (v is not None or k in ("item", "minute", "meeting_date"))}
                for c in self.citations
            ],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.abstained:
            out["closest"] = [h.ref() for h in self.closest]
        return out
