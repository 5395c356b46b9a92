"""The evaluation suite: retrieval, answers, citations, abstention and latency, with baselines.

Metrics (eval/README.md explains them):
- recall@k / MRR of the gold agenda items, for hybrid, dense-only and keyword-only search;
- answer accuracy: an answerable question is right when every required fact (any of its
  accepted variants) is in the answer and it did not decline; an unanswerable one is
  right when the answer declines;
- citation precision / recall against the gold items; abstention precision / recall;
- latency per question (total, first token).
Baselines in the same run: extractive answers (no LLM) and a tutorial-style RAG.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .settings import PROJECT_ROOT

EVAL_DIR = PROJECT_ROOT / "eval"
RESULTS_DIR = EVAL_DIR / "results"
# A drop bigger than this in any headline metric against the previous report is flagged.
REGRESSION_MARGIN = 0.02


@dataclass
class Question:
    id: str
    question: str
    kind: str
    answerable: bool
    reference: str
    facts: list[list[str]]
    gold: list[dict]
    # "samples": about the bundled minutes; "other": about other bodies' minutes (the layout
    # documents in tests/), which the eval then adds to its corpus.
    source: str = "samples"


# The three splits: tune on dev, watch the old sets (seen), report the frozen one (written
# apart from the code, never read while changing it).
SPLITS = {
    "dev": ["dev_questions.jsonl", "dev_other_questions.jsonl", "dev2_questions.jsonl"],
    "seen": ["questions.jsonl"],
    "frozen": ["frozen_questions.jsonl"],
    # Seven more meetings of six other bodies, gathered with their questions in session 18.
    "frozen2": ["frozen2_questions.jsonl"],
}


def split_files(split: str | None, questions: str | None) -> list[Path]:
    """Question files for --split NAME or --questions FILE[,FILE...] (default: the seen set)."""
    if split:
        return [EVAL_DIR / name for name in SPLITS[split]]
    if questions:
        return [Path(q) for q in questions.split(",")]
    return [EVAL_DIR / "questions.jsonl"]


def load_questions(path: Path | None = None) -> list[Question]:
    path = path or EVAL_DIR / "questions.jsonl"
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            out.append(Question(**{k: raw[k] for k in Question.__dataclass_fields__ if k in raw}))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path.name} line {n}: {exc}") from None
    return out


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    return " ".join(text.split())


def matches_gold(ref: dict, gold: dict) -> bool:
    """ref: a hit or citation's {doc, meeting_date, item, minute, title, text}; every gold key
    must agree. ``text_contains`` (a phrase copied from the document) is looked for in the
    item's title and text, compared on letters and digits only, so the way a loader broke
    lines or spaced words does not matter."""
    for key, want in gold.items():
        if key == "title_contains":
            if want.lower() not in (ref.get("title") or "").lower():
                return False
        elif key == "text_contains":
            if _squash(want) not in _squash(f"{ref.get('title', '')} {ref.get('text', '')}"):
                return False
        elif ref.get(key) != want:
            return False
    return True


def _squash(text: str) -> str:
    return "".join(c for c in normalise(text) if c.isalnum())


def needs_other_minutes(questions: list[Question], corpus_dir: Path) -> bool:
    """True when some question is about minutes that are not in the bundled corpus."""
    bundled = {p.name for p in corpus_dir.iterdir()} if corpus_dir.is_dir() else set()
    return any(q.source != "samples" or any(g.get("doc") not in bundled for g in q.gold if g.get("doc"))
               for q in questions)


def facts_present(answer: str, facts: list[list[str]]) -> bool:
    text = normalise(answer)
    return all(any(normalise(v) in text for v in variants) for variants in facts)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[idx]


def retrieval_metrics(retriever, questions: list[Question], k: int) -> dict:
    """recall@k (share of gold items in the top k) and MRR, per search mode."""
    out = {}
    for mode in ("hybrid", "dense", "keyword"):
        recalls, rrs = [], []
        for q in questions:
            if not q.gold:
                continue
            hits = retriever.search(q.question, k=max(k, 10), mode=mode)
            refs = [h.ref() | {"text": h.item_text} for h in hits]
            found = [any(matches_gold(r, g) for r in refs[:k]) for g in q.gold]
            recalls.append(sum(found) / len(q.gold))
            rank = next((i for i, r in enumerate(refs, 1) if any(matches_gold(r, g) for g in q.gold)), None)
            rrs.append(1 / rank if rank else 0.0)
        out[mode] = {f"recall@{k}": statistics.mean(recalls), "mrr": statistics.mean(rrs), "n": len(recalls)}
    return out


def score_answers(questions: list[Question], answers: list[dict]) -> dict:
    """Accuracy, citation precision/recall and abstention precision/recall for one system."""
    correct, cited_ok, cited_all, gold_found, gold_all = 0, 0, 0, 0, 0
    abstained_unans, abstained_all, unans = 0, 0, 0
    answerable_correct, answerable = 0, 0
    per_kind: dict[str, list[int]] = {}
    for q, a in zip(questions, answers):
        declined = a["abstained"]
        abstained_all += declined
        if q.answerable:
            answerable += 1
            ok = (not declined) and facts_present(a["answer"], q.facts)
            answerable_correct += ok
            cites = a.get("citations") or []
            if cites is not None and a.get("has_citations", True):
                cited_all += len(cites)
                cited_ok += sum(any(matches_gold(c, g) for g in q.gold) for c in cites)
                gold_all += len(q.gold)
                gold_found += sum(any(matches_gold(c, g) for c in cites) for g in q.gold)
        else:
            unans += 1
            ok = declined
            abstained_unans += declined
        correct += ok
        a["correct"] = bool(ok)
        per_kind.setdefault(q.kind, []).append(int(ok))
    declined_answerable = sum(1 for q, a in zip(questions, answers) if q.answerable and a["abstained"])
    return {
        "accuracy": correct / len(questions),
        "answerable_accuracy": answerable_correct / max(1, answerable),
        "answerable_declined": declined_answerable / max(1, answerable),
        "citation_precision": cited_ok / cited_all if cited_all else None,
        "citation_recall": gold_found / gold_all if gold_all else None,
        "abstention_precision": abstained_unans / abstained_all if abstained_all else None,
        "abstention_recall": abstained_unans / unans if unans else None,
        "by_kind": {k: sum(v) / len(v) for k, v in sorted(per_kind.items())},
        "by_source": {src: statistics.mean(int(a["correct"]) for q, a in zip(questions, answers) if q.source == src)
                      for src in sorted({q.source for q in questions})},
        "n": len(questions),
    }


def run_pipeline(answerer, questions, label: str, progress, **ask_kw) -> list[dict]:
    out = []
    task = progress.add_task(label, total=len(questions))
    store = answerer.corpus.store
    for q in questions:
        t = time.perf_counter()
        ans = answerer.ask(q.question, **ask_kw)
        row = ans.to_json()
        # The cited item's text, for gold given as a phrase of the document.
        for c, cited in zip(row.get("citations") or [], ans.citations):
            c["text"] = store.item(cited.item_id).body if cited.item_id else ""
        row["seconds"] = time.perf_counter() - t
        row["id"] = q.id
        out.append(row)
        progress.advance(task)
    return out


def latency(rows: list[dict]) -> dict:
    totals = [r["seconds"] for r in rows]
    firsts = [r["timings_ms"]["first_token"] / 1000 for r in rows if "first_token" in r.get("timings_ms", {})]
    prompts = [r["timings_ms"]["prompt_tokens"] for r in rows if "prompt_tokens" in r.get("timings_ms", {})]
    return {"p50_s": percentile(totals, 0.5), "p95_s": percentile(totals, 0.95),
            "first_token_p50_s": percentile(firsts, 0.5) if firsts else None,
            "prompt_tokens_mean": statistics.mean(prompts) if prompts else None,
            "prompt_tokens_p50": percentile(prompts, 0.5) if prompts else None}


def previous_report(exclude: Path | None = None, questions_file: str = "questions.jsonl",
                    count: int | None = None) -> dict | None:
    """The newest earlier report over the same questions: other sets' figures do not compare."""
    for path in sorted(RESULTS_DIR.glob("*.json"), reverse=True):
        if path == exclude:
            continue
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if report.get("questions_file", "questions.jsonl") == questions_file and (
                count is None or report.get("questions") == count):
            return report | {"_path": str(path)}
    return None


