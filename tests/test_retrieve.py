"""Hybrid retrieval over the real index of the sample minutes."""

from __future__ import annotations

import pytest

from rag.retrieve import Retriever, time_scope
from rag.store import Filters


@pytest.fixture(scope="module")
def retriever(corpus):
    return Retriever(corpus)


@pytest.mark.parametrize("query,doc,number", [
    ("DArDR support officer post extension", "lrscsb-minutes-2025-09.txt", ("item", 9)),
    ("admins trained as super-users on the new anti-social behaviour system", "lscsb-minutes-2025-03.txt", ("item", 9)),
    ("construction of the new prison at Glen Parva", "lscsb-minutes-2021-09-24.txt", ("minute", 29)),
    ("Crimestoppers regional manager presentation", "lscsb-minutes-2019-12.txt", ("item", 8)),
    ("money allocated to the homicide review learning event", "lscsb-agenda-pack-2015-03-19.txt", ("minute", 83)),
])
def test_top_hit_is_the_right_item(retriever, query, doc, number):
    top = retriever.search(query, k=3)[0]
    assert top.doc == doc
    assert getattr(top, number[0]) == number[1]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_each_item_appears_once(retriever, mode):
    hits = retriever.search("Safer Communities performance quarter report", k=8, mode=mode)
    assert len({h.item_id for h in hits}) == len(hits) > 0


def test_filters_by_date_document_and_committee(retriever):
    hits = retriever.search("performance report", k=10, filters=Filters(date_from="2025-01-01"))
    assert hits and all(h.meeting_date >= "2025" for h in hits)
    hits = retriever.search("performance report", k=10, filters=Filters(date_from="2014-01-01", date_to="2014-12-31"))
    assert hits and all(h.meeting_date.startswith("2014") for h in hits)
    hits = retriever.search("performance", k=10, filters=Filters(doc="lscsb-minutes-2019-12.txt"))
    assert hits and {h.doc for h in hits} == {"lscsb-minutes-2019-12.txt"}
    # A YYYY-MM meeting counts as the whole month.
    hits = retriever.search("action log", k=10, filters=Filters(date_from="2019-12-13", date_to="2019-12-13"))
    assert hits and {h.meeting_date for h in hits} == {"2019-12"}
    hits = retriever.search("action log", k=10, filters=Filters(committee="Safer Communities"))
    assert hits and all("Safer Communities" in (h.committee or "") for h in hits)


def test_queries_with_no_results(retriever):
    assert retriever.search("anything", k=5, filters=Filters(date_from="2030-01-01")) == []
    assert retriever.search("anything", k=5, filters=Filters(doc="no-such-file.txt")) == []
    assert retriever.search("zxqv wplm", k=5, mode="keyword") == []
    assert retriever.search("the of and", k=5, mode="keyword") == []     # only stop words


def test_time_scope_from_the_question(corpus):
    dates = corpus.store.meeting_dates()
    assert time_scope("what was decided in 2015?", dates).filters == Filters(date_from="2015-01-01", date_to="2015-12-31")
    assert time_scope("at the March 2025 meeting?", dates).filters == Filters(date_from="2025-03-01", date_to="2025-03-31")
    latest = time_scope("what did the latest meeting decide?", dates)
    assert latest.filters.date_to == "2025-09"
    assert time_scope("what does the ASB, Crime and Policing Act 2014 change?", dates).filters == Filters()
    assert time_scope("anything since 2021?", dates).filters == Filters(date_from="2021-01-01")
    assert time_scope("contracts commissioned in early 2015?", dates).label == "2015"
    assert time_scope("plans made in mid-2021", dates).label == "2021"
    # A year between "the" and a noun names a thing, made or reported in other years' minutes.
    assert time_scope("reviewed before the 2014 revision?", dates).filters == Filters()
    assert time_scope("the precept for the 2020/21 precept round?", dates).filters == Filters()
    assert time_scope("what was spent in the 2020/21 financial year?", dates).label == "2020"
    assert time_scope("what happened in the 2015 meeting?", dates).label == "2015"
