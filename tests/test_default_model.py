"""The default 1.5B model end to end (marked slow: about a minute on 2 cores)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_dardr_question_with_the_default_model(answerer):
    ans = answerer.ask("what happened to the DArDR post?")
    assert not ans.abstained
    text = ans.answer.lower()
    assert "extend" in text or "extension" in text
    assert "safeguarding" in text or "next meeting" in text
    assert any(c.doc == "lrscsb-minutes-2025-09.txt" and c.item == 9 for c in ans.citations)
    for c in ans.citations:
        assert f"[{c.n}]" in ans.answer


def test_default_model_declines_what_the_minutes_do_not_say(answerer):
    ans = answerer.ask("What salary was agreed for the Chief Constable in the March 2025 minutes?")
    assert ans.abstained and ans.citations == []
