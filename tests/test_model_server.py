"""Generation through an OpenAI-compatible model server: llama-cpp-python's own server,
started here on loopback with the small test model."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from rag.answer import Answerer

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's server extra is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_server(tiny_model, shared_settings, tmp_path_factory):
    port = _free_port()
    # Flash attention and threads as in-process answers use them: flash attention rounds
    # differently, and splits its sums by thread; the tiny model's greedy answers follow.
    flash = "true" if shared_settings.flash_attn else "false"
    threads = str(shared_settings.threads)
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", tiny_model,
                                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                                 "--model_alias", "tiny", "--flash_attn", flash,
                                 "--n_threads", threads, "--n_threads_batch", threads],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def remote(shared_settings, corpus, model_server):
    settings = shared_settings.with_overrides(llm_url=model_server, llm_model="tiny")
    return Answerer(settings, corpus=corpus, progress=False)


def test_a_cited_answer_through_the_model_server(remote):
    ans = remote.ask("What funding did the Violence Reduction Network get?")
    assert ans.mode == "llm" and "first_token" in ans.timings_ms
    if not ans.abstained:
        assert ans.citations and all(f"[{c.n}]" in ans.answer for c in ans.citations)
    assert remote.steps.llm().name == f"tiny at {remote.settings.llm_url}/v1"


def test_the_answer_check_runs_on_the_model_server(remote):
    # A server gives no log-probabilities to rely on: its greedy Yes/No is the verdict.
    p = remote.steps.answers("What is ECINS?", "ECINS is a case management system [1].")
    assert p in (0.0, 1.0)


def test_the_answer_streams(remote):
    pieces: list[str] = []
    remote.ask("What is ECINS?", on_token=pieces.append)
    assert len(pieces) >= 3                       # token by token, not one block


def test_same_requests_as_in_process_with_the_same_model(remote, answerer, tiny_model):
    # The server is given exactly the prompts the process would evaluate. Their answers are
    # not compared token for token: a server re-reads a prompt from whatever prefix it still
    # holds, and where its batches fall changes the rounding enough to flip a greedy token of
    # the tiny model; in process every answer prompt starts from the system message's cache
    # (rag/llm.py), a policy a server of someone else's does not share.
    questions = ["What is ECINS?", "Who presented the hate crime update?"]
    for q in questions:
        sent: dict[str, list] = {"remote": [], "local": []}
        remote.steps.on_prompt, answerer.steps.on_prompt = sent["remote"].append, sent["local"].append
        try:
            far, near = remote.ask(q), answerer.ask(q, model=tiny_model)
        finally:
            remote.steps.on_prompt = answerer.steps.on_prompt = None
        assert sent["remote"] and sent["remote"] == sent["local"]
        assert far.mode == near.mode == "llm"


def test_two_questions_at_once(remote):
    out: dict[int, object] = {}
    qs = ["What is ECINS?", "When is Glen Parva prison due to open?"]
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, remote.ask(qs[i]))) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert {out[0].question, out[1].question} == set(qs)


def test_a_server_that_is_down_is_one_clear_line(shared_settings, cli_env):
    port = _free_port()
    env = dict(cli_env, RAG_LLM_URL=f"http://127.0.0.1:{port}", RAG_INDEX_DIR=str(shared_settings.index_dir))
    ask = Path(sys.executable).with_name("ask")
    out = subprocess.run([str(ask), "How much funding did the Violence Reduction Network get?"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: the model server at") and "not answering" in out.stderr
    assert "Traceback" not in out.stderr
