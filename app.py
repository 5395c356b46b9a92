"""A Gradio chat over the council minutes: streamed answers with their sources beside them.

    python app.py                      # http://127.0.0.1:7860 (or $GRADIO_SERVER_PORT)
    python app.py --port 8000          # another port
    python app.py --host 0.0.0.0       # listen on every interface (only when you mean it)

The first start builds the index from the bundled minutes (data/minutes/) and loads the
models; later starts take seconds. RAG_INDEX_DIR and RAG_MODEL_PATH work as for `ask`.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import queue
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# Nothing here may reach the network: no usage statistics, no update checks.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger("minutes-qa.app")

TITLE = "Ask the council minutes"
EXPLANATION = ("Ask a plain question about the board meetings; the answer cites the agenda items it "
               "comes from, and says so when the minutes do not cover it.")
EXAMPLES = [
    "what happened to the DArDR post?",
    "How much funding did the Violence Reduction Network get?",
    "Who presented the Hate Crime Strategic Update in 2021?",
    "What was decided about Community Protection Notices?",
    "When is Glen Parva prison due to open?",
]
UPLOAD_TYPES = [".txt", ".md", ".html", ".pdf", ".docx"]
ALL_DOCS = "All documents"
NOT_IN_MINUTES = "Not in the minutes"

# --------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------
DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class FilterError(ValueError):
    """A filter the user typed that cannot be used; the message is shown as is."""


def _check_date(value: str | None, label: str, end: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    m = DATE.fullmatch(value)
    if not m or (m.group(2) and not 1 <= int(m.group(2)) <= 12) or (m.group(3) and not 1 <= int(m.group(3)) <= 31):
        raise FilterError(f"The '{label}' date should look like 2025-03-01 (or 2025-03, or 2025), not “{value}”.")
    if end and not m.group(3):
        # "to 2025-03" means to the end of March; stored dates compare as text.
        value = value + ("-31" if m.group(2) else "-12-31")
    return value


def build_filters(date_from: str | None, date_to: str | None, doc: str | None):
    """Filters from the form, or FilterError with a friendly message."""
    from rag.store import Filters

    start = _check_date(date_from, "from", end=False)
    stop = _check_date(date_to, "to", end=True)
    if start and stop and start > stop:
        raise FilterError(f"The 'from' date ({date_from.strip()}) is after the 'to' date ({date_to.strip()}).")
    return Filters(date_from=start, date_to=stop, doc=None if not doc or doc == ALL_DOCS else doc)


# --------------------------------------------------------------------------------------
# Rendering the sources panel
# --------------------------------------------------------------------------------------
def _e(text) -> str:
    return html.escape(str(text or ""), quote=True)


def where_label(meeting_date: str | None, item: int | None, minute: int | None,
                code: str | None = None, pages: str | None = None) -> tuple[str, str]:
    from rag.records import format_date

    parts = []
    if code is not None:
        parts.append(f"item {code}")
    elif item is not None:
        parts.append(f"item {item}")
    if minute is not None:
        parts.append(f"minute {minute}")
    if pages:
        parts.append(f"{'pp.' if '-' in pages else 'p.'} {pages}")
    return format_date(meeting_date), ", ".join(parts) or "item number unknown"


def doc_html(source, link) -> str:
    """The document's name; a link that opens the original at the item's page or heading."""
    url = link(source.doc, source.pages, source.anchor) if link else None
    if not url:
        return f'<div class="src-doc">{_e(source.doc)}</div>'
    where = f" at page {source.pages.split('-')[0]}" if source.pages else ""
    return (f'<div class="src-doc"><a class="src-open" href="{_e(url)}" target="_blank" rel="noopener">'
            f'{_e(source.doc)}</a> <span class="src-note">(open the original{_e(where)})</span></div>')


def highlight(body: str, quote: str) -> str:
    """The item text, escaped, with the quoted sentence marked where it can be found."""
    from rag.evidence import unwrap

    body = unwrap(body or "")          # join the hard-wrapped lines of web captures and PDFs
    core = re.sub(r"^(?:RESOLVED|AGREED|NOTED):\s*", "", quote or "").strip()
    words = core.split()
    if len(words) >= 3:
        pattern = r"\s*".join(re.escape(w) for w in words)   # the body may be hard-wrapped
        m = re.search(pattern, body)
        if m:
            return (_e(body[:m.start()]) + "<mark>" + _e(body[m.start():m.end()]) + "</mark>"
                    + _e(body[m.end():]))
    return _e(body)


def status_html(message: str) -> str:
    return (f'<div class="src-panel" data-state="working"><h3>Sources</h3>'
            f'<p class="src-note">{_e(message)}</p></div>')


EMPTY_SOURCES = ('<div class="src-panel" data-state="empty"><h3>Sources</h3>'
                 '<p class="src-note">The agenda items behind each answer appear here.</p></div>')


def error_html(message: str) -> str:
    return (f'<div class="src-panel" data-state="error"><h3>Sources</h3>'
            f'<p class="src-note">{_e(message)}</p></div>')


def sources_html(answer, item_text, searched: str | None = None, link=None) -> str:
    """The Sources panel for an Answer; item_text(item_id) gives an item's full body and
    link(doc, pages, anchor) a URL of the original file (None: no link)."""
    out = ['<div class="src-panel" data-state="done">']
    if answer.abstained:
        out.append(f'<h3 class="not-found">{NOT_IN_MINUTES}</h3>')
        if answer.closest:
            out.append('<p class="src-note">Closest agenda items — they do <b>not</b> answer the question:</p>'
                       '<ol class="closest-list">')
            for h in answer.closest:
                date, where = where_label(h.meeting_date, h.item, h.minute, h.code, h.pages)
                out.append(
                    f'<li class="closest" data-doc="{_e(h.doc)}" data-date="{_e(h.meeting_date)}" '
                    f'data-item="{_e(h.item)}"><div class="src-head"><b>{_e(date)}</b> · {_e(where)} · '
                    f'{_e(h.title)}</div>{doc_html(h, link)}'
                    f'<details><summary>Full item text</summary><div class="item-body">'
                    f'{highlight(item_text(h.item_id) or h.item_text or h.text, "")}</div></details></li>')
            out.append("</ol>")
        else:
            out.append('<p class="src-note">No agenda item came close.</p>')
    else:
        out.append('<h3>Sources</h3><ol class="sources-list">')
        for c in answer.citations:
            date, where = where_label(c.meeting_date, c.item, c.minute, c.code, c.pages)
            body = item_text(c.item_id)
            out.append(
                f'<li class="source" value="{c.n}" data-n="{c.n}" data-doc="{_e(c.doc)}" '
                f'data-date="{_e(c.meeting_date)}" data-item="{_e(c.item)}">'
                f'<div class="src-head"><b>{_e(date)}</b> · {_e(where)} · {_e(c.title)}</div>'
                f'{doc_html(c, link)}'
                f'<blockquote class="src-quote"><mark>{_e(c.quote)}</mark></blockquote>'
                + (f'<details><summary>Full item text</summary><div class="item-body">'
                   f'{highlight(body, c.quote)}</div></details>' if body else "")
                + "</li>")
        out.append("</ol>")
    t = answer.timings_ms
    facts = []
    if searched:
        facts.append(f"searched for: “{_e(searched)}”")
    if "first_token" in t:
        facts.append(f"first words after {t['first_token'] / 1000:.1f}s")
    if "total" in t:
        facts.append(f"{t['total'] / 1000:.1f}s in all")
    if facts:
        out.append(f'<p class="src-meta">{" · ".join(facts)}</p>')
    out.append("</div>")
    return "".join(out)


def chat_text(answer) -> str:
    """What the assistant bubble finally says."""
    from rag.answer import ABSTAIN_TEXT

    if answer.abstained:
        detail = "" if answer.answer == ABSTAIN_TEXT else f" {answer.answer}"
        closest = " The closest agenda items are listed beside this, but they do not answer it." \
            if answer.closest else ""
        return f"**{NOT_IN_MINUTES}.**{detail}{closest}"
    return answer.answer


# --------------------------------------------------------------------------------------
# The application state shared by every session
# --------------------------------------------------------------------------------------
@dataclass
class App:
    answerer: object          # rag.answer.Answerer
    upload_dir: Path
    no_llm_default: bool = False

    def item_text(self, item_id: int) -> str:
        if not item_id:
            return ""
        try:
            with self.answerer.corpus.lock:
                return self.answerer.corpus.store.item(item_id).body
        except Exception:     # an item replaced by a re-upload since the answer
            return ""

    def document_link(self, name: str, pages: str | None, anchor: str | None) -> str | None:
        """URL of an ingested file as the app serves it, opened at the page or heading
        (PDF viewers honour #page=N; browsers scroll to #id)."""
        from urllib.parse import quote

        with self.answerer.corpus.lock:
            path = next((p for _, p, n in self.answerer.corpus.store.documents() if n == name), None)
        if not path:
            return None
        fragment = f"#page={pages.split('-')[0]}" if pages else (f"#{quote(anchor)}" if anchor else "")
        return f"/gradio_api/file={quote(path)}{fragment}"

    def served_folders(self) -> list[str]:
        """The folders of ingested files and of uploads: the only files the app will serve."""
        with self.answerer.corpus.lock:
            folders = {str(Path(p).parent) for _, p, _ in self.answerer.corpus.store.documents()}
        return sorted(folders | {str(self.upload_dir)})

    def documents(self) -> list[str]:
        with self.answerer.corpus.lock:
            return sorted({name for _, _, name in self.answerer.corpus.store.documents()})

    # --- chat ------------------------------------------------------------------------
    def respond(self, message, history, asked, date_from, date_to, doc, quick):
        """Generator for the chat: yields (textbox, chat, asked-state, sources-html)."""
        from rag.answer import QuestionError
        from rag.plan import rewrite_followup

        history = list(history or [])
        asked = list(asked or [])
        message = (message or "").strip()
        if not message:
            yield "", history, asked, error_html("Type a question first, e.g. “what happened to the DArDR post?”")
            return
        history.append({"role": "user", "content": message})
        try:
            filters = build_filters(date_from, date_to, doc)
        except FilterError as exc:
            history.append({"role": "assistant", "content": str(exc)})
            yield "", history, asked, error_html(str(exc))
            return
        previous = asked[-1] if asked else None
        # The plan stage reads a follow-up ("who funds it?") as being about the previous
        # question's subject, the same way for the CLI's --after.
        question = rewrite_followup(message, previous)
        asked.append(question)
        yield "", history, asked, status_html("Searching the minutes…")

        pieces: queue.Queue = queue.Queue()
        done = object()
        result: dict = {}

        def work():
            try:
                result["answer"] = self.answerer.ask(message, filters=filters, no_llm=bool(quick),
                                                     on_token=pieces.put, previous=previous)
            except BaseException as exc:      # shown as one line below
                result["error"] = exc
            finally:
                pieces.put(done)

        threading.Thread(target=work, name="ask", daemon=True).start()
        text, finished = "", False
        while not finished:
            got = [pieces.get()]
            while True:                       # take whatever else has arrived: one update per batch
                try:
                    got.append(pieces.get_nowait())
                except queue.Empty:
                    break
            for g in got:
                if g is done:
                    finished = True
                else:
                    text += g
            if text and not finished:
                yield "", history + [{"role": "assistant", "content": text}], asked, \
                    status_html("Writing the answer…")

        if "error" in result:
            exc = result["error"]
            if isinstance(exc, QuestionError):
                msg = f"Please rephrase: {exc}."
            else:
                log.error("question failed: %r", question, exc_info=exc)
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                msg = f"Sorry, something went wrong answering that ({first[:200]}). Please try again."
            asked.pop()
            history.append({"role": "assistant", "content": msg})
            yield "", history, asked, error_html(msg)
            return
        answer = result["answer"]
        history.append({"role": "assistant", "content": chat_text(answer)})
        searched = question if question != message else None
        try:
            panel = sources_html(answer, self.item_text, searched, link=self.document_link)
        except Exception as exc:  # never let rendering turn an answer into a traceback
            log.error("rendering sources failed", exc_info=exc)
            panel = error_html("The sources could not be shown.")
        yield "", history, asked, panel

    # --- uploads ---------------------------------------------------------------------
    def add_files(self, files, progress=None):
        """Copy uploaded files under the index folder, ingest them, summarise per file.

        Returns (markdown summary, list of document names) so the UI can refresh its filter.
        """
        files = [f for f in (files or []) if f]
        if not files:
            return "Choose one or more minutes files first (.txt .md .html .pdf .docx).", self.documents()
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        added = 0
        total = len(files)
        for i, f in enumerate(files):
            src = Path(getattr(f, "name", f) if not isinstance(f, (str, Path)) else f)
            name = Path(src.name).name
            if progress is not None:
                progress((i, total), desc=f"Indexing {name}")
            if Path(name).suffix.lower() not in UPLOAD_TYPES + [".htm"]:
                lines.append(f"- **{name}**: not added — only {' '.join(UPLOAD_TYPES)} files can be read")
                continue
            dest = self.upload_dir / name
            backup = dest.with_name(dest.name + ".previous")
            ok = False
            try:
                if src.resolve() != dest.resolve():
                    if dest.exists():          # a file of that name is indexed: keep it until the new one works
                        os.replace(dest, backup)
                    shutil.copyfile(src, dest)
                report = self.answerer.corpus.ingest([dest], progress=False)
                for r in report.files:
                    if r.status == "error":
                        lines.append(f"- **{name}**: not added — {r.error}")
                    elif r.status in ("added", "updated"):
                        ok = True
                        added += 1
                        lines.append(f"- **{name}**: {r.status}, {r.items} agenda items ({r.chunks} passages)")
                    else:
                        ok = True
                        lines.append(f"- **{name}**: {r.status} (already in the index)")
            except Exception as exc:
                log.error("upload failed: %s", name, exc_info=exc)
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
                lines.append(f"- **{name}**: not added — {first[:200]}")
            finally:
                # A file that could not be indexed is not kept; the version before it is put back.
                if not ok and src.resolve() != dest.resolve():
                    dest.unlink(missing_ok=True)
                    if backup.exists():
                        os.replace(backup, dest)
                else:
                    backup.unlink(missing_ok=True)
        if progress is not None:
            progress((total, total), desc="Done")
        head = "**Upload results** (new items are searchable now):" if added else "**Upload results**:"
        return "\n".join([head, *lines]), self.documents()


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------
CSS = """
#sources .src-panel h3 { margin: 0 0 .5em 0; }
#sources .src-panel h3.not-found { color: #9a3412; }
#sources ol { padding-left: 1.6em; margin: 0; }
#sources li { margin-bottom: .9em; }
#sources .src-doc, #sources .src-meta, #sources .src-note { color: var(--body-text-color-subdued); font-size: .85em; }
#sources .src-quote { margin: .35em 0 !important; padding: 0 0 0 .6em !important; border-left: 3px solid #f59e0b; }
#sources mark { background: #fde68a; color: #111827; padding: 0 .1em; }
#sources details summary { cursor: pointer; font-size: .9em; }
#sources .item-body { white-space: pre-wrap; font-size: .85em; max-height: 22em; overflow-y: auto;
  border: 1px solid var(--border-color-primary); padding: .5em; border-radius: 4px; }
"""


def build_ui(app: App):
    import gradio as gr

    docs = [ALL_DOCS] + app.documents()
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\n{EXPLANATION}")
        asked = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(elem_id="chat", label="Conversation", height=460,
                                  placeholder="Ask about the minutes, or pick an example below.",
                                  feedback_options=None, buttons=["copy"])
                with gr.Row():
                    msg = gr.Textbox(elem_id="question", show_label=False, scale=5, autofocus=True,
                                     placeholder="e.g. what happened to the DArDR post?", max_length=2000)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                examples = gr.Examples(EXAMPLES, inputs=[msg], label="Example questions (click to ask)")
                clear = gr.Button("New conversation", size="sm", variant="secondary")
            with gr.Column(scale=2):
                sources = gr.HTML(EMPTY_SOURCES, elem_id="sources", js_on_load=None)
        with gr.Accordion("Filters", open=False):
            with gr.Row():
                date_from = gr.Textbox(label="Meetings from", placeholder="YYYY-MM-DD", elem_id="date-from")
                date_to = gr.Textbox(label="Meetings to", placeholder="YYYY-MM-DD", elem_id="date-to")
                doc = gr.Dropdown(docs, value=ALL_DOCS, label="Document", elem_id="doc-filter")
            quick = gr.Checkbox(app.no_llm_default, label="Quick answer: quote the best sentences, no language model")
        with gr.Accordion("Add minutes", open=False):
            gr.Markdown("Upload minutes (.txt .md .html .pdf .docx). They are kept under the index folder "
                        "and can be asked about as soon as they are indexed.")
            upload = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Minutes files",
                             elem_id="upload")
            upload_result = gr.Markdown(elem_id="upload-result")

        inputs = [msg, chat, asked, date_from, date_to, doc, quick]
        outputs = [msg, chat, asked, sources]
        msg.submit(app.respond, inputs, outputs, show_progress="hidden")
        send.click(app.respond, inputs, outputs, show_progress="hidden")
        # Clicking an example fills the box and asks it.
        examples.load_input_event.then(app.respond, inputs, outputs, show_progress="hidden")
        clear.click(lambda: ("", [], [], EMPTY_SOURCES), None, outputs, queue=False)
        chat.clear(lambda: ([], EMPTY_SOURCES), None, [asked, sources], queue=False)

        def on_upload(files, progress=gr.Progress()):
            summary, names = app.add_files(files, progress=progress)
            return summary, gr.Dropdown(choices=[ALL_DOCS] + names)

        upload.upload(on_upload, [upload], [upload_result, doc], concurrency_limit=1)
        demo.load(lambda: gr.Dropdown(choices=[ALL_DOCS] + app.documents()), None, [doc], queue=False)
    return demo


