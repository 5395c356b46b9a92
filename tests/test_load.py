"""Loaders on documents made here: a ModernGov page, a PDF, a DOCX, legacy text, bad files."""

from __future__ import annotations

import pytest

from rag.load import LoadError, load_text
from rag.parse import parse_document

MODERNGOV = """<!DOCTYPE html><html><head><title>Minutes - Cabinet</title>
<script>var x = 1;</script></head><body>
<h1>Minutes of a meeting of the Cabinet held on Tuesday, 14 May 2024</h1>
<table class="mgItemTable">
<tr><th>No.</th><th>Item</th></tr>
<tr><td>1.</td><td><p class="mgSubItemTitle">Apologies for absence</p>
  <div class="mgItemMinutes"><p>Minutes:</p><p>Apologies were received from Cllr Shah.</p></div></td></tr>
<tr><td>2.</td><td><p class="mgSubItemTitle">Library opening hours</p>
  <div><p>Minutes:</p><p>The Cabinet considered a report on library opening hours.
  It was noted that Sunday opening would cost £12,500 a year.</p>
  <p>RESOLVED: That Sunday opening be approved at Market Street library.</p></div></td></tr>
</table></body></html>"""


def test_moderngov_html_page_gives_numbered_items(tmp_path):
    page = tmp_path / "cabinet-2024-05-14.html"
    page.write_text(MODERNGOV, encoding="utf-8")
    items = [i for i in parse_document(page.name, load_text(page)) if i.kind == "minutes"]
    assert [(i.item, i.title) for i in items] == [(1, "Apologies for absence"), (2, "Library opening hours")]
    assert items[1].meeting_date == "2024-05-14"
    assert "£12,500" in items[1].body
    assert items[1].resolution == "RESOLVED: That Sunday opening be approved at Market Street library."
    assert "var x" not in items[0].body


def test_pdf_text_layer_numbered_minutes(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    lines = [
        "Minutes of a meeting of the Highways Committee held on Monday, 3 March 2025.",
        "12. Pothole repairs",
        "The Committee noted that 1,204 potholes had been repaired since January.",
        "RESOLVED: That the repair programme be extended to rural roads.",
        "13. Any other business",
        "There was no other business.",
    ]
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "highways.pdf"
    pdf.output(str(path))
    items = [i for i in parse_document(path.name, load_text(path)) if i.kind == "minutes"]
    assert [(i.minute, i.title) for i in items] == [(12, "Pothole repairs"), (13, "Any other business")]
    assert items[0].meeting_date == "2025-03-03"
    assert items[0].committee == "Highways Committee"
    assert "1,204 potholes" in items[0].body


def test_docx_minutes(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("Minutes of a meeting of the Licensing Panel held on 9 October 2023.")
    document.add_paragraph("5. Taxi licence fees")
    document.add_paragraph("The Panel agreed new fees of £180 per licence.")
    document.add_paragraph("AGREED: That the fees take effect from 1 January 2024.")
    path = tmp_path / "licensing.docx"
    document.save(str(path))
    items = [i for i in parse_document(path.name, load_text(path)) if i.kind == "minutes"]
    assert [(i.minute, i.title, i.meeting_date) for i in items] == [(5, "Taxi licence fees", "2023-10-09")]
    assert items[0].resolution.startswith("AGREED")


def test_cp1252_text_is_decoded(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("1. Caf\xe9 licence\nThe Board noted the \x93caf\xe9\x94 licence fee of \xa350.\n".encode("latin-1"))
    text = load_text(path)
    assert "Café licence" in text and "£50" in text


@pytest.mark.parametrize("name,content,message", [
    ("empty.txt", b"", "empty"),
    ("blank.md", b"   \n\n", "empty"),
    ("binary.txt", bytes(range(256)) * 20, "binary"),
    ("sheet.xlsx", b"PK\x03\x04", "unsupported file type"),
    ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
    ("broken.docx", b"not a zip", "docx"),
])
def test_bad_files_give_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=message) as info:
        load_text(path)
    assert "\n" not in str(info.value)


def test_pdf_without_text_layer(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")      # a "scan": marks on the page, no text
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    with pytest.raises(LoadError, match="no text layer"):
        load_text(path)


def test_vanished_file(tmp_path):
    with pytest.raises(LoadError, match="vanished"):
        load_text(tmp_path / "gone.txt")
