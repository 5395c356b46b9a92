"""Items -> chunks: one chunk per item unless it is long, each with a self-standing header."""

from __future__ import annotations

from functools import lru_cache

from .records import Chunk, Item, format_date


@lru_cache(maxsize=4)
def _splitter(size: int, overlap: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    # Paragraphs first, then lines, then sentences, so a split rarely cuts a sentence.
    return RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separators=["\n\n", "\n", ". ", "; ", " ", ""]
    )


def item_header(item: Item) -> str:
    """'Leicestershire Safer Communities Strategy Board | 24 September 2021 | minute 24 | Hate Crime ...'."""
    label = (f"minute {item.minute}" if item.minute is not None
             else f"item {item.item}" if item.item is not None else item.kind)
    parts = [item.committee, format_date(item.meeting_date), label, item.title]
    return " | ".join(p for p in parts if p)


def chunk_item(item: Item, item_id: int, size: int = 1500, overlap: int = 200) -> list[Chunk]:
    header = item_header(item)
    body = item.body.strip() or item.title
    pieces = [body] if len(body) <= size else _splitter(size, overlap).split_text(body)
    return [Chunk(item_id=item_id, seq=n, header=header, text=piece) for n, piece in enumerate(pieces)]
