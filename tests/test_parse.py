"""Segmentation of the five real sample files, pinned against a reading of the text."""

from __future__ import annotations

import pytest

from rag.load import load_text
from rag.parse import derive_title, parse_document

from .conftest import CORPUS


def parse(name):
    return parse_document(name, load_text(CORPUS / name))


def minutes(items):
    return [i for i in items if i.kind == "minutes"]


def test_december_2019_capture_has_13_items_numbered_by_position():
    items = parse("lscsb-minutes-2019-12.txt")
    assert len(items) == 13
    assert [i.item for i in items] == list(range(1, 14))
    assert {i.meeting_date for i in items} == {"2019-12"}      # not in the text: from the file name
    titles = [i.title for i in items]
    assert titles[0] == "Introductions"
    assert titles[4] == "Declarations of interest"
    assert titles[12] == "Date of the next meeting"
    # Item 4 has no title and item 6 a cut-off one ("Council."): both derived from the text.
    assert items[3].title_derived and "Action Log" in items[3].title
    assert items[5].title_derived and "Performance" in items[5].title
    assert "Council" != items[5].title
    # The wrapped item 11 stays one item and keeps both lines.
    assert "public be excluded" in items[10].body and "Op Lionheart." in items[10].body
    assert items[11].body.startswith("provided at the meeting by Supt Shane")


def test_march_2025_capture():
    items = parse("lscsb-minutes-2025-03.txt")
    agenda = minutes(items)
    assert len(agenda) == 12
    assert [i.item for i in agenda] == list(range(1, 13))
    assert agenda[5].title == "Probation Service update"
    assert agenda[8].title == "Anti-social Behaviour System Procurement update"
    assert agenda[9].title == "Domestic Homicide Review Partnership Support Officer update"
    assert agenda[11].title == "Date of the next meeting"
    assert "marked ‘Agenda Item 8’" in agenda[7].body
    assert agenda[8].resolution.startswith("RESOLVED: That the contents of the update be noted")
    assert items[0].kind == "header" and "Euan Walters" in items[0].body


def test_september_2025_capture_item_9_is_the_dardr_report():
    agenda = minutes(parse("lrscsb-minutes-2025-09.txt"))
    assert len(agenda) == 13
    nine = agenda[8]
    assert (nine.item, nine.meeting_date) == (9, "2025-09")
    assert nine.title == "L&R Domestic Abuse related Death Reviews"
    assert "extend the DArDR Support Officer" in " ".join(nine.body.split())
    assert "proposed extension" in " ".join(nine.resolution.split())
    # Item 7 has only a presenter note before "Minutes:".
    assert agenda[6].title_derived and "Kaye Knowles" in agenda[6].title
    assert agenda[11].title == "Safer Communities Performance - Quarter 1"


def test_september_2021_numbered_minutes():
    items = parse("lscsb-minutes-2021-09-24.txt")
    agenda = minutes(items)
    assert [i.minute for i in agenda] == list(range(18, 32))
    assert {i.meeting_date for i in items} == {"2021-09-24"}
    by_minute = {i.minute: i for i in agenda}
    assert by_minute[24].title == "Hate Crime Strategic Update"
    assert by_minute[24].item == 7                    # "marked 'Agenda Item 7'"
    assert by_minute[18].item == 1
    assert by_minute[29].title == "Glen Parva Prison"
    assert by_minute[31].title == "Dates of future meetings"
    assert by_minute[29].resolution.startswith("RESOLVED:")
    assert items[0].kind == "header" and "Mrs D. Taylor CC (in the Chair)" in items[0].body
    assert all(i.committee == "Leicestershire Safer Communities Strategy Board" for i in items)
    assert "CHAIRMAN" not in by_minute[31].body


def test_2015_pack_splits_into_agenda_two_sets_of_minutes_and_two_reports():
    items = parse("lscsb-agenda-pack-2015-03-19.txt")
    agenda = [i for i in items if i.kind == "agenda"]
    assert [i.item for i in agenda] == list(range(1, 12))
    assert {i.meeting_date for i in agenda} == {"2015-03-19"}
    assert agenda[5].title == "Safer Communities Performance - Quarter 3"

    sept = [i for i in minutes(items) if i.meeting_date == "2014-09-25"]
    jan = [i for i in minutes(items) if i.meeting_date == "2015-01-28"]
    assert [i.minute for i in sept] == list(range(63, 76))
    assert [i.minute for i in jan] == [76, 77] + list(range(79, 90))   # minute 78 is not printed
    assert sept[5].title == "New Policing Model"
    assert jan[3].title == "PREVENT Update"
    assert jan[6].title == "Domestic Homicide Reviews and Joint Arrangements 2015/2016"
    assert "£3000" in jan[6].body and jan[6].resolution.startswith("AGREED")
    assert sept[4].resolution.startswith("NOTED")

    reports = [i for i in items if i.kind == "report"]
    assert [r.title for r in reports] == [
        "Safer Communities Performance 2014/15 Quarter 3",
        "Anti Social Behaviour Strategy Group Update",
    ]
    assert {r.meeting_date for r in reports} == {"2015-03-19"}
    assert "Appendix - Safer Communities Performance Dashboard" in reports[0].body
    assert len(items) == 42


@pytest.mark.parametrize("body,expected", [
    ("Minutes: The Board considered a report which provided an update on the Endeavour Partnership work.",
     "Endeavour Partnership work"),
    ("The Board received a presentation regarding procurement of the new system, led by X.",
     "Procurement of the new system"),
])
def test_derived_titles_name_the_subject(body, expected):
    assert derive_title(body) == expected


def test_numbered_layout_without_pack_markers_and_unknown_date():
    text = "3. Budget\nThe Committee noted the budget.\nRESOLVED: That the budget be approved.\n4. Close\nEnd."
    items = parse_document("notes.txt", text)
    assert [(i.minute, i.title) for i in items] == [(3, "Budget"), (4, "Close")]
    assert items[0].meeting_date is None                 # unknown, never invented
    assert items[0].resolution == "RESOLVED: That the budget be approved."