def create_app(settings=None, warm: bool = True) -> App:
    """Load (or build) the index and the models once; shared by every browser session."""
    from rag.answer import Answerer
    from rag.settings import load_settings

    settings = settings or load_settings()
    answerer = Answerer(settings, progress=False, echo=lambda m: print(m, flush=True))
    app = App(answerer=answerer, upload_dir=Path(settings.index_dir) / "uploads",
              no_llm_default=os.environ.get("RAG_APP_NO_LLM", "") not in ("", "0", "false"))
    if warm:
        t0 = time.perf_counter()
        try:
            from rag.embed import get_embedder

            get_embedder().encode(["warm up"])
            if not app.no_llm_default:
                answerer.llm()
            print(f"Models loaded in {time.perf_counter() - t0:.1f}s.", flush=True)
        except Exception as exc:          # shown again, as one line, on the first question
            print(f"warning: could not load the models yet: {exc}", flush=True)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat with the council minutes in the browser.")
    parser.add_argument("--host", default=None,
                        help="interface to listen on (default 127.0.0.1, i.e. this machine only)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default $GRADIO_SERVER_PORT, else 7860)")
    parser.add_argument("--share", action="store_true", help="also make a public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    host = args.host or "127.0.0.1"     # never GRADIO_SERVER_NAME implicitly: loopback unless asked
    port = args.port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    try:
        app = create_app()
    except Exception as exc:
        print(f"error: {exc}", flush=True)
        return 2
    import gradio as gr

    demo = build_ui(app)
    # Several sessions can be served at once; the LLM itself answers one at a time (its lock),
    # so a long answer delays others' generation but never freezes the page or uploads.
    demo.queue(default_concurrency_limit=4)
    theme = gr.themes.Soft(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                           font_mono=["ui-monospace", "Consolas", "monospace"])
    print(f"Open http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}", flush=True)
    demo.launch(server_name=host, server_port=port, share=args.share, theme=theme, css=CSS,
                show_error=False, footer_links=[], allowed_paths=app.served_folders())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
