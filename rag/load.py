"""Turn a minutes file of any supported type into plain text.

Each loader keeps the line structure that the segmenter relies on: table rows end in
``|`` (the layout of ModernGov web captures), paragraphs are separate lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from .records import Block

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


# --- Blocks: the text with the layout cues the segmenter reads ------------------------------

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_BOLD = re.compile(r"^\s*(?:\*\*|__)(.+?)(?:\*\*|__)\s*[:.]?\s*(.*)$")
_HTML_IN_TEXT = re.compile(r"<br\s*/?>|<p\b|</p>|<hr\s*/?>|&(?:pound|amp|nbsp|quot);", re.I)


def load_blocks(path: Path) -> list[Block]:
    """The file as Blocks (lines or paragraphs with layout cues), or LoadError."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return pdf_blocks(path)
    if suffix == ".docx":
        return docx_blocks(path)
    text = load_text(path) if suffix not in (".html", ".htm") else None
    if text is None or len(_HTML_IN_TEXT.findall(text[:20000])) >= 5:
        raw = text if text is not None else read_text_file(path.read_bytes())
        return html_blocks(raw)
    return text_blocks(text)


def text_blocks(text: str) -> list[Block]:
    """Lines of plain text or markdown; '#' headings and whole-line bold become cues."""
    out: list[Block] = []
    gap = True
    in_front_matter = text.startswith("---\n")
    for n, raw in enumerate(text.replace("\r\n", "\n").split("\n")):
        line = raw.strip()
        if in_front_matter:
            if n and line == "---":
                in_front_matter = False
            continue
        if not line:
            gap = True
            continue
        heading, bold = 0, False
        m = _MD_HEADING.match(line)
        if m:
            heading, line = len(m.group(1)), m.group(2)
        else:
            b = _MD_BOLD.match(line)
            if b and len(b.group(1).split()) <= 14:
                bold = True
                line = (b.group(1) + (" " + b.group(2) if b.group(2) else "")).strip()
        line = line.replace("\\$", "$").replace("\\*", "*")
        if line:
            # Runs of spaces are kept: in text dumped from PDFs they are where columns and
            # glued-together items meet.
            out.append(Block(text=line.replace("\t", "   "), heading=heading, bold=bold, gap=gap))
            gap = False
    return out


_HTML_BLOCKS = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th", "dt", "dd",
                "blockquote", "pre", "section", "article", "table", "ul", "ol", "br", "hr"}


def html_blocks(html: str) -> list[Block]:
    """Headings keep their level and id; a top-level <ol> item's number goes to its first block."""
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "button", "form",
                     "aside", "svg", "iframe", "select"]):
        tag.decompose()
    root = soup.body or soup
    # Main content first: an <article>/<main> holds the minutes on most site templates.
    main = root.find("main") or root.find("article") or root
    out: list[Block] = []
    st = {"buf": [], "heading": 0, "anchor": None, "bold": False, "rule": False, "pending": None,
          "last_anchor": None}

    def flush():
        text = " ".join("".join(st["buf"]).split())
        if text:
            out.append(Block(text=text, heading=st["heading"], anchor=st["anchor"] or st["last_anchor"],
                             number=st["pending"], bold=st["bold"], gap=True, rule=st["rule"]))
            st.update(rule=False, pending=None)
        st.update(buf=[], heading=0, anchor=None, bold=False)

    def walk(node, lists: list[list]):
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child).__name__ == "NavigableString":
                    st["buf"].append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in ("br", "hr"):
                flush()
                st["rule"] = st["rule"] or name == "hr"
                continue
            if name not in _HTML_BLOCKS:
                if name in ("strong", "b") and not "".join(st["buf"]).strip():
                    st["bold"] = True
                walk(child, lists)
                continue
            flush()
            if name in ("ol", "ul"):
                raw = str(child.get("start", "1"))
                walk(child, lists + [[name, int(raw) - 1 if raw.isdigit() else 0]])
                flush()
                continue
            if name == "li" and len(lists) == 1 and lists[0][0] == "ol":
                lists[0][1] += 1
                st["pending"] = str(lists[0][1])
            if name[0] == "h" and name[1:].isdigit():
                st["heading"] = int(name[1:])
                anchor = child.get("id") or (child.find(id=True) or {}).get("id")
                st["anchor"] = anchor
                st["last_anchor"] = anchor or st["last_anchor"]
            walk(child, lists)
            flush()

    walk(main, [])
    flush()
    return out