def compare(current: dict, previous: dict | None) -> list[str]:
    """Lines naming each headline metric that fell by more than the margin."""
    if not previous:
        return []
    flags = []
    for system, metrics in current.get("systems", {}).items():
        before = previous.get("systems", {}).get(system)
        if not before:
            continue
        for key in ("accuracy", "citation_precision", "citation_recall", "abstention_recall"):
            now, then = metrics.get(key), before.get(key)
            if now is not None and then is not None and now < then - REGRESSION_MARGIN:
                flags.append(f"REGRESSION {system} {key}: {then:.3f} -> {now:.3f}")
    for mode, metrics in current.get("retrieval", {}).items():
        then = previous.get("retrieval", {}).get(mode, {})
        for key, now in metrics.items():
            if key != "n" and key in then and now < then[key] - REGRESSION_MARGIN:
                flags.append(f"REGRESSION retrieval {mode} {key}: {then[key]:.3f} -> {now:.3f}")
    return flags


def main(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from .answer import Answerer
    from .settings import settings_for
    from .tutorial import TutorialRAG

    console = Console(width=150)
    if getattr(args, "layouts", False):
        return layout_main(args, console)
    files = split_files(getattr(args, "split", None), args.questions)
    questions = [q for f in files for q in load_questions(f)]
    if args.limit:
        questions = questions[: args.limit]
    settings = settings_for(getattr(args, "index_dir", None), getattr(args, "database_url", None)).with_overrides(
        llm_url=getattr(args, "llm_url", None), llm_model=getattr(args, "llm_model", None),
        generation_memo=Path(args.reuse_generations) if getattr(args, "reuse_generations", None) else None)
    corpus = None
    folders = [Path(settings.corpus_dir)]
    if needs_other_minutes(questions, Path(settings.corpus_dir)):
        # Questions about other bodies' minutes: the bundled minutes plus the layout
        # documents, in an index of their own (the default index stays as users have it).
        from . import layouts
        from .ingest import Corpus

        folders += [layouts.LAYOUT_DIR, layouts.HOLDOUT_DIR]
        wide = "eval-wide"
        frozen2 = {p.name for p in layouts.FROZEN2_DIR.iterdir()} if layouts.FROZEN2_DIR.is_dir() else set()
        if any(g.get("doc") in frozen2 for q in questions for g in q.gold):
            # The frozen2 documents join the others in an index of their own, so that the
            # other splits keep the corpus their figures were measured on.
            folders.append(layouts.FROZEN2_DIR)
            wide = "eval-wide2"
        settings = settings.with_overrides(index_dir=Path(settings.index_dir) / wide)
        corpus = Corpus.open(settings)
        corpus.ingest(folders, progress=True)
    answerer = Answerer(settings, corpus=corpus, progress=True, echo=console.print)
    questions_file = getattr(args, "split", None) or ",".join(f.name for f in files)
    report: dict = {"created": datetime.now().isoformat(timespec="seconds"), "questions": len(questions),
                    "questions_file": questions_file, "k": args.k, "systems": {}, "latency": {}}
    report["retrieval"] = retrieval_metrics(answerer.retriever, questions, args.k)

    systems: dict[str, list[dict]] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        systems["extractive (--no-llm)"] = run_pipeline(answerer, questions, "extractive", progress, no_llm=True)
        if not args.no_llm:
            name = ("fast model" if args.fast else "custom model" if args.model else "default model")
            systems[name] = run_pipeline(answerer, questions, name, progress, fast=args.fast, model=args.model)
            if not args.no_baselines:
                # The same documents as the pipeline searches.
                tutorial = TutorialRAG(settings, answerer.llm(fast=args.fast, model=args.model), folders)
                rows = []
                task = progress.add_task("tutorial baseline", total=len(questions))
                for q in questions:
                    rows.append(tutorial.ask(q.question))
                    progress.advance(task)
                systems["tutorial baseline"] = rows
    for name, rows in systems.items():
        report["systems"][name] = score_answers(questions, rows)
        report["latency"][name] = latency(rows)
    report["answers"] = {name: rows for name, rows in systems.items()}
    memo = answerer.steps.memo
    if memo is not None:
        # Reused answers took no time: their latencies are not the system's.
        report["reused_generations"] = {"file": str(memo.path), "reused": memo.hits, "generated": memo.misses}
    from . import layouts

    scores = layouts.score_all()
    report["layouts"] = {"overall": layouts.totals(scores),
                         "documents": [dict(vars(s), precision=s.precision, recall=s.recall,
                                            title_accuracy=s.title_accuracy) for s in scores]}

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS_DIR / f"{datetime.now():%Y%m%d-%H%M%S}.json"
    previous = previous_report(exclude=out, questions_file=questions_file, count=len(questions))
    report["regressions"] = compare(report, previous)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    tmp.replace(out)

    table = Table(title=f"Retrieval ({len(questions)} questions, gold agenda items)")
    table.add_column("mode")
    table.add_column(f"recall@{args.k}", justify="right")
    table.add_column("MRR", justify="right")
    for mode, m in report["retrieval"].items():
        table.add_row(mode, f"{m[f'recall@{args.k}']:.3f}", f"{m['mrr']:.3f}")
    console.print(table)

    def fmt(v):
        return "-" if v is None else f"{v:.3f}"

    table = Table(title="Answers")
    for col in ("system", "accuracy", "answerable acc.", "cit. precision", "cit. recall",
                "abst. precision", "abst. recall", "p50 s", "p95 s", "1st token p50 s", "prompt tok p50"):
        table.add_column(col, justify="right" if col != "system" else "left")
    for name, m in report["systems"].items():
        lat = report["latency"][name]
        table.add_row(name, fmt(m["accuracy"]), fmt(m["answerable_accuracy"]), fmt(m["citation_precision"]),
                      fmt(m["citation_recall"]), fmt(m["abstention_precision"]), fmt(m["abstention_recall"]),
                      f"{lat['p50_s']:.2f}", f"{lat['p95_s']:.2f}", fmt(lat["first_token_p50_s"]),
                      "-" if lat.get("prompt_tokens_p50") is None else f"{lat['prompt_tokens_p50']:.0f}")
    console.print(table)
    sources = sorted({q.source for q in questions})
    table = Table(title="By source (accuracy) and declines")
    for col in ["system", *sources, "answerable declined", "unanswerable declined"]:
        table.add_column(col, justify="right" if col != "system" else "left")
    for name, m in report["systems"].items():
        table.add_row(name, *[fmt(m["by_source"].get(src)) for src in sources],
                      fmt(m["answerable_declined"]), fmt(m["abstention_recall"]))
    console.print(table)
    console.print(f"Agenda items found in real minutes of other bodies ({layouts.LAYOUT_DIR.name}/):")
    console.print(layouts.report(scores), highlight=False)
    console.print(f"report: {out}")
    if previous:
        console.print(f"compared with {previous['_path']}: "
                      + ("no regressions" if not report["regressions"] else ""))
        for line in report["regressions"]:
            console.print(f"[red]{line}[/red]")
    return 0


def layout_main(args, console) -> int:
    """`rag eval --layouts`: item precision / recall per real minutes document, in seconds."""
    from . import layouts

    folders = ([Path(args.layout_dir)] if getattr(args, "layout_dir", None)
               else [layouts.LAYOUT_DIR, layouts.HOLDOUT_DIR, layouts.DEV2_DIR, layouts.FROZEN2_DIR])
    for folder in folders:
        truth = sorted(folder.glob("*.truth.json"))
        if not truth:
            console.print(f"error: no *.truth.json files in {folder}")
            return 2
        console.print(f"\n{folder}:", highlight=False)
        console.print(layouts.report([layouts.score_document(f) for f in truth]), highlight=False)
    return 0
