"""The default 1.5B model end to end (marked slow: about a minute on 2 cores)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_dardr_question_is_answered_as_the_minutes_record_it(answerer):
    # "What happened to X" is told per meeting in the minutes' words: proposed, not done.
    ans = answerer.ask("what happened to the DArDR post?")
    assert not ans.abstained
    text = ans.answer.lower()
    assert "looking to extend" in text and "originally created for a year" in text
    assert "funded via the safeguarding team" in text and "next meeting" in text
    assert any(c.doc == "lrscsb-minutes-2025-09.txt" and c.item == 9 for c in ans.citations)
    for c in ans.citations:
        assert f"[{c.n}]" in ans.answer


def test_default_model_answers_a_figure_with_its_item(answerer):
    ans = answerer.ask("How much money did the Violence Reduction Network get?")
    assert "first_token" in ans.timings_ms and not ans.abstained
    assert "880,000" in ans.answer
    assert any(c.doc == "lscsb-minutes-2019-12.txt" and c.item == 10 for c in ans.citations)


def test_default_model_declines_what_the_minutes_do_not_say(answerer):
    ans = answerer.ask("What salary was agreed for the Chief Constable in the March 2025 minutes?")
    assert ans.abstained and ans.citations == []


def test_what_followed_a_yes_no_part_the_minutes_leave_open_is_not_asserted(answerer):
    # The March 2025 minutes say only that Charnwood was considering whether to appeal. Asked
    # alone, the first part is declined; "what happened?", asked with it, was answered as if
    # the appeal had been made ("Charnwood Borough Council appealed the High Court ruling").
    ans = answerer.ask("Did Charnwood Borough Council appeal the High Court ruling over the "
                       "domestic homicide review, and what happened?")
    assert "council appealed" not in ans.answer.lower()
    for c in ans.citations:
        assert f"[{c.n}]" in ans.answer


def test_a_prompt_is_read_the_same_whatever_was_asked_before_it(answerer):
    # llama-cpp-python evaluates only what a prompt does not share with the one before it,
    # and where its batches then fall changes the rounding: asked twice in a row, the same
    # question was read with next-token logits 0.4 apart (and on dev one prompt's answer
    # flipped between a decline and a figure). Every answer prompt now starts from the cache
    # of the system message alone.
    import numpy as np
    from llama_cpp import llama_get_logits_ith

    from rag.settings import PROJECT_ROOT

    llm = answerer.steps.llm(fast=False, model=None)
    text = (PROJECT_ROOT / "data" / "minutes" / "lscsb-minutes-2019-12.txt").read_text()[3000:5500]
    ask = lambda q: [{"role": "system", "content": answerer.steps.prompt("answer")},  # noqa: E731
                     {"role": "user", "content": f"Passages:\n[1] December 2019, item 10: Work of the Office\n"
                                                 f"{text}\n\nQuestion: {q}"}]

    def read(*before):
        llm.model.reset()
        for messages in before:
            llm.complete(messages, max_tokens=3)
        llm.complete(ask("When must the money be spent?"), max_tokens=1)
        return np.ctypeslib.as_array(llama_get_logits_ith(llm.model._ctx.ctx, -1), shape=(llm.model.n_vocab(),)).copy()

    alone = read()
    assert np.array_equal(read(ask("When must the money be spent?")), alone)   # the same question again
    assert np.array_equal(read(ask("When must the money be spent now?")), alone)   # one sharing more of it
    assert np.array_equal(read([{"role": "user", "content": "Hello?"}]), alone)   # a prompt with no system message
    llm.model.reset()
