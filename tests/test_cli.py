"""The console scripts, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(args, env, stdin=None, timeout=300):
    return subprocess.run([str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True,
                          input=stdin, timeout=timeout)


@pytest.fixture(scope="module")
def shared_env(corpus, shared_settings):
    env = dict(os.environ)
    env["RAG_INDEX_DIR"] = str(shared_settings.index_dir)
    return env


def test_first_ask_builds_the_missing_index_then_answers(cli_env):
    result = run(["ask", "--no-llm", "how much funding did the Violence Reduction Network have?"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "No index yet: building it" in result.stderr
    assert "880,000" in result.stdout and "Sources:" in result.stdout
    assert "December 2019, item 10" in result.stdout
    assert (Path(cli_env["RAG_INDEX_DIR"]) / "vectors.faiss").exists()


def test_ask_json_shape(shared_env, tiny_model):
    result = run(["ask", "--json", "--model", tiny_model, "--k", "3", "when is Glen Parva prison due to be completed?"],
                 shared_env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"question", "answer", "abstained", "citations", "timings_ms"}
    assert "total" in out["timings_ms"]
    for c in out["citations"]:
        core = {"n", "doc", "meeting_date", "item", "minute", "title", "quote"}
        # The body's name and the item's location come when the minutes give them.
        assert core <= set(c) <= core | {"committee", "code", "pages", "anchor"}
        assert f"[{c['n']}]" in out["answer"]


@pytest.mark.parametrize("args,message", [
    (["ask", ""], "error: the question is empty"),
    (["ask", "--k", "0", "anything"], "error: --k must be between 1 and 20"),
    (["ask", "--from", "last week", "anything"], "error: --from wants a date"),
    (["ask", "--model", "/no/such/model.gguf", "what is ECINS?"], "error: model file not found"),
    (["rag", "search", ""], "error: the search query is empty"),
    (["rag", "remove", "nothing.txt"], "error: no document named"),
])
def test_bad_input_is_one_line_and_non_zero(shared_env, args, message):
    result = run(args, shared_env, stdin="")
    assert result.returncode == 2
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_long_question_is_refused_in_one_line(shared_env):
    result = run(["ask", "x" * 20000], shared_env)
    assert result.returncode == 2 and "20,000 characters" in result.stderr and "Traceback" not in result.stderr


def test_rag_items_json(shared_env):
    result = run(["rag", "items", "--json"], shared_env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"doc", "meeting_date", "item", "minute", "title"} <= set(r) for r in rows)
    nine = [r for r in rows if r["doc"] == "lrscsb-minutes-2025-09.txt" and r["item"] == 9]
    assert nine and nine[0]["meeting_date"] == "2025-09"
    assert {r["meeting_date"] for r in rows} >= {"2014-09-25", "2015-01-28", "2015-03-19", "2019-12", "2021-09-24"}


def test_rag_search_json(shared_env):
    result = run(["rag", "search", "--json", "--k", "3", "ECINS data migration"], shared_env)
    out = json.loads(result.stdout)
    assert out["query"] == "ECINS data migration"
    assert [r["rank"] for r in out["results"]] == [1, 2, 3]
    assert set(out["results"][0]) == {"rank", "doc", "meeting_date", "item", "minute", "title", "score", "text"}
    assert "ECINS" in out["results"][0]["title"] or "ECINS" in out["results"][0]["text"]


def test_rag_default_command_answers(shared_env):
    result = run(["rag", "--no-llm", "when was the Glen Parva prison due to be finished?"], shared_env)
    assert result.returncode == 0 and "24 September 2021, minute 29: Glen Parva Prison" in result.stdout


def test_ingest_reports_each_file_and_fails_on_bad_ones(cli_env, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Budget. Minutes: The Board agreed a budget. |\nClose. Minutes: Closed. |\nEnd. Minutes: End. |\n")
    (tmp_path / "empty.txt").write_text("")
    result = run(["rag", "ingest", "--quiet", str(good), str(tmp_path / "empty.txt")], cli_env)
    assert result.returncode == 1
    assert "added    good.txt: 3 items" in result.stdout
    assert "error    empty.txt: file is empty" in result.stdout
    again = run(["rag", "ingest", "--quiet", str(good)], cli_env)
    assert again.returncode == 0 and "unchanged good.txt" in again.stdout


def test_help_teaches(shared_env):
    result = run(["ask", "--help"], shared_env)
    assert "examples:" in result.stdout and "--no-llm" in result.stdout
    result = run(["rag", "--help"], shared_env)
    assert "ingest" in result.stdout and "eval" in result.stdout
