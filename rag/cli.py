"""Command line: `ask QUESTION` and `rag ingest|items|search|ask|eval|bench|remove|doctor`.

Thin over the library: every command is a few calls into ingest / retrieve / answer.
Bad input prints one line starting with 'error:' and exits non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import UserError

EXAMPLES_ASK = """examples:
  ask "what happened to the DArDR post?"
  ask --no-llm "how much funding did the Violence Reduction Network get?"
  ask --fast --k 3 "who presented the hate crime update?"
  ask --from 2025-01-01 "what was said about ECINS?"
  ask --json "when is Glen Parva prison due to open?" | jq .citations

The first run builds the index from the bundled minutes (data/minutes/) and assembles
the default model (about a minute); later runs start in seconds.
Environment: RAG_INDEX_DIR, RAG_DATABASE_URL, RAG_MODEL_PATH, RAG_MODEL_CACHE_DIR, RAG_TOP_K, RAG_THREADS.
"""

EXAMPLES_RAG = """examples:
  rag ingest                      # the bundled sample minutes
  rag ingest ~/minutes/ new.pdf   # folders and files (.txt .md .html .pdf .docx)
  rag ingest --ray ~/archive/     # many files: parse and embed in parallel with Ray
  rag items --json | head -3
  rag search --k 5 "ECINS"
  rag ask "what happened to the DArDR post?"
  rag eval --no-llm               # retrieval and citation metrics in seconds
  rag eval --layouts              # agenda items found in 40 real minutes of other bodies
  rag eval                        # the full suite with the default model
  rag bench                       # latency, memory and throughput table
  rag bench --stores faiss,pg --sizes 10k,100k   # FAISS and PostgreSQL side by side
  rag bench --only-answers        # warm ask vs raw llama.cpp (with and without drafting) on the same prompts, and a cold ask
  rag doctor                      # something wrong? checks the build, models, index, a generation
