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

    def citation(self) -> str:
        """'24 September 2021, minute 24: Hate Crime Strategic Update'."""
        where = format_date(self.meeting_date)
        if self.minute is not None:
            label = f"minute {self.minute}"
        elif self.item is not None:
            label = f"item {self.item}"
        else:
            label = self.kind
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

    def citation(self) -> str:
        return Item(doc=self.doc, kind=self.kind, position=0, title=self.title, body="",
                    meeting_date=self.meeting_date, item=self.item, minute=self.minute).citation()

    def ref(self) -> dict:
        return {"doc": self.doc, "meeting_date": self.meeting_date, "item": self.item,
                "minute": self.minute, "title": self.title}


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

    def label(self) -> str:
        return Item(doc=self.doc, kind=self.kind, position=0, title=self.title, body="",
                    meeting_date=self.meeting_date, item=self.item, minute=self.minute).citation()


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
                {k: v for k, v in asdict(c).items() if k not in ("item_id", "kind")} for c in self.citations
            ],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.abstained:
            out["closest"] = [h.ref() for h in self.closest]
        return out
