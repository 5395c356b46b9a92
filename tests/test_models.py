"""Model files come from installed wheels; split models are assembled once and verified."""

from __future__ import annotations

from pathlib import Path

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


def test_a_yes_no_check_leaves_the_answer_cache_as_it_found_it(tiny_model):
    """A check evaluates its own prompt from the start; the answer prompts' cached prefix
    is put back, so the next answer is the same as without the check and reuses it."""
    from rag.llm import LLM

    system = (Path(__file__).parent.parent / "prompts" / "answer.txt").read_text()
    ask = lambda q: [{"role": "system", "content": system},  # noqa: E731
                     {"role": "user", "content": f"Passages:\n[1] 9 June 2021, item 7: Parks\nThe play area "
                                                 f"would reopen on 1 July.\n\nQuestion: {q}"}]
    check = [{"role": "system", "content": "You check answers."},
             {"role": "user", "content": "Question: When will the play area reopen?\nText: On 1 July.\nReply Yes or No."}]
    llm = LLM(Path(tiny_model), n_ctx=1024, threads=2)
    alone = llm.yes_probability(check)
    llm.complete(ask("What reopens?"), max_tokens=8)
    cached = llm.model.n_tokens
    kept = llm.model.input_ids[:cached].copy()
    after = llm.yes_probability(check)
    assert 0.0 < after < 1.0 and abs(after - alone) < 1e-4
    assert llm.model.n_tokens == cached and (llm.model.input_ids[:cached] == kept).all()
    with_check = llm.complete(ask("When will the play area reopen?"), max_tokens=12)

    other = LLM(Path(tiny_model), n_ctx=1024, threads=2)
    other.complete(ask("What reopens?"), max_tokens=8)
    assert with_check == other.complete(ask("When will the play area reopen?"), max_tokens=12)


def test_flash_attention_is_a_setting_that_keys_remembered_answers(tiny_model, tmp_path, monkeypatch):
    """Off by default; RAG_FLASH_ATTN=1 turns it on; an evaluation's remembered answers of
    one never stand in for the other's (they can differ)."""
    from rag.llm import LLM, RememberedLLM

    assert load_settings().flash_attn is False
    monkeypatch.setenv("RAG_FLASH_ATTN", "1")
    assert load_settings().flash_attn is True
    monkeypatch.setenv("RAG_FLASH_ATTN", "maybe")
    with pytest.raises(SystemExit, match="RAG_FLASH_ATTN='maybe' is not a valid value"):
        load_settings()

    on, off = (LLM(Path(tiny_model), n_ctx=1024, threads=2, flash_attn=fa) for fa in (True, False))
    assert on.model.context_params.flash_attn_type != off.model.context_params.flash_attn_type
    messages = [{"role": "user", "content": "Name a colour."}]
    memo_on = RememberedLLM(on, tmp_path / "gen.sqlite")
    memo_on.complete(messages, max_tokens=4)
    memo_off = RememberedLLM(off, tmp_path / "gen.sqlite")
    memo_off.complete(messages, max_tokens=4)
    assert (memo_on.misses, memo_off.misses, memo_off.hits) == (1, 1, 0)


def test_prompt_lookup_drafts_from_the_prompt_and_keeps_the_greedy_answer(tiny_model, tmp_path):
    """Drafted tokens are the words that followed the answer's last two or three tokens in
    the prompt; the model checks several per evaluation and keeps only what greedy decoding
    chooses, so the answer is the one decoded token by token, in fewer evaluations."""
    import numpy as np

    from rag.llm import LLM, PromptLookup, RememberedLLM

    lookup = PromptLookup(3)
    assert lookup(np.array([5, 6, 7, 8, 1, 5, 6])).tolist() == [7, 8, 1]
    assert lookup(np.array([5, 6, 9, 4, 5, 6, 2, 2, 5, 6])).tolist() == [2, 2, 5]   # the latest occurrence
    assert lookup(np.array([1, 2, 3, 4])).tolist() == []                            # nothing to draft

    system = (Path(__file__).parent.parent / "prompts" / "answer.txt").read_text()
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": "Passages:\n[1] 9 June 2021, item 7: Parks\nThe Board agreed that the "
                                            "play area on Mill Lane would reopen on 1 July 2021 after the new safety "
                                            "surface was laid.\n\nQuestion: What did the Board agree about the play "
                                            "area on Mill Lane?"}]
    drafted, plain = (LLM(Path(tiny_model), n_ctx=1024, threads=2, draft_tokens=n) for n in (3, 0))
    evals = []
    evaluate = drafted.model.eval
    drafted.model.eval = lambda tokens: (evals.append(len(tokens)), evaluate(tokens))[1]
    answer = drafted.complete(messages, max_tokens=40)
    assert answer == plain.complete(messages, max_tokens=40)
    assert "Mill Lane" in answer
    steps = evals[2:]     # after the system message and the question's own tokens
    tokens = len(drafted.model.tokenize(answer.encode(), add_bos=False))
    assert max(steps) == 4 and len(steps) < tokens

    # Answers remembered with drafting never stand in for answers without it (rounding differs).
    assert drafted.variant != plain.variant
    RememberedLLM(drafted, tmp_path / "gen.sqlite").complete(messages, max_tokens=4)
    memo = RememberedLLM(plain, tmp_path / "gen.sqlite")
    memo.complete(messages, max_tokens=4)
    assert (memo.misses, memo.hits) == (1, 0)
