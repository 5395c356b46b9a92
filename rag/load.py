"""Turn a minutes file of any supported type into plain text.

Each loader keeps the line structure that the segmenter relies on: table rows end in
``|`` (the layout of ModernGov web captures), paragraphs are separate lines.
"""

from __future__ import annotations

from pathlib import Path

SUPPORTED = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")


class LoadError(Exception):
    """A file that cannot be read as minutes; the message is shown to the user as is."""


def read_text_file(data: bytes) -> str:
    """Decode UTF-8, else detect the legacy encoding (council exports are often cp1252)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        return data.decode("cp1252", errors="replace")
    return str(best)


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return True
    if not head:
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls / len(head) > 0.05


def html_to_text(html: str) -> str:
    """Blocks become lines and table rows become ``cell | cell |`` lines."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer"]):
        tag.decompose()
    lines: list[str] = []
    body = soup.body or soup
    for row in body.find_all("tr"):
        if row.find_parent("tr") is not None:
            continue
        cells = [c.get_text(" ", strip=True) for c in row.find_all(["td", "th"], recursive=False)]
        row.replace_with(soup.new_string("\n" + " | ".join(cells) + " |\n"))
    for br in body.find_all("br"):
        br.replace_with("\n")
    for block in body.find_all(["p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"]):
        block.insert_before("\n")
        block.insert_after("\n")
    text = body.get_text()
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if line:
            lines.append(line)
    return "\n".join(lines)


def pdf_to_text(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise LoadError(f"not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    text = "\n".join(pages)
    if len(text.strip()) < 20:
        raise LoadError("PDF has no text layer (a scan?); run OCR on it first, e.g. ocrmypdf")
    return text


def docx_to_text(path: Path) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, ValueError, KeyError, OSError) as exc:
        raise LoadError(f"not a readable .docx file ({exc.__class__.__name__})") from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(c.text.strip() for c in row.cells) + " |")
    return "\n".join(lines)


def load_text(path: Path) -> str:
    """Plain text of one file, or LoadError with a one-line reason."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED)}")
    try:
        if suffix == ".pdf":
            text = pdf_to_text(path)
        elif suffix == ".docx":
            text = docx_to_text(path)
        else:
            data = path.read_bytes()
            if _looks_binary(data):
                raise LoadError("binary data in a text file; is the extension right?")
            text = read_text_file(data)
            if suffix in (".html", ".htm"):
                text = html_to_text(text)
    except FileNotFoundError:
        raise LoadError("file vanished before it could be read") from None
    except IsADirectoryError:
        raise LoadError("is a directory") from None
    except PermissionError:
        raise LoadError("permission denied") from None
    if not text.strip():
        raise LoadError("file is empty")
    return text.replace("\r\n", "\n").replace("\r", "\n")
