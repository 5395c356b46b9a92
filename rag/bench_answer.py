"""`rag bench --answers N`: a whole `ask` against raw llama.cpp on the very same prompts.

For each of N questions that reach the model, in one run on this machine:

* **warm ask**: `Answerer.ask` with everything loaded (what `rag serve` runs per question),
  total and first-token time;
* **raw llama.cpp**: the exact chat messages that ask sent, straight to the same loaded
  model with the same settings, total and first-token time;
* **no drafting**: the same messages to a second copy of the model with prompt-lookup
  drafting off (``draft_tokens=0``), so the ratio raw / no drafting is what drafting saves.
  That copy is loaded second, which on these machines decodes a few per cent faster than
  the first-loaded copy of the same file, so the ratio understates the saving.

Both start from the same model state: before each call the model is primed with the fixed
system prompt only, so both reuse its KV state and neither reuses the other's prompt. The
ratio ask / raw and the difference (the pipeline's own overhead: retrieval, evidence,
citation checks) are reported per question and as medians. A **cold ask** (a new `ask`
process with no server, `--no-serve`) is timed too, split into time in generation and
time outside it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .settings import Settings


def _prime(answerer, llm) -> None:
    """Leave the model's KV cache holding the system prompt and nothing after it."""
    llm.complete([{"role": "system", "content": answerer.steps.prompt("answer")},
                  {"role": "user", "content": "Ready?"}], max_tokens=1)


def _raw(llm, messages: list[dict], max_tokens: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    for _ in llm.stream(messages, max_tokens=max_tokens):
        if first is None:
            first = time.perf_counter() - t0
    return (time.perf_counter() - t0) * 1000, (first or 0.0) * 1000


def model_questions(questions: list[str], answerer, count: int) -> list[str]:
    """The first ``count`` questions whose plan sends them to the model."""
    from .plan import read_question

    dates = answerer.corpus.store.meeting_dates()
    out = []
    for q in questions:
        if read_question(q, dates).kind in ("fact", "parts"):
            out.append(q)
        if len(out) == count:
            break
    return out


def bench_answers(settings: Settings, questions: list[str], fast: bool = False, progress=None) -> dict:
    from .answer import Answerer

    answerer = Answerer(settings, progress=False, echo=lambda m: None)
    llm = answerer.llm(fast=fast)
    seen: list[list[dict]] = []
    answerer.steps.on_prompt = seen.append
    answerer.ask(questions[0], fast=fast)          # warm-up: every lazy load happens here
    plain = None
    if settings.draft_tokens and getattr(llm, "draft", None) is not None:
        from .llm import get_llm

        plain = get_llm(str(llm.path), settings.n_ctx, settings.threads, settings.flash_attn, 0)
    rows = []
    task = progress.add_task("ask vs raw llama.cpp", total=len(questions)) if progress else None
    for q in questions:
        seen.clear()
        _prime(answerer, llm)
        t0 = time.perf_counter()
        ans = answerer.ask(q, fast=fast)
        ask_ms = (time.perf_counter() - t0) * 1000
        prompts = list(seen)
        raw_ms = raw_first = plain_ms = 0.0
        for i, messages in enumerate(prompts):
            _prime(answerer, llm)
            total, first = _raw(llm, messages, settings.max_answer_tokens)
            raw_ms += total
            raw_first = first if i == 0 else raw_first
            if plain is not None:
                _prime(answerer, plain)
                plain_ms += _raw(plain, messages, settings.max_answer_tokens)[0]
        if prompts:
            rows.append({"question": q, "ask_ms": ask_ms, "ask_first_token_ms": ans.timings_ms.get("first_token"),
                         "raw_ms": raw_ms, "raw_first_token_ms": raw_first, "generations": len(prompts),
                         "no_draft_ms": plain_ms or None,
                         "prompt_tokens": ans.timings_ms.get("prompt_tokens"),
                         "ratio": ask_ms / raw_ms if raw_ms else None, "overhead_ms": ask_ms - raw_ms})
        if task is not None:
            progress.advance(task)
    if task is not None:
        progress.remove_task(task)
    ratios = [r["ratio"] for r in rows if r["ratio"]]
    drafted = [r["raw_ms"] / r["no_draft_ms"] for r in rows if r["no_draft_ms"]]
    return {"questions": len(rows), "rows": rows,
            "no_draft_p50_ms": statistics.median(r["no_draft_ms"] for r in rows) if drafted else None,
            "draft_ratio_p50": statistics.median(drafted) if drafted else None,
            "ask_p50_ms": statistics.median(r["ask_ms"] for r in rows),
            "raw_p50_ms": statistics.median(r["raw_ms"] for r in rows),
            "ratio_p50": statistics.median(ratios), "ratio_max": max(ratios),
            "overhead_p50_ms": statistics.median(r["overhead_ms"] for r in rows),
            "first_token_ratio_p50": statistics.median(
                r["ask_first_token_ms"] / r["raw_first_token_ms"] for r in rows
                if r["ask_first_token_ms"] and r["raw_first_token_ms"])}


def bench_cold_ask(settings: Settings, question: str, runs: int = 3) -> dict:
    """New `ask --no-serve --json` processes: wall time, and the part spent outside generation."""
    ask = Path(sys.executable).with_name("ask")
    env = dict(os.environ, RAG_INDEX_DIR=str(settings.index_dir), RAG_SERVE="off")
    rows = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([str(ask), "--json", "--no-serve", question], env=env, capture_output=True,
                             text=True, timeout=600)
        wall = (time.perf_counter() - t0) * 1000
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "ask failed")
        timings = json.loads(out.stdout)["timings_ms"]
        generate = timings.get("generate", 0.0)
        rows.append({"wall_ms": wall, "generate_ms": generate, "outside_generation_ms": wall - generate})
    return {"question": question, "runs": rows,
            "wall_p50_ms": statistics.median(r["wall_ms"] for r in rows),
            "outside_generation_p50_ms": statistics.median(r["outside_generation_ms"] for r in rows)}


