"""Clinical sentence segmentation: hard cases, offsets, sections and the accuracy figure."""

from pathlib import Path

import pytest

from dualalign_core.annotate.quality import load_cases, segmentation_quality
from dualalign_core.text.segment import sections, segment

DATA = Path(__file__).parent / "data"
CASES = load_cases(DATA / "segmentation_cases.jsonl")
BLIND = load_cases(DATA / "segmentation_cases_blind.jsonl")


@pytest.mark.parametrize("case", CASES + BLIND, ids=lambda c: c.id)
def test_hard_case(case):
    assert tuple(s.text for s in segment(case.text)) == case.sentences


@pytest.mark.parametrize("case", CASES + BLIND, ids=lambda c: c.id)
def test_offsets_point_into_text(case):
    for s in segment(case.text):
        assert case.text[s.start : s.end] == s.text


def test_accuracy_figures():
    dev, blind = segmentation_quality(CASES), segmentation_quality(BLIND)
    assert dev.cases >= 40 and blind.cases >= 15
    assert dev.accuracy == 1.0 and blind.accuracy == 1.0, (dev.failures, blind.failures)


def test_sections_are_tracked():
    text = (
        "S: 74 yo M, wife reports forgetfulness.\nO: BP 142/88, HR 72, T 98.6\n"
        "A/P:\n1. MCI - start donepezil 5 mg q.d.\nFH: mother with dementia."
    )
    got = [(s.text, s.section) for s in segment(text)]
    assert got == [
        ("74 yo M, wife reports forgetfulness.", "subjective"),
        ("BP 142/88, HR 72, T 98.6", "objective"),
        ("MCI - start donepezil 5 mg q.d.", "assessment_plan"),
        ("mother with dementia.", "family_history"),
    ]


def test_sections_helper_finds_headers_in_any_style():
    text = "**Subjective:** x.\nOBJECTIVE\nBP 120/80\n## Assessment and Plan\nStable. Plan: continue."
    assert sections(text) == {"subjective", "objective", "assessment_plan", "plan"}


def test_empty_and_blank():
    assert segment("") == []
    assert segment("\n\n  \n") == []
    assert segment("- \n* ") == []


def test_med_list_lines_are_not_joined_but_wrapped_prose_is():
    meds = segment("donepezil 5 mg daily\nsertraline 50 mg daily")
    assert [s.text for s in meds] == ["donepezil 5 mg daily", "sertraline 50 mg daily"]
    prose = segment("The patient reports that over the last several months she has been\nmisplacing items.")
    assert len(prose) == 1 and prose[0].text.endswith("misplacing items.")
