"""Agenda items found in real minutes of other bodies, against items written down by hand.

tests/layouts/ holds real documents (PDF, HTML, text) of UK, US, Canadian and French bodies,
each with a .truth.json (see tests/layouts/README.md for sources and licences). The scores
here are the same figures `rag eval --layouts` prints.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from rag.layouts import DEV2_DIR, HOLDOUT_DIR, LAYOUT_DIR, score_all, totals
from rag.parse import parse_file

TRUTH = sorted(LAYOUT_DIR.glob("*.truth.json"))


@pytest.fixture(scope="module")
def scores():
    return score_all()


def test_layout_set_is_real_and_varied():
    both = TRUTH + sorted(HOLDOUT_DIR.glob("*.truth.json"))
    truths = [json.loads(f.read_text()) | {"_dir": f.parent} for f in both]
    assert len(TRUTH) >= 15
    assert len({t["body"] for t in truths}) >= 8
    assert {"pdf", "html", "txt", "docx"} <= {t["format"] for t in truths}
    assert {"UK", "US", "CA"} <= {t["country"] for t in truths}
    for t in truths:
        assert (t["_dir"] / t["file"]).is_file(), t["file"]
        assert t["source"] and t["licence"] and t["meetings"]
        assert all(m["items"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", m["date"]) for m in t["meetings"])


def test_items_found_at_least_ninety_percent(scores):
    t = totals(scores)
    print()
    for s in scores:
        print(f"{s.file:55} P {s.precision:.2f} R {s.recall:.2f} titles {s.title_accuracy:.2f}")
    assert t["precision"] >= 0.90, t
    assert t["recall"] >= 0.90, t


def test_held_out_documents_too():
    """Documents gathered after the segmenter was written, never tuned on."""
    held = score_all(HOLDOUT_DIR)
    t = totals(held)
    assert t["precision"] >= 0.90 and t["recall"] >= 0.90, t
    assert all(s.dates_right for s in held)


def test_every_meeting_date_is_right(scores):
    assert [s.file for s in scores if not s.dates_right] == []


def test_no_document_becomes_one_item(scores):
    assert [s.file for s in scores if s.single_item] == []


def test_titles_are_never_furniture():
    bad = re.compile(r"https?://|www\.|\bpage \d+ of \d+\b|pdf icon|\b\d+ ?KB\b|^untitled$", re.I)
    for f in TRUTH:
        doc = LAYOUT_DIR / json.loads(f.read_text())["file"]
        for it in parse_file(doc):
            assert not bad.search(it.title), (doc.name, it.title)
            assert it.title.strip() and len(it.title) <= 160, (doc.name, it.title)


def test_each_meeting_in_one_pdf_is_found_with_its_own_items():
    items = parse_file(LAYOUT_DIR / "alameda-city-council-2012-01-03-three-meetings.pdf")
    starts = [n for n, i in enumerate(items) if i.kind == "header"]       # one per meeting
    assert len(starts) == 3
    assert [items[n + 1].pages for n in starts] == ["1", "4", "5"]        # where each begins
    assert [items[n + 1].code for n in starts][1] == "12-001"             # the closed session's first
    assert {i.meeting_date for i in items} == {"2012-01-03"}


def test_two_meetings_in_one_text_file_keep_their_own_numbers():
    items = [i for i in parse_file(LAYOUT_DIR / "h-wye-valley-cc-2022-05-23.txt") if i.kind != "header"]
    codes = [i.code for i in items]
    assert codes[:9] == [str(n) for n in range(805, 814)]
    assert codes[9:] == [str(n) for n in range(3291, 3310)]


def test_sub_points_and_resolution_parts_stay_inside_their_item():
    items = {i.code: i for i in parse_file(LAYOUT_DIR / "h-west-dereham-pc-2020-10-01.html")}
    assert sorted(int(c) for c in items if c and c.isdigit()) == list(range(1, 16))
    assert "5.1" in items["5"].body and "6.1.1" in items["6"].body
    guelph = parse_file(LAYOUT_DIR / "x-guelph-council-as-gmhi-shareholder-2014-08-13.pdf")
    assert not any(re.match(r"(?:moved|seconded|that)\b", i.title, re.I) for i in guelph)


def test_pdf_items_know_their_pages():
    items = [i for i in parse_file(LAYOUT_DIR / "alameda-planning-board-2023-09-11.pdf") if i.kind != "header"]
    assert items[0].pages == "1"
    assert all(i.pages and re.fullmatch(r"\d+(?:-\d+)?", i.pages) for i in items)
    firsts = [int(i.pages.split("-")[0]) for i in items]
    assert firsts == sorted(firsts) and firsts[-1] >= 3


def test_text_without_items_becomes_titled_sections(tmp_path):
    """A verbatim transcript (real, from the Portland file) has no agenda structure at all."""
    text = (LAYOUT_DIR / "h-portland-city-council-2011-01-12.txt").read_text(errors="replace")
    transcript = text[text.index("Closed Caption File"):]
    doc = tmp_path / "portland-transcript.txt"
    doc.write_text(transcript)
    items = parse_file(doc)
    assert len(items) >= 5
    assert all(len(i.body) <= 4000 for i in items)
    assert all(i.title and not i.title.lower().startswith(("portland-transcript", "closed caption file"))
               or i is items[0] for i in items)


def test_a_layout_document_is_ingested_with_its_location(fresh_settings, tmp_path):
    from rag.ingest import Corpus

    src = tmp_path / "minutes"
    src.mkdir()
    shutil.copy(LAYOUT_DIR / "alameda-planning-board-2023-09-11.pdf", src)
    corpus = Corpus.open(fresh_settings)
    report = corpus.ingest([src], progress=False)
    assert not report.errors and report.items >= 15
    stored = [it for _, it in corpus.store.items() if it.kind != "header"]
    assert all(it.pages for it in stored)
    assert any(it.code == "5-A 2023-3367" for it in stored)
    cite = next(it for it in stored if it.code == "5-A 2023-3367").citation()
    assert cite.startswith("11 September 2023, item 5-A 2023-3367, pp. 1-2: ")


def test_a_period_without_minutes_is_found_in_the_minutes_that_report_on_it(fresh_settings, tmp_path):
    """"In 2017" names what the SSA spent, not a meeting: the January 2018 minutes report it."""
    from rag.answer import Answerer
    from rag.ingest import Corpus

    src = tmp_path / "minutes"
    src.mkdir()
    shutil.copy(LAYOUT_DIR / "chicago-ssa21-commission-2018-01-29.pdf", src)
    corpus = Corpus.open(fresh_settings)
    corpus.ingest([src], progress=False)
    from rag.plan import read_question

    answerer = Answerer(fresh_settings, corpus=corpus, progress=False)
    question = "How much did the Lincoln Square special service area spend in 2017?"
    plan = read_question(question, corpus.store.meeting_dates())
    assert plan.scope.year == "2017"                      # read as a time ...
    hits = answerer.steps.retrieve(plan)                  # ... with no minutes of its own
    assert any("$210,783" in h.item_text for h in hits)
    assert not answerer.ask(question, no_llm=True).abstained
    # What the body itself decided in a year it has no minutes of stays unanswered.
    assert answerer.ask("What did the commission decide in 2016?", no_llm=True).abstained


def minutes_items(path):
    return [i for i in parse_file(path) if i.kind != "header"]


def test_points_numbered_afresh_under_each_heading_are_not_the_items():
    # Each item's paragraphs are numbered 1., 2., ... again; the bold headings are the items.
    items = minutes_items(DEV2_DIR / "kent-county-council-corporate-parenting-panel-2024-12-10.pdf")
    assert [i.title for i in items][:3] == ["Apologies and Substitutes", "Chairman’s Announcements",
                                            "Minutes of the meeting held on 29 October 2024"]
    assert len(items) == 10 and items[-1].title == "Work programme"
    # Section headings in capitals, with numbered entries under some of them.
    items = minutes_items(DEV2_DIR / "rivergrove-city-council-2018-12-10.pdf")
    assert [i.title for i in items][-3:] == ["COMMITTEE REPORTS", "COUNCILORS’ REPORTS", "ADJOURNMENT"]
    assert "1. Transportation" in items[-3].body


def test_a_number_alone_on_its_line_opens_the_title_below_it():
    items = minutes_items(DEV2_DIR / "limerick-newcastle-west-municipal-district-2014-07-02.md")
    assert [i.code for i in items] == [str(n) for n in range(1, 11)]
    assert [i.title for i in items][:3] == ["Adoption of Minutes", "Schedule of Meetings", "Travel and Transportation"]


def test_resolution_numbers_open_items_and_a_resolutions_own_list_stays_in_it():
    items = minutes_items(DEV2_DIR / "nipissing-township-council-2020-09-15.html")
    codes = [i.code for i in items]
    assert [c for c in codes if c and c.startswith("R2020")][-3:] == ["R2020-182", "R2020-183", "R2020-184"]
    assert not {"1", "2", "3", "4"} & set(codes)
    assert "Purchase 2 Electrostatic Units" in next(i.body for i in items if i.code == "R2020-179")


def test_session_18_documents_are_found_better_than_before_it():
    """Before the three mechanisms above, the dev2 set scored precision 0.37, recall 0.39."""
    t = totals(score_all(DEV2_DIR))
    assert t["precision"] >= 0.65 and t["recall"] >= 0.85, t