def render(report: dict, console) -> None:
    from rich.table import Table

    a = report["answers"]
    table = Table(title=f"ask vs raw llama.cpp, same prompts ({a['questions']} questions, warm)")
    for col in ("question", "ask s", "raw s", "ratio", "overhead ms", "1st tok ask/raw s", "prompt tok",
                "no draft s"):
        table.add_column(col, justify="left" if col == "question" else "right")
    secs = lambda ms: "-" if not ms else f"{ms / 1000:.2f}"  # noqa: E731
    for r in a["rows"]:
        table.add_row(r["question"][:48], f"{r['ask_ms'] / 1000:.2f}", f"{r['raw_ms'] / 1000:.2f}",
                      f"{r['ratio']:.2f}", f"{r['overhead_ms']:.0f}",
                      f"{(r['ask_first_token_ms'] or 0) / 1000:.2f}/{r['raw_first_token_ms'] / 1000:.2f}",
                      str(r["prompt_tokens"] or "-"), secs(r.get("no_draft_ms")))
    table.add_row("median", f"{a['ask_p50_ms'] / 1000:.2f}", f"{a['raw_p50_ms'] / 1000:.2f}",
                  f"{a['ratio_p50']:.2f}", f"{a['overhead_p50_ms']:.0f}", f"x{a['first_token_ratio_p50']:.2f}", "",
                  secs(a.get("no_draft_p50_ms")))
    console.print(table)
    if a.get("draft_ratio_p50"):
        console.print(f"prompt-lookup drafting: raw / no drafting, median per question x{a['draft_ratio_p50']:.2f}")
    c = report.get("cold")
    if c:
        console.print(f"cold ask (new process, no server), {len(c['runs'])} runs: wall p50 "
                      f"{c['wall_p50_ms'] / 1000:.2f} s, outside generation p50 "
                      f"{c['outside_generation_p50_ms'] / 1000:.2f} s")
