"""The fast part of the evaluation suite (retrieval and citations, no generation) as a CI gate.

Thresholds sit a little under the figures measured when they were set (see README); a
drop below them is a regression to look at, not noise.
"""

from __future__ import annotations

import json

import pytest

from rag import evaluate
from rag.evaluate import facts_present, load_questions, matches_gold, retrieval_metrics, score_answers
from rag.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def questions():
    return load_questions()


def test_question_set_is_well_formed(questions):
    assert len(questions) >= 80
    kinds = {q.kind for q in questions}
    assert {"fact", "money", "date", "person", "decision", "multi", "time", "unanswerable"} <= kinds
    assert sum(not q.answerable for q in questions) >= 10
    docs = {g["doc"] for q in questions for g in q.gold}
    assert docs == {p.name for p in (PROJECT_ROOT / "data" / "minutes").glob("*.txt")}
    for q in questions:
        assert q.answerable == bool(q.gold) == bool(q.facts), q.id
        assert facts_present(q.reference, q.facts), q.id          # the reference answer passes its own check


def test_dev_set_is_well_formed_and_separate():
    dev = load_questions(PROJECT_ROOT / "eval" / "dev_questions.jsonl")
    assert len(dev) >= 30 and sum(not q.answerable for q in dev) >= 5
    assert not {q.question for q in dev} & {q.question for q in load_questions()}
    for q in dev:
        assert q.answerable == bool(q.gold) == bool(q.facts), q.id
        assert facts_present(q.reference, q.facts), q.id


@pytest.mark.parametrize("name", ["questions.jsonl", "dev_questions.jsonl"])
def test_every_gold_item_exists_in_the_index(name, corpus):
    refs = [{"doc": it.doc, "meeting_date": it.meeting_date, "item": it.item, "minute": it.minute, "title": it.title}
            for _, it in corpus.store.items()]
    for q in load_questions(PROJECT_ROOT / "eval" / name):
        for g in q.gold:
            assert any(matches_gold(r, g) for r in refs), (q.id, g)


def test_retrieval_recall_and_hybrid_is_best(questions, answerer):
    metrics = retrieval_metrics(answerer.retriever, questions, k=5)
    print(json.dumps(metrics, indent=1))
    hybrid, dense, keyword = (metrics[m]["recall@5"] for m in ("hybrid", "dense", "keyword"))
    assert hybrid >= 0.95
    assert hybrid >= dense and hybrid >= keyword
    assert metrics["hybrid"]["mrr"] >= 0.85


def test_extractive_citations_and_abstention(questions, answerer):
    rows = [answerer.ask(q.question, no_llm=True).to_json() for q in questions]
    scores = score_answers(questions, rows)
    print(json.dumps(scores, indent=1))
    assert scores["citation_recall"] >= 0.80
    assert scores["citation_precision"] >= 0.65
    # Nothing is cited when the answer declines.
    assert all(not r["citations"] for r in rows if r["abstained"])
    # Every citation number in an answer points at a listed citation, and vice versa.
    for r in rows:
        listed = {c["n"] for c in r["citations"]}
        shown = {int(n) for n in __import__("re").findall(r"\[(\d+)\]", r["answer"])}
        assert shown == listed, r["question"]


def test_reports_are_compared_only_with_the_same_question_set(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "RESULTS_DIR", tmp_path)
    (tmp_path / "20260101-000000.json").write_text(json.dumps({"questions": 145, "systems": {}}))
    (tmp_path / "20260102-000000.json").write_text(
        json.dumps({"questions": 40, "questions_file": "dev_questions.jsonl", "systems": {}}))
    (tmp_path / "20260103-000000.json").write_text("{not json")
    assert evaluate.previous_report(count=145)["_path"].endswith("20260101-000000.json")
    assert evaluate.previous_report(questions_file="dev_questions.jsonl", count=40)["_path"].endswith("0102-000000.json")
    assert evaluate.previous_report(questions_file="other.jsonl") is None


def test_reused_generations_are_the_models_own_and_only_for_the_same_prompt(tmp_path, tiny_model):
    # The ablation runs reuse answers across runs: only an unchanged prompt may reuse one.
    from rag.llm import RememberedLLM, get_llm

    asked = [{"role": "user", "content": "Name a colour."}]
    first = RememberedLLM(get_llm(tiny_model), tmp_path / "gen.sqlite")
    said = first.complete(asked, max_tokens=8)
    assert (first.hits, first.misses) == (0, 1)
    later = RememberedLLM(get_llm(tiny_model), tmp_path / "gen.sqlite")   # a later run
    assert later.complete(asked, max_tokens=8) == said
    assert (later.hits, later.misses) == (1, 0)
    later.complete([{"role": "user", "content": "Name a fruit."}], max_tokens=8)
    later.complete(asked, max_tokens=4)   # another length is another request
    assert (later.hits, later.misses) == (1, 2)


@pytest.mark.parametrize("split", sorted(evaluate.SPLITS))
def test_every_split_is_well_formed_and_its_documents_are_here(split):
    """A split's questions score against documents the eval can index, and each answerable
    one's reference passes its own facts (the frozen files are only checked, never shown)."""
    from rag import layouts

    here = {p.name for d in (PROJECT_ROOT / "data" / "minutes", layouts.LAYOUT_DIR, layouts.HOLDOUT_DIR,
                             layouts.FROZEN2_DIR) for p in d.iterdir()}
    questions = [q for f in evaluate.split_files(split, None) for q in load_questions(f)]
    assert questions and len({q.id for q in questions}) == len(questions)
    for q in questions:
        assert all(g.get("doc") in here for g in q.gold if g.get("doc")), q.id
        if q.answerable:
            assert q.facts and facts_present(q.reference, q.facts), q.id
        else:
            assert not q.facts, q.id
