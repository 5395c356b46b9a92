"""Shared fixtures: the real bundled minutes, a real index in a temp dir, the real models."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rag.settings import PROJECT_ROOT, Settings, load_settings

# `ask` would start a background `rag serve` per test index; the serve tests start their own.
os.environ["RAG_SERVE"] = "off"

CORPUS = PROJECT_ROOT / "data" / "minutes"
SAMPLES = sorted(p for p in CORPUS.glob("*.txt"))


def make_settings(index_dir: Path, **overrides) -> Settings:
    return load_settings().with_overrides(index_dir=index_dir, **overrides)


@pytest.fixture
def fresh_settings(tmp_path) -> Settings:
    """A brand-new, empty index folder for tests that write."""
    return make_settings(tmp_path / "index")


@pytest.fixture(scope="session")
def shared_settings(tmp_path_factory) -> Settings:
    """One index of the bundled corpus, built once per session, for read-only tests."""
    return make_settings(tmp_path_factory.mktemp("shared") / "index")


@pytest.fixture(scope="session")
def corpus(shared_settings):
    from rag.ingest import ensure_corpus

    return ensure_corpus(shared_settings, progress=False, echo=lambda m: None)


@pytest.fixture(scope="session")
def answerer(shared_settings, corpus):
    from rag.answer import Answerer

    return Answerer(shared_settings, corpus=corpus, progress=False)


@pytest.fixture(scope="session")
def tiny_model() -> str:
    from rag.models import tiny_model_path

    return str(tiny_model_path())


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """The sample minutes copied to a temp folder, so a test may change or delete them."""
    dest = tmp_path / "minutes"
    dest.mkdir()
    for f in SAMPLES:
        shutil.copy(f, dest / f.name)
    return dest


@pytest.fixture
def cli_env(tmp_path) -> dict:
    env = dict(os.environ)
    env["RAG_INDEX_DIR"] = str(tmp_path / "cli-index")
    return env
