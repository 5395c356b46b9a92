"""`rag serve`: a real server process on a Unix socket, asked by `ask` and by two callers at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag import serve
from rag.settings import load_settings


@pytest.fixture
def server(tmp_path, tiny_model):
    """`rag serve` on a fresh index with the tiny model; killed afterwards."""
    env = dict(os.environ, RAG_INDEX_DIR=str(tmp_path / "index"), RAG_MODEL_PATH=tiny_model, RAG_SERVE="on")
    settings = load_settings().with_overrides(index_dir=tmp_path / "index", model_path=Path(tiny_model))
    rag = Path(sys.executable).with_name("rag")
    proc = subprocess.Popen([str(rag), "serve", "--idle", "120"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while not serve.ping(settings):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "rag serve did not start"
            time.sleep(0.5)
        yield {"env": env, "settings": settings, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not serve.socket_path(settings).exists()     # cleaned up on exit


def test_ask_uses_the_running_server(server):
    ask = Path(sys.executable).with_name("ask")
    out = subprocess.run([str(ask), "--json", "How much funding did the Violence Reduction Network get?"],
                         env=server["env"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Violence Reduction Network" in out.stdout and '"citations"' in out.stdout
    # Answered by the server: this process loaded no model (the server log has the load).
    assert "Starting the answer server" not in out.stderr


def test_two_callers_at_once_both_get_their_own_answer(server):
    questions = ["What is ECINS?", "Who presented the Hate Crime Strategic Update in 2021?"]
    results: dict[int, object] = {}
    tokens: dict[int, list[str]] = {0: [], 1: []}

    def go(i):
        results[i] = serve.ask_server(server["settings"], {"question": questions[i]},
                                      on_token=tokens[i].append)

    threads = [threading.Thread(target=go, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    streams = ["".join(tokens[i]).strip() for i in (0, 1)]
    for i in (0, 1):
        ans = results[i]
        assert ans is not None and ans.question == questions[i]
        # Each caller's stream is one generation of its own, not both interleaved. (The
        # checked answer may replace streamed sentences its passages do not ground, so the
        # stream is not compared with it.)
        assert streams[i] and streams[i] not in streams[1 - i]


def test_a_bad_question_comes_back_as_an_error(server):
    with pytest.raises(serve.ServerError) as err:
        serve.ask_server(server["settings"], {"question": "   "})
    assert err.value.kind == "QuestionError"
