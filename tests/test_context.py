"""NegEx/ConText assertion detection: triggers, scope, termination, pseudo-triggers, sections."""

import pytest

from dualalign_core.text.assertion import (
    FAMILY,
    HISTORICAL,
    HYPOTHETICAL,
    NEGATED,
    OTHER_CAUSE,
    ContextDetector,
)

DETECTOR = ContextDetector()


def status(sentence: str, target: str, detector: ContextDetector = DETECTOR, section=None) -> str:
    i = sentence.lower().index(target.lower())
    return detector.assess(sentence, i, i + len(target), section=section).status


@pytest.mark.parametrize(
    "sentence,target,expected",
    [
        ("Denies hallucinations.", "hallucinations", NEGATED),
        ("Denies hallucinations, falls, or weight loss.", "weight loss", NEGATED),
        ("No falls since last visit.", "falls", NEGATED),
        ("Negative for urinary incontinence.", "urinary incontinence", NEGATED),
        ("Hallucinations: denied.", "Hallucinations", NEGATED),
        ("She does not have trouble sleeping.", "trouble sleeping", NEGATED),
        ("He has not had any falls this year.", "falls", NEGATED),
        ("Wandering not observed on the unit.", "Wandering", NEGATED),
        ("Mother had dementia in her 80s.", "dementia", FAMILY),
        ("Family history of Alzheimer disease in his father.", "Alzheimer", FAMILY),
        ("His brother was diagnosed with depression at 50.", "depression", FAMILY),
        ("Return if confusion worsens.", "confusion", HYPOTHETICAL),
        ("Monitor for agitation with the new medication.", "agitation", HYPOTHETICAL),
        ("Educated family on signs of wandering.", "wandering", HYPOTHETICAL),
        ("Rule out depression as a cause.", "depression", HYPOTHETICAL),
        ("Depression resolved after treatment in 2015.", "Depression", HISTORICAL),
        ("She no longer wanders at night.", "wanders", HISTORICAL),
        ("History of insomnia in her 30s, now resolved.", "insomnia", HISTORICAL),
        ("Falls likely due to knee arthritis.", "Falls", OTHER_CAUSE),
        ("Because of knee pain, he has fallen twice.", "fallen", OTHER_CAUSE),
        ("Poor sleep secondary to nocturia.", "Poor sleep", OTHER_CAUSE),
    ],
)
def test_categories(sentence, target, expected):
    assert status(sentence, target) == expected


@pytest.mark.parametrize(
    "sentence,target",
    [
        ("Daughter reports he forgets appointments.", "forgets"),
        ("Could not recall 3 words.", "recall"),  # bare "not" is no trigger
        ("He is no longer able to drive.", "able to drive"),  # pseudo: loss of function
        ("No change in memory loss.", "memory loss"),  # pseudo: persists
        ("Previously noted memory loss continues to worsen.", "memory loss"),
        ("A 2-year history of forgetfulness.", "forgetfulness"),  # plain "history of" is current
        ("Sundowning noted in the past two weeks.", "Sundowning"),  # recent, not historical
        ("Sister has noticed memory loss.", "memory loss"),  # a reporter, not family history
    ],
)
def test_affirmed(sentence, target):
    assert status(sentence, target) == "affirmed"


def test_scope_terminates_at_but_and_presence_verbs():
    s = "No falls but reports poor sleep."
    assert status(s, "falls") == NEGATED and status(s, "poor sleep") == "affirmed"
    s = "Denies depression, endorses anxiety."
    assert status(s, "depression") == NEGATED and status(s, "anxiety") == "affirmed"
    s = "Denies hallucinations; has been wandering."
    assert status(s, "wandering") == "affirmed"


def test_scope_window_limits_forward_reach():
    s = "No acute distress today and in general he appears well rested, with some wandering."
    assert status(s, "wandering") == "affirmed"
    narrow = ContextDetector(max_scope_words=2)
    assert status("Denies depression, anxiety, or hallucinations.", "hallucinations", narrow) == "affirmed"


def test_other_cause_skips_self_cause():
    det = ContextDetector(self_cause=lambda cause: "memory" in cause or "dementia" in cause)
    assert status("Needs help with bills due to memory loss.", "help with bills", det) == "affirmed"
    assert status("Agitation related to dementia progression.", "Agitation", det) == "affirmed"
    assert status("Agitation related to pain.", "Agitation", det) == OTHER_CAUSE


def test_section_sets_category():
    assert status("Mother with memory loss.", "memory loss", section="family_history") == FAMILY
    assert status("Depression.", "Depression", section="past_medical_history") == HISTORICAL


def test_trigger_inside_target_is_ignored_and_triggers_reported():
    s = "He no longer drives."
    assert status(s, "no longer drives") == "affirmed"
    a = DETECTOR.assess("Denies falls.", 7, 12)
    assert [t.text for t in a.triggers] == ["Denies"] and not a.affirmed