"""


def _settings(args):
    from .settings import settings_for

    return settings_for(getattr(args, "index_dir", None), getattr(args, "database_url", None))


def _filters(args):
    from .store import Filters

    for name in ("date_from", "date_to"):
        value = getattr(args, name, None)
        if value and not _valid_date(value):
            raise UserError(f"--{name.split('_')[1]} wants a date like 2025-03-01 or 2025-03, not {value!r}")
    return Filters(date_from=getattr(args, "date_from", None), date_to=getattr(args, "date_to", None),
                   doc=getattr(args, "doc", None), committee=getattr(args, "committee", None))


def _valid_date(value: str) -> bool:
    import re

    return bool(re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value))


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", metavar="DATE", help="only meetings on or after DATE (YYYY[-MM[-DD]])")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="only meetings on or before DATE")
    p.add_argument("--doc", metavar="FILE", help="only this document (file name, as `rag items` shows)")
    p.add_argument("--committee", metavar="NAME", help="only items of a committee whose name contains NAME")


def _add_ask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", nargs="*", help="the question, in plain English")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--k", type=int, metavar="N", help="agenda items to retrieve (default 4; 6 for 'what happened to' questions)")
    p.add_argument("--fast", action="store_true", help="use the smaller 0.5B model (faster, less accurate)")
    p.add_argument("--model", metavar="PATH", help="any GGUF chat model file instead of the bundled one")
    p.add_argument("--llm-url", metavar="URL",
                   help="generate with an OpenAI-compatible server (vLLM, llama.cpp's server, Ollama) "
                        "instead of the local model, e.g. http://127.0.0.1:8000 (also RAG_LLM_URL)")
    p.add_argument("--llm-model", metavar="NAME", help="the served model's name (also RAG_LLM_MODEL)")
    p.add_argument("--no-llm", action="store_true", help="no generation: quote the best supporting sentences")
    p.add_argument("--after", metavar="QUESTION",
                   help="the question asked just before (a follow-up such as \"who funds it?\" is "
                        "then read as being about its subject, as in the chat)")
    p.add_argument("--index-dir", metavar="DIR", help="index folder (default: index/ in the project)")
    _add_database_arg(p)
    p.add_argument("--no-serve", action="store_true",
                   help="answer in this process; do not use or start `rag serve` (also RAG_SERVE=off)")
    _add_filter_args(p)


def _add_database_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", metavar="URL",
                   help="a PostgreSQL database with pgvector shared by many processes, instead of the "
                        "index folder's SQLite and FAISS files (also RAG_DATABASE_URL)")


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def run_ask(args) -> int:
    from .errors import QuestionError, check_question

    question = " ".join(args.question)
    if not question.strip() and not sys.stdin.isatty():
        question = sys.stdin.read()
    try:
        check_question(question)
    except QuestionError as exc:
        raise UserError(str(exc)) from None
    if args.k is not None and not 1 <= args.k <= 20:
        raise UserError("--k must be between 1 and 20")
    filters = _filters(args)
    err = _stderr_console()
    settings = _settings(args).with_overrides(llm_url=args.llm_url, llm_model=args.llm_model)

    def get_answer(on_token=None):
        """From the warm server when there is one (started on demand), else in this process."""
        if not args.no_serve and not args.llm_url:
            answer = _ask_served(settings, question, args, filters, on_token, err)
            if answer is not None:
                return answer
        from .answer import Answerer

        answerer = Answerer(settings, progress=not args.json, echo=lambda m: err.print(m))
        return answerer.ask(question, k=args.k, filters=filters, fast=args.fast, model=args.model,
                            no_llm=args.no_llm, on_token=on_token, previous=args.after)

    if args.json:
        print(json.dumps(get_answer().to_json(), ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    out = Console(highlight=False)
    if not out.is_terminal:
        answer = get_answer()
        print(answer.answer)
    else:
        shown: list[str] = []
        # Tokens stream into a live area that is replaced by the checked answer at the end:
        # a citation the pipeline re-pointed or added never shows the model's number.
        with Live(Text(""), console=out, refresh_per_second=15, vertical_overflow="visible") as live:
            def on_token(text: str) -> None:
                shown.append(text)
                live.update(Text("".join(shown)))

            answer = get_answer(on_token)
            live.update(Text(answer.answer))
    if answer.abstained:
        if answer.closest:
            print("\nClosest agenda items (they do not answer the question):")
            for h in answer.closest:
                print(f"  - {h.citation()}  ({h.doc})")
    else:
        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.n}] {c.label()}  ({c.doc})")
            print(f"      “{c.quote}”")
    t = answer.timings_ms
    err.print(f"[dim]{t.get('total', 0) / 1000:.1f}s total"
              + (f", first token {t['first_token'] / 1000:.1f}s" if "first_token" in t else "") + "[/dim]")
    return 0


def _ask_served(settings, question, args, filters, on_token, err):
    """The answer from `rag serve` for this index (starting it if needed), or None."""
    from dataclasses import asdict

    from . import serve

    if not serve.enabled():
        return None
    request = {"question": question, "k": args.k, "filters": asdict(filters), "fast": args.fast,
               "model": args.model, "no_llm": args.no_llm, "previous": args.after}
    try:
        answer = serve.ask_server(settings, request, on_token)
        if answer is None and not args.json:
            err.print("[dim]Starting the answer server for later questions (`rag serve`)…[/dim]")
        if answer is None and serve.start(settings):
            answer = serve.ask_server(settings, request, on_token)
    except serve.ServerError as exc:
        if exc.kind in ("QuestionError", "ModelError", "LoadError", "UserError"):
            raise UserError(str(exc)) from None
        err.print(f"[dim]the answer server failed ({exc}); answering here instead[/dim]")
        return None
    except (OSError, ValueError):
        return None
    return answer


def run_serve(args) -> int:
    from .serve import DEFAULT_IDLE_S, serve

    settings = _settings(args)
    return serve(settings, idle_s=args.idle or DEFAULT_IDLE_S, fast=args.fast,
                 echo=(lambda m: None) if args.quiet else print, warm_prompt=not args.no_prompt_warmup)


def run_ingest(args) -> int:
    from .ingest import Corpus

    settings = _settings(args)
    paths = [Path(p).expanduser() for p in args.paths] or [settings.corpus_dir]
    corpus = Corpus.open(settings)
    if args.ray:
        from .ingest_ray import ingest_with_ray

        report = ingest_with_ray(corpus, paths, committee=args.committee, progress=not args.quiet)
    else:
        report = corpus.ingest(paths, committee=args.committee, progress=not args.quiet)
    for f in report.files:
        name = Path(f.path).name
        if f.status == "error":
            print(f"  error    {name}: {f.error}")
        elif f.status in ("added", "updated"):
            print(f"  {f.status:8} {name}: {f.items} items, {f.chunks} chunks")
        else:
            print(f"  {f.status:8} {name}")
    rate = report.items / report.seconds if report.seconds and report.items else 0
    print(f"{report.items} items ingested in {report.seconds:.1f}s ({rate:.1f} items/s); "
          f"{report.embedded} chunks embedded; index holds {corpus.index.size} chunks.")
    return 1 if report.errors else 0


def run_items(args) -> int:
    from .ingest import ensure_corpus

    corpus = ensure_corpus(_settings(args), progress=not args.json, echo=lambda m: _stderr_console().print(m))
    for _, it in corpus.store.items(_filters(args)):
        if args.json:
            print(json.dumps({"doc": it.doc, "kind": it.kind, "meeting_date": it.meeting_date,
                              "item": it.item, "minute": it.minute, "title": it.title,
                              "committee": it.committee, "resolution": it.resolution,
                              "code": it.code, "pages": it.pages, "anchor": it.anchor}, ensure_ascii=False))
        else:
            print(f"{it.doc:38} {it.citation()}")
    return 0


def run_search(args) -> int:
    from .ingest import ensure_corpus
    from .retrieve import Retriever

    query = " ".join(args.query).strip()
    if not query:
        raise UserError("the search query is empty")
    if not 1 <= args.k <= 100:
        raise UserError("--k must be between 1 and 100")
    corpus = ensure_corpus(_settings(args), progress=not args.json, echo=lambda m: _stderr_console().print(m))
    hits = Retriever(corpus).search(query, k=args.k, filters=_filters(args), mode=args.mode)
    if args.json:
        print(json.dumps({"query": query, "results": [
            {"rank": r, "doc": h.doc, "meeting_date": h.meeting_date, "item": h.item, "minute": h.minute,
             "title": h.title, "score": round(h.score, 5), "text": h.text} for r, h in enumerate(hits, 1)]},
            ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("No matching agenda items.")
    for r, h in enumerate(hits, 1):
        snippet = " ".join(h.text.split())[:160]
        print(f"{r}. {h.citation()}  ({h.doc}, score {h.score:.4f})\n   {snippet}…")
    return 0


def run_remove(args) -> int:
    from .ingest import Corpus

    gone = Corpus.open(_settings(args)).remove(args.document)
    if not gone:
        raise UserError(f"no document named {args.document!r} in the index (see `rag items`)")
    print(f"removed {args.document}")
    return 0


def run_eval(args) -> int:
    from .evaluate import main as eval_main

    return eval_main(args)


def run_bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def run_doctor(args) -> int:
    from .doctor import run

    return run(_settings(args))


def build_rag_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rag", description="Ask questions of council minutes: ingest, list, search, answer, evaluate.",
        epilog=EXAMPLES_RAG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ing = sub.add_parser("ingest", help="add or update minutes files and folders")
    ing.add_argument("paths", nargs="*", help="files or folders (default: the bundled sample minutes)")
    ing.add_argument("--committee", help="committee name for files whose text does not say")
    ing.add_argument("--quiet", action="store_true", help="no progress bar")
    ing.add_argument("--ray", action="store_true",
                     help="parse and embed with Ray Data: on this machine's cores, or on the cluster at "
                          "RAY_ADDRESS (needs the [scale] extra); writes what a plain ingest writes")
    ing.add_argument("--index-dir", metavar="DIR")
    _add_database_arg(ing)
    ing.set_defaults(func=run_ingest)

    items = sub.add_parser("items", help="list the agenda items in the index")
    items.add_argument("--json", action="store_true", help="one JSON object per line")
    items.add_argument("--index-dir", metavar="DIR")
    _add_database_arg(items)
    _add_filter_args(items)
    items.set_defaults(func=run_items)

    se = sub.add_parser("search", help="ranked agenda items for a query (no LLM)")
    se.add_argument("query", nargs="*")
    se.add_argument("--json", action="store_true")
    se.add_argument("--k", type=int, default=5, metavar="N")
    se.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    se.add_argument("--index-dir", metavar="DIR")
    _add_database_arg(se)
    _add_filter_args(se)
    se.set_defaults(func=run_search)

    a = sub.add_parser("ask", help="answer a question with cited agenda items (same as `ask`)")
    _add_ask_args(a)
    a.set_defaults(func=run_ask)

    rm = sub.add_parser("remove", help="drop a document from the index")
    rm.add_argument("document", help="file name as `rag items` shows it, or its path")
    rm.add_argument("--index-dir", metavar="DIR")
    _add_database_arg(rm)
    rm.set_defaults(func=run_remove)

    ev = sub.add_parser("eval", help="run the evaluation suite (eval/questions.jsonl)")
    ev.add_argument("--questions", default=None, metavar="FILE[,FILE]",
                    help="question files (default eval/questions.jsonl, the 'seen' split)")
    ev.add_argument("--split", choices=["dev", "seen", "frozen", "frozen2"],
                    help="dev: tune on it; seen: the older sets; frozen: written apart, report only; "
                         "frozen2: written apart with seven more meetings of other bodies, report only")
    ev.add_argument("--no-llm", action="store_true", help="retrieval, citations and extractive answers only")
    ev.add_argument("--fast", action="store_true", help="evaluate the --fast model instead of the default")
    ev.add_argument("--model", metavar="PATH", help="evaluate this GGUF model")
    ev.add_argument("--no-baselines", action="store_true", help="skip the tutorial baseline run")
    ev.add_argument("--llm-url", metavar="URL", help="generate with this OpenAI-compatible server, "
                    "for every system that generates (also RAG_LLM_URL)")
    ev.add_argument("--llm-model", metavar="NAME", help="the served model's name (also RAG_LLM_MODEL)")
    ev.add_argument("--reuse-generations", metavar="FILE",
                    help="keep the model's answers in this SQLite file and reuse any whose prompt is "
                         "unchanged (ablation runs: minutes instead of half an hour; latencies then "
                         "mean nothing)")
    ev.add_argument("--limit", type=int, help="only the first N questions")
    ev.add_argument("--k", type=int, default=5, metavar="K", help="k for recall@k (default 5)")
    ev.add_argument("--out", help="report path (default eval/results/<timestamp>.json)")
    ev.add_argument("--index-dir", metavar="DIR")
    _add_database_arg(ev)
    ev.add_argument("--layouts", action="store_true",
                    help="only the agenda-item table: precision / recall / titles per real minutes "
                         "document against hand-written items, in seconds: tests/layouts/ (tuned on), "
                         "layouts-holdout/, layouts-dev2/ (tuned on in session 18), layouts-frozen2/ (never)")
    ev.add_argument("--layout-dir", metavar="DIR", help="another folder of documents with .truth.json files")
    ev.set_defaults(func=run_eval)

    be = sub.add_parser("bench", help="latency / memory / throughput benchmark")
    be.add_argument("--sizes", default="1000,10000,100000,1000000", help="index sizes to time")
    be.add_argument("--stores", default="faiss", metavar="faiss,pg",
                    help="vector stores to time at each size: faiss (the index file), pg (PostgreSQL + "
                         "pgvector HNSW in a throwaway local server; needs the [scale] extra)")
    be.add_argument("--queries", type=int, default=200, help="queries per size")
    be.add_argument("--out", help="also write the table as JSON here")
    be.add_argument("--answers", type=int, metavar="N",
                    help="also time N whole answers against raw llama.cpp on the same prompts (and the same "
                         "prompts with prompt-lookup drafting off), and a cold ask")
    be.add_argument("--only-answers", action="store_true",
                    help="only the answers part (20 questions unless --answers says otherwise)")
    be.set_defaults(func=run_bench)

    doc = sub.add_parser(
        "doctor", help="check the install: Python, the llama.cpp build, models, index, a generation",
        description="Checks, one line each: Python; this CPU and the instruction sets it runs; the "
                    "llama.cpp build (flags, recorded wheel, installed library); the models and their "
                    "sha256; the index (items, chunks, FAISS manifest); and one short generation in a "
                    "child process, so a native crash becomes a line. Exit status 1 if any check fails.")
    doc.add_argument("--index-dir", metavar="DIR")
    _add_database_arg(doc)
    doc.set_defaults(func=run_doctor)

    sv = sub.add_parser(
        "serve", help="keep the models and index loaded; `ask` uses it (and starts it on demand)",
        description="Answer questions over a Unix socket with the embedder, index and model kept "
                    "loaded, one question at a time. `ask` uses it when it is running and starts it "
                    "when it is not (RAG_SERVE=off or --no-serve to never do so). It exits after "
                    "--idle seconds without a question.")
    sv.add_argument("--idle", type=float, metavar="S", help="exit after S seconds idle (default 900)")
    sv.add_argument("--fast", action="store_true", help="warm the --fast model instead of the default")
    sv.add_argument("--quiet", action="store_true")
    sv.add_argument("--no-prompt-warmup", action="store_true",
                    help="do not evaluate the system prompt before serving (an `ask` that starts the "
                         "server does this: its own question evaluates it, and the next ones reuse it)")
    sv.add_argument("--index-dir", metavar="DIR")
    _add_database_arg(sv)
    sv.set_defaults(func=run_serve)
    return p


def _run(func, args) -> int:
    from .errors import QuestionError
    from .load import LoadError
    from .models import ModelError

    try:
        return func(args)
    except (UserError, QuestionError, ModelError, LoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def ask_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="ask", description="Answer a plain question from council minutes, citing the agenda items.",
        epilog=EXAMPLES_ASK, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_ask_args(p)
    args = p.parse_args(argv)
    return _run(run_ask, args)


def rag_main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = build_rag_parser()
    commands = {"ingest", "items", "search", "ask", "remove", "eval", "bench", "doctor", "serve", "-h", "--help"}
    if argv and argv[0] not in commands:
        argv = ["ask", *argv]          # `rag "question"` answers, like `llm "question"`
    args = p.parse_args(argv)
    if not getattr(args, "func", None):
        p.print_help()
        return 0
    return _run(args.func, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(rag_main())
