"""The ONNX Runtime embedder gives the torch model's vectors, so retrieval is the same either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rag.embed import Embedder, OnnxEmbedder, export_onnx, onnx_ready
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def both():
    path = onnx_ready() or export_onnx(quiet=True)
    return Embedder(), OnnxEmbedder(path)


def test_onnx_vectors_match_torch_on_real_minutes(both):
    torch_model, onnx_model = both
    lines = [l.strip() for f in SAMPLES for l in f.read_text(errors="replace").splitlines() if len(l.strip()) > 30]
    texts = lines[:150] + ["DArDR", "", "x" * 5000]       # short, empty and over-long inputs too
    a, b = torch_model.encode(texts), onnx_model.encode(texts)
    assert a.shape == b.shape == (len(texts), 384)
    assert float(np.abs(a - b).max()) < 1e-5
    assert float((a * b).sum(1).min()) > 0.99999


def test_retrieval_is_the_same_with_either_runtime(shared_settings, corpus):
    questions = ["what happened to the DArDR post?", "How much funding did the Violence Reduction Network get?",
                 "Who presented the hate crime update?", "When is Glen Parva prison due to open?"]
    code = ("import json, sys; from rag.settings import load_settings; from rag.ingest import Corpus; "
            "from rag.retrieve import Retriever; r = Retriever(Corpus.open(load_settings())); "
            "print(json.dumps([[h.item_id for h in r.search(q, k=5)] for q in sys.argv[1:]]))")
    runs = {}
    for runtime in ("torch", "onnx"):
        env = {"RAG_INDEX_DIR": str(shared_settings.index_dir), "RAG_EMBED_RUNTIME": runtime}
        out = subprocess.run([sys.executable, "-c", code, *questions], env=dict(os.environ, **env),
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        runs[runtime] = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs["torch"] == runs["onnx"]


def test_a_question_loads_no_torch(shared_settings, corpus):
    code = ("import sys; from rag.settings import load_settings; from rag.answer import Answerer; "
            "a = Answerer(load_settings(), progress=False, echo=lambda m: None); "
            "a.ask('What is ECINS?', no_llm=True); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, RAG_INDEX_DIR=str(shared_settings.index_dir)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_the_export_stays_current_when_the_weights_are_reinstalled_with_new_times(both):
    # A reinstall or a restored copy gives the weights new modification times; the export
    # must still be used (a stale stamp would bring back torch on every ask, silently).
    from rag.models import embedding_model_path

    weights = embedding_model_path() / "model.safetensors"
    before = weights.stat()
    try:
        os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
        assert onnx_ready() is not None
    finally:
        os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
