"""The Gradio app: the pure helpers, then the real app driven in headless Chromium.

The browser tests start `python app.py` on a free port with a fresh index folder and the
tiny SmolLM2 model, and drive it with Playwright using Debian's Chromium (no download).
The tiny model writes poor answers, so they assert on the sources, never on wording.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from rag.plan import rewrite_followup

import app
from rag.records import Answer, Citation, Hit
from rag.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 180      # the first start builds the index from the bundled minutes
ANSWER_TIMEOUT = 150

PARKING_MINUTES = """Venue: County Hall
Contact: Democratic Services
| No. | Item |
|---|---|
|
Introductions Minutes: The Chairman welcomed everyone to the meeting. |
|
|
Parking enforcement review. Minutes: The Board considered a report on parking enforcement in the town centre. The Board agreed to spend £45,000 on a new parking enforcement van. RESOLVED: That the purchase be approved. |
|
|
Street lighting upgrade. Minutes: The Board noted progress on replacing street lights with LED units across the district. RESOLVED: That the update be noted. |
"""


# --- pure functions ----------------------------------------------------------------------
@pytest.mark.parametrize("question,previous,expected", [
    ("who funds it?", "what happened to the DArDR post?", "who funds it? (about: DArDR post)"),
    ("when?", "what happened to the DArDR post?", "when? (about: DArDR post)"),
    ("who funds the post?", "what happened to the DArDR post?", "who funds the post? (about: DArDR)"),
    ("what did they decide?", "What was decided about Community Protection Notices?",
     "what did they decide? (about: Community Protection Notices)"),
    # a follow-up of a follow-up keeps the original subject
    ("who presented it?", "who funds it? (about: DArDR post)", "who presented it? (about: DArDR post)"),
    # standalone questions and first questions are left alone
    ("How much funding did the Violence Reduction Network get?", "what happened to the DArDR post?",
     "How much funding did the Violence Reduction Network get?"),
    ("What did the Board agree to spend on the parking enforcement van?", "what happened to the DArDR post?",
     "What did the Board agree to spend on the parking enforcement van?"),
    ("who funds it?", None, "who funds it?"),
    ("  who   funds it? ", "", "who funds it?"),
])
def test_rewrite_followup(question, previous, expected):
    assert rewrite_followup(question, previous) == expected


def test_build_filters_accepts_and_normalises_dates():
    f = app.build_filters(" 2021-01-01 ", "2025-03", "lscsb-minutes-2025-03.txt")
    assert (f.date_from, f.date_to, f.doc) == ("2021-01-01", "2025-03-31", "lscsb-minutes-2025-03.txt")
    f = app.build_filters("", "2019", app.ALL_DOCS)
    assert (f.date_from, f.date_to, f.doc) == (None, "2019-12-31", None)
    assert not app.build_filters(None, None, None).active()


@pytest.mark.parametrize("date_from,date_to,words", [
    ("24/09/2021", "", "should look like 2025-03-01"),
    ("2021-13-01", "", "should look like"),
    ("", "yesterday", "'to' date"),
    ("2025-01-01", "2021-01-01", "is after"),
])
def test_build_filters_rejects_bad_dates_with_a_friendly_message(date_from, date_to, words):
    with pytest.raises(app.FilterError, match=words):
        app.build_filters(date_from, date_to, None)


def test_sources_html_marks_quotes_escapes_text_and_links_the_full_item():
    c = Citation(n=1, doc="a<b>.txt", meeting_date="2025-09", item=9, minute=None,
                 title="L&R Domestic Abuse related Death Reviews", item_id=7,
                 quote="RESOLVED: That the DArDR post be extended.")
    ans = Answer("q", "It was extended [1].", False, citations=[c], timings_ms={"first_token": 1500, "total": 3000})
    body = "L&R Domestic Abuse related Death Reviews. Minutes: <script>x</script>\nThat the DArDR\npost be extended."
    out = app.sources_html(ans, lambda item_id: body if item_id == 7 else "", searched="who? (about: DArDR)")
    assert 'data-state="done"' in out and "<h3>Sources</h3>" in out
    assert "September 2025" in out and "item 9" in out and "a&lt;b&gt;.txt" in out
    assert "<mark>RESOLVED: That the DArDR post be extended.</mark>" in out
    assert "<details><summary>Full item text</summary>" in out
    assert "&lt;script&gt;" in out and "<script>" not in out
    # the supporting sentence is also marked inside the full, hard-wrapped item text
    assert "<mark>That the DArDR post be extended.</mark>" in out
    assert "first words after 1.5s" in out


def test_sources_html_on_abstention_lists_closest_items_not_sources():
    hit = Hit(item_id=3, chunk_id=1, score=0.1, doc="m.txt", meeting_date="2019-12", item=4, minute=None,
              title="Crimestoppers", kind="minutes", text="chunk", item_text="whole item")
    ans = Answer("q", "The minutes provided do not say.", True, closest=[hit])
    out = app.sources_html(ans, lambda item_id: "")
    assert app.NOT_IN_MINUTES in out and "Closest agenda items" in out and "Crimestoppers" in out
    assert "<h3>Sources</h3>" not in out and 'class="source"' not in out
    assert app.chat_text(ans).startswith("**Not in the minutes.**")


class _StubCorpus:
    """Stands in for rag.ingest.Corpus: 'bad' files fail to parse, others add two items."""

    def __init__(self):
        import threading

        self.lock = threading.RLock()
        self.names: list[str] = []
        self.store = self

    def documents(self):
        return [(i, f"/x/{n}", n) for i, n in enumerate(self.names)]

    def ingest(self, paths, progress=False):
        from rag.ingest import FileResult, IngestReport

        (path,) = paths
        if "bad" in path.name:
            return IngestReport(files=[FileResult(str(path), "error", error="no agenda items found")])
        self.names.append(path.name)
        return IngestReport(files=[FileResult(str(path), "added", items=2, chunks=2)])


def test_add_files_keeps_good_uploads_and_reports_bad_ones(tmp_path):
    from types import SimpleNamespace

    upload_dir = tmp_path / "index" / "uploads"
    the_app = app.App(answerer=SimpleNamespace(corpus=_StubCorpus()), upload_dir=upload_dir)
    good, bad, odd = tmp_path / "good-2025-11.txt", tmp_path / "bad.pdf", tmp_path / "notes.xlsx"
    for f in (good, bad, odd):
        f.write_text("x")
    steps = []
    summary, names = the_app.add_files([str(good), str(bad), str(odd)],
                                       progress=lambda frac, desc=None: steps.append(desc))
    assert "**good-2025-11.txt**: added, 2 agenda items" in summary
    assert "**bad.pdf**: not added — no agenda items found" in summary
    assert "**notes.xlsx**: not added" in summary
    assert names == ["good-2025-11.txt"]
    assert (upload_dir / "good-2025-11.txt").exists() and not (upload_dir / "bad.pdf").exists()
    assert steps[0] == "Indexing good-2025-11.txt" and steps[-1] == "Done"
    assert "Choose one or more" in the_app.add_files([])[0]


# --- the running app -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model):
    """`python app.py` on a free port with a fresh index and the tiny model; stopped afterwards."""
    if not CHROMIUM.exists():
        pytest.skip("browser test needs Debian's Chromium at /usr/bin/chromium "
                    "(apt-get install -y chromium, or `make chromium`)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    base = tmp_path_factory.mktemp("app")
    port = _free_port()
    env = dict(os.environ, RAG_INDEX_DIR=str(base / "index"), RAG_MODEL_PATH=tiny_model,
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    env.pop("GRADIO_SERVER_NAME", None)
    log_path = base / "app.log"
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port)],
                                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not answer on {url} within {START_TIMEOUT}s:\n{_tail(log_path)}")
            time.sleep(1)
        yield {"url": url, "index_dir": base / "index", "log": log_path, "dir": base}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(server["url"], wait_until="domcontentloaded")
    pg.wait_for_selector("#question textarea")
    yield pg
    context.close()


# Text in the bot's answer to the n-th question (n = users so far): earlier answers do not count.
FIRST_BOT_TEXT = """(n) => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    return bots.length >= n && bots[n - 1].innerText.trim().length > 0;
}"""


def ask(page, question: str) -> float:
    """Type and submit a question; wait for the finished answer; return seconds to first text."""
    box = page.locator("#question textarea")
    box.fill(question)
    asked = page.locator('#chat [data-testid="user"]').count() + 1
    before = page.inner_html("#sources")
    start = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(FIRST_BOT_TEXT, arg=asked, polling=50, timeout=ANSWER_TIMEOUT * 1000)
    first = time.perf_counter() - start
    # Finished: the panel is done and is not the previous answer's panel.
    page.wait_for_function(
        "(before) => { const s = document.querySelector('#sources');"
        " const p = s && s.querySelector('.src-panel');"
        " return p && p.dataset.state === 'done' && s.innerHTML !== before; }",
        arg=before, polling=100, timeout=ANSWER_TIMEOUT * 1000)
    return first


@pytest.mark.browser
def test_browser_streams_an_answer_with_its_source(page, server):
    # The first screen: title, explanation, example questions, an empty sources panel.
    assert page.get_by_text(app.TITLE).first.is_visible()
    for example in app.EXAMPLES[:4]:
        assert page.get_by_text(example, exact=True).first.is_visible()

    first = ask(page, "what happened to the DArDR post?")
    print(f"\ntime from submit to first streamed text in the browser: {first:.2f}s")

    sources = page.locator("#sources")
    assert sources.locator("h3", has_text="Sources").is_visible()
    cited = sources.locator('li.source[data-doc="lrscsb-minutes-2025-09.txt"][data-item="9"]')
    assert cited.count() >= 1, page.inner_text("#sources")
    text = cited.first.inner_text()
    assert "September 2025" in text and "item 9" in text
    assert "L&R Domestic Abuse related Death Reviews" in text
    assert cited.first.locator("mark").count() >= 1                  # the supporting quote
    # the full item is one click away
    details = cited.first.locator("details")
    details.locator("summary").click()
    assert details.locator(".item-body").is_visible()
    assert "DArDR" in details.locator(".item-body").inner_text()
    # the user's question and an answer are in the chat; no traceback anywhere
    assert page.locator('#chat [data-testid="user"]').first.inner_text().strip() == "what happened to the DArDR post?"
    assert "Traceback" not in page.content()

    # Outside pytest's rotating basetemp, so the picture outlives later test runs.
    shot = Path(tempfile.mkdtemp(prefix="minutes-qa-app-")) / "app-dardr.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    # "What happened" is told from the minutes; a figure question is generated by the model.
    # (Not "how much": the tiny model's answer rarely holds the sum, and an answer to "how
    # much" without one is declined.)
    first = ask(page, "What funding did the Violence Reduction Network get?")
    print(f"time from submit to first streamed model text in the browser: {first:.2f}s")
    assert page.locator('#chat [data-testid="user"]').count() == 2
    assert "Traceback" not in page.content()
    # The Violence Reduction Network funding is December 2019, item 10 ("Work of the Office").
    vrn = page.locator('#sources li.source[data-doc="lscsb-minutes-2019-12.txt"][data-item="10"]')
    assert vrn.count() >= 1, page.inner_text("#sources")


@pytest.mark.browser
def test_browser_rejects_a_bad_date_filter_politely(page):
    page.get_by_text("Filters", exact=True).click()
    page.locator("#date-from input, #date-from textarea").first.fill("24/09/2021")
    page.locator("#question textarea").fill("What was decided about Community Protection Notices?")
    page.locator("#question textarea").press("Enter")
    page.wait_for_selector('#sources .src-panel[data-state="error"]', timeout=30_000)
    assert "should look like 2025-03-01" in page.inner_text("#sources")
    assert "Traceback" not in page.content()


@pytest.mark.browser
def test_browser_upload_makes_new_minutes_searchable(page, server, tmp_path):
    name = "parking-minutes-2025-11.txt"
    new_file = tmp_path / name
    new_file.write_text(PARKING_MINUTES, encoding="utf-8")

    page.get_by_text("Add minutes", exact=True).click()
    page.locator("#upload input[type=file]").set_input_files(str(new_file))
    # (while it runs, the same element shows gr.Progress: "Indexing parking-minutes-…")
    page.wait_for_function(
        "() => (document.querySelector('#upload-result')?.innerText || '').includes('Upload results')",
        timeout=120_000)
    summary = page.inner_text("#upload-result")
    assert re.search(rf"{re.escape(name)}: added, [1-9]\d* agenda items", summary), summary
    assert (server["index_dir"] / "uploads" / name).exists()     # kept with the index

    ask(page, "How much did the Board agree to spend on a parking enforcement van?")
    sources = page.locator(f'#sources li.source[data-doc="{name}"]')
    assert sources.count() >= 1, page.inner_text("#sources")
    assert "Parking enforcement review" in sources.first.inner_text()
    assert "November 2025" in sources.first.inner_text()
    # the new document is offered in the document filter
    page.get_by_text("Filters", exact=True).click()
    page.locator("#doc-filter input").first.click()
    assert page.get_by_role("option", name=name).count() == 1


@pytest.mark.browser
def test_browser_source_opens_the_original_pdf_at_its_page(page, server):
    """A real PDF of another council, uploaded; its source links to the file at the item's page."""
    from rag.layouts import LAYOUT_DIR

    pdf = LAYOUT_DIR / "alameda-planning-board-2023-09-11.pdf"
    page.get_by_text("Add minutes", exact=True).click()
    page.locator("#upload input[type=file]").set_input_files(str(pdf))
    page.wait_for_function(
        "() => (document.querySelector('#upload-result')?.innerText || '').includes('Upload results')",
        timeout=120_000)
    assert re.search(rf"{re.escape(pdf.name)}: added, [1-9]\d* agenda items", page.inner_text("#upload-result"))

    ask(page, "What did the Alameda Planning Board decide about the South Shore Center parcel map?")
    link = page.locator(f'#sources [data-doc="{pdf.name}"] a.src-open').first
    href = link.get_attribute("href")
    assert href and "/gradio_api/file=" in href and re.search(r"#page=\d+$", href), href
    assert "p." in page.locator(f'#sources [data-doc="{pdf.name}"] .src-head').first.inner_text()
    with urllib.request.urlopen(server["url"].rstrip("/") + href.split("#")[0], timeout=30) as r:
        assert r.status == 200 and r.read(5) == b"%PDF-"