def pdf_blocks(path: Path) -> list[Block]:
    """Lines of a PDF with page, boldness and relative font size (pdfplumber's characters)."""
    import statistics
    from collections import Counter

    try:
        import pdfplumber
        from pdfminer.pdfparser import PDFSyntaxError
        from pdfplumber.utils.exceptions import PdfminerException
    except ImportError:  # pragma: no cover - installed with the project
        return [Block(text=line) for line in pdf_to_text(path).splitlines() if line.strip()]
    rows: list[tuple[int, str, float, bool, float, float]] = []
    try:
        with pdfplumber.open(str(path)) as pdf:
            for pno, page in enumerate(pdf.pages, 1):
                prev_bottom = None
                for ln in page.extract_text_lines(return_chars=True, strip=True):
                    chars = [c for c in ln["chars"] if c["text"].strip()]
                    if not chars:
                        continue
                    size = statistics.median(c["size"] for c in chars)
                    bold = _leading_bold(ln["chars"])
                    gap = prev_bottom is not None and ln["top"] - prev_bottom > size * 0.9
                    prev_bottom = ln["bottom"]
                    rows.append((pno, ln["text"], size, bold, ln["x0"], 1.0 if gap else 0.0))
    except (PdfminerException, PDFSyntaxError, ValueError, KeyError, OSError, TypeError) as exc:
        reason = str(exc.args[0] if exc.args else exc)
        raise LoadError(f"not a readable PDF ({reason})") from None
    if sum(len(r[1]) for r in rows) < 20:
        raise LoadError("PDF has no text layer (a scan?); run OCR on it first, e.g. ocrmypdf")
    weights = Counter()
    for r in rows:
        weights[round(r[2], 1)] += len(r[1])
    body = weights.most_common(1)[0][0] or 1.0
    return [Block(text=" ".join(t.split()), page=p, bold=b, size=round(s / body, 2), gap=bool(g))
            for p, t, s, b, _x, g in rows]


def _is_bold_font(name: str) -> bool:
    low = name.lower()
    return any(k in low for k in ("bold", "black", "heavy", ",b", "-b", "semibold", "demi"))


def _leading_bold(chars: list[dict]) -> bool:
    """The line opens with at least two bold words (a heading, or a run-in heading).

    pdfplumber's characters carry no spaces, so words are split where the gap to the next
    character is wider than a fifth of the font size.
    """
    words: list[bool] = []        # per word: all of its characters bold
    prev = None
    for c in chars:
        if not c["text"].strip():
            prev = None
            continue
        new_word = prev is None or c["x0"] - prev["x1"] > 0.2 * c["size"]
        if new_word:
            words.append(True)
        words[-1] = words[-1] and _is_bold_font(c.get("fontname", ""))
        prev = c
    lead = 0
    for w in words:
        if not w:
            break
        lead += 1
    return lead >= 2 or (lead >= 1 and len(words) <= 2)


def docx_blocks(path: Path) -> list[Block]:
    """Paragraphs with their heading level, list numbering and boldness; table rows as lines."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, ValueError, KeyError, OSError) as exc:
        raise LoadError(f"not a readable .docx file ({exc.__class__.__name__})") from None
    out: list[Block] = []
    counters: dict[tuple[str, int], int] = {}
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = docx.text.paragraph.Paragraph(child, document)
            text = " ".join(para.text.split())
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            m = re.match(r"(?:Heading|Title)\s*(\d?)", style, re.I)
            heading = int(m.group(1) or 1) if m else 0
            number = None
            num_pr = child.find(".//{*}numPr")
            if num_pr is not None:
                ilvl = num_pr.find("{*}ilvl")
                num_id = num_pr.find("{*}numId")
                level = int(ilvl.get(docx.oxml.ns.qn("w:val"))) if ilvl is not None else 0
                key = (num_id.get(docx.oxml.ns.qn("w:val")) if num_id is not None else "0", level)
                counters[key] = counters.get(key, 0) + 1
                for deeper in [k for k in counters if k[0] == key[0] and k[1] > level]:
                    counters.pop(deeper)
                if level == 0:
                    number = str(counters[key])
            runs = [r for r in para.runs if r.text.strip()]
            lead = " ".join(r.text for r in runs[:3])
            bold = bool(runs) and all(r.bold or (para.style is not None and para.style.font.bold) for r in runs[:2]) \
                and len(lead.split()) >= 1
            out.append(Block(text=text, heading=heading, number=number, bold=bold, gap=True))
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            for row in table.rows:
                cells = []
                for c in row.cells:
                    t = " ".join(c.text.split())
                    if t and (not cells or cells[-1] != t):
                        cells.append(t)
                if cells:
                    out.append(Block(text=" | ".join(cells), gap=True))
    return out
