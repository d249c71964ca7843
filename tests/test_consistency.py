"""Consistency with the planned timeline: the checker on hand-written sentences, the filters, and a 100-patient
template run whose export agrees with the timeline (read with this file's own regexes, not the checker's)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import attrs
import pytest

from dualalign_core.components import NoteBundle
from dualalign_core.context import RunContext
from dualalign_core.disease import DiseasePack
from dualalign_core.filters.continuity import ConsistencyFilter, CopyForwardFilter
from dualalign_core.grammar import NoteGrammar
from dualalign_core.history.consistency import contradictions
from dualalign_core.history.timeline import Measurement, MedicationState, NoteContext, SocialChange
from dualalign_core.records import Note, NotePlan, Persona, Provenance, Usage
from support import TOY_PACK, dualalign

ROOT = Path(__file__).resolve().parents[1]
AD = ROOT / "plugins" / "dualalign-alzheimers" / "dualalign_alzheimers" / "data"


@pytest.fixture(scope="module")
def ad() -> DiseasePack:
    return DiseasePack.from_directory(AD)


CTX = NoteContext(
    since_years=2.4,
    medications=(
        MedicationState("lisinopril", "ACE inhibitor", "20 mg daily", "hypertension", "dose increased"),
        MedicationState("sertraline", "SSRI", "50 mg daily", "depression"),
    ),
    stopped=(
        MedicationState("oxybutynin", "bladder antimuscarinic", "5 mg daily", "overactive_bladder", "stopped", "x"),
    ),
    former=("trazodone",),
    measurements=(Measurement("moca", "MoCA", "score", 2.0, 21.0, "", 30.0, "n2"),),
    previous_scores=(Measurement("moca", "MoCA", "score", 2.4, 23.0, "", 30.0, "n1"),),
    social=(
        SocialChange("living", "with_spouse", 6.0, "lives with spouse"),
        SocialChange("driving", "drives", 6.0, "still drives"),
        SocialChange("caregiver", "none", 6.0, "no caregiver involved"),
        SocialChange("work", "retired", 6.0, "retired"),
    ),
)


def kinds(text: str, ad: DiseasePack, ctx: NoteContext = CTX) -> list[str]:
    return [c.kind for c in contradictions(text, ctx, ad)]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # medications: active, not active, classes, stop cues, negation, hedges
        ("Continues lisinopril 20 mg daily and sertraline 50 mg daily.", []),
        ("Her blood pressure is managed with amlodipine.", ["medication"]),
        ("Remains on a statin for cholesterol.", ["medication"]),
        ("Mood better since the SSRI was started.", []),
        ("Sertraline was discontinued in the spring.", ["medication"]),
        ("We d/c'd the lisinopril.", ["medication"]),
        ("Oxybutynin stopped because of confusion.", []),
        ("He no longer takes trazodone at night.", []),
        ("Stopped metformin after the last visit.", ["medication"]),
        ("She is not on a statin.", []),
        ("No statin because of myalgias.", []),
        ("Would consider a statin if LDL rises.", []),
        ("Previously tried amlodipine.", []),
        ("Allergic to atorvastatin.", []),
        ("No new medications since the last visit.", ["medication"]),
        # doses
        ("Lisinopril 10 mg daily for blood pressure.", ["dose"]),
        ("Sertraline 50 mg each morning.", []),
        ("Lisinopril was increased from 10 mg to 20 mg.", []),
        # scores
        ("MoCA 21/30 today, previously 23/30.", []),
        ("Scored 21/30 on the MoCA.", []),
        ("Scored 24/30 on the MoCA.", ["score"]),
        ("Strength 5/5, MoCA 21/30.", []),
        ("MoCA 24/30 with deficits in recall.", ["score"]),
        ("Montreal Cognitive Assessment score of 21.", []),
        ("MoCA today is 21 of 30, down from 26 last year.", ["score"]),
        ("Repeat the MoCA in 6 months.", []),
        ("MMSE 27/30.", ["score"]),  # no MMSE planned and none before: any value contradicts
        ("BP 132/78; MoCA 21/30.", []),
        # social state
        ("Lives with her husband in a two-story house.", []),
        ("Lives alone since last year.", ["social"]),
        ("He no longer drives.", ["social"]),
        ("She does not live alone.", []),
        ("Not living alone.", []),
        ("Her daughter still works part time.", []),
        ("Still working as a cashier three days a week.", ["social"]),
        ("If she stops driving, her son will take her to appointments.", []),
        ("Daughter is the primary caregiver.", ["social"]),
        ("Retired postal worker, lives with his wife.", []),
    ],
)
def test_checker_on_hand_written_sentences(ad, sentence, expected):
    assert kinds(sentence, ad) == expected


def test_checker_details_and_empty_contexts(ad):
    [c] = contradictions("Lisinopril 40 mg daily.", CTX, ad)
    assert c.kind == "dose" and "planned 20 mg daily" in c.detail and c.sentence == "Lisinopril 40 mg daily."
    [c] = contradictions("MoCA 19/30.", CTX, ad)
    assert c.detail == "MoCA 19, planned 21 today and 23 before"
    assert contradictions("Lives alone. Stopped lisinopril.", None, ad) == []  # no context: nothing to contradict
    toy = DiseasePack.from_directory(TOY_PACK)
    assert toy.history is None and contradictions("Stopped lisinopril. MoCA 3/30.", CTX, toy) == []
    first = NoteContext(since_years=None)  # nothing planned, nothing before
    assert kinds("MoCA 28/30, within normal limits.", ad, first) == ["score"]
    assert kinds("Takes metformin 500 mg twice daily.", ad, first) == ["medication"]


def _bundle(text: str, context: NoteContext | None, persona: str = "p1", t: float = 2.0, index: int = 0):
    prov = Provenance(run_id="r", component="x", plugin="t", plugin_version="0", seed=0)
    plan = NotePlan(f"{persona}-n{index}", persona, index, t, "primary_care", "mci", 0, (), prov, context=context)
    note = Note(plan.id, plan.id, persona, text, Usage(), prov)
    return NoteBundle(persona=Persona(persona, 75, {}, (), prov), plan=plan, note=note)


def test_consistency_filter_verdicts_and_modes(ad):
    ctx = RunContext(run_id="r", seed=0, disease=ad)
    f = ConsistencyFilter()
    assert f.warn_only and f.default_on and f.stage == "generated"
    v = f.check(_bundle("S: Lives alone. MMSE 27/30.\nP: Continue amlodipine.", CTX), ctx)
    assert v is not None and v.reason == "social: living written as 'alone', planned 'with_spouse'"
    assert v.value == 3.0 and v.threshold == 0.0
    assert f.check(_bundle("S: Lives with spouse. MoCA 21/30 today.", CTX), ctx) is None
    assert f.check(_bundle("S: Lives alone.", None), ctx) is None  # a plan without a timeline
    only = ConsistencyFilter(kinds=["social"], enforce=True)
    assert not only.warn_only
    assert only.check(_bundle("S: MMSE 27/30. Lives alone.", CTX), ctx).reason.startswith("social: living")


def test_copy_forward_filter_flags_the_later_note():
    same = "Pt seen for follow up of memory complaints with daughter, forgets appointments and repeats questions."
    bundles = [
        _bundle(same, None, t=3.0, index=1),
        _bundle(same + " Lives alone.", None, t=2.0, index=2),
        _bundle("Entirely different words: a new visit today for knee pain and a cough.", None, t=1.0, index=3),
        _bundle(same, None, persona="p2", t=1.0, index=1),
    ]
    f = CopyForwardFilter()
    assert f.warn_only and f.stage == "cohort"
    verdicts = f.check_cohort(bundles, None)
    assert set(verdicts) == {"p1-n2"} and verdicts["p1-n2"].value > 0.8 and "p1-n1" in verdicts["p1-n2"].reason


def test_grammar_without_context_is_unchanged_and_with_it_consistent(ad):
    """The same plan with and without its context: the context adds the timeline and removes contradictions;
    labelled sentences stay one per required term."""
    from dualalign_core.config import parse_config
    from dualalign_core.plugins import get_registry
    from dualalign_core.run.build import build_components
    from dualalign_core.run.plan import plan_cohort

    cfg = parse_config(
        {
            "run": {"seed": 3, "patients": 15, "max_notes_per_patient": 4},
            "disease": {"name": "alzheimers"},
            "generator": {"name": "template"},
            "filters": {"use": []},
        }
    )
    comp = build_components(cfg, get_registry())
    cohort = plan_cohort(cfg, comp)
    personas = {p.id: p for p in cohort.personas}
    grammar = NoteGrammar(comp.disease)
    before = after = 0
    for plan in cohort.plans:
        persona = personas[plan.persona_id]
        bare = grammar.compose(attrs.evolve(plan, context=None), persona, 5)
        assert bare.text == grammar.compose(attrs.evolve(plan, context=None), persona, 5).text
        note = grammar.compose(plan, persona, 5)
        before += len(contradictions(bare.text, plan.context, comp.disease))
        after += len(contradictions(note.text, plan.context, comp.disease))
        symptoms = sorted((w.term_id, w.label) for w in note.sentences if w.kind.startswith("symptom"))
        assert symptoms == sorted((t.term_id, t.label) for t in plan.required_terms)
        assert all(w.label == comp.disease.negative_label for w in note.sentences if w.kind.startswith("timeline"))
        style = dict(plan.context.clinician.style)
        assert note.text.startswith("Subjective: " if style["headers"] == "words" else "S: ")
    assert before > 20 and after == 0


# -- the run: its export against the timeline, with this file's own regexes ----------------------------------
_SENTENCE = re.compile(r"(?<=[.;])\s+|\n")
_OVER_30 = re.compile(r"\b(\d{1,2})\s*(?:/|of|out of)\s*30\b")
_FROM = re.compile(r"\b(?:MoCA|MMSE)\b[^.;]*?\b(?:from|previously|prev)\s+(\d{1,2})\b")
_STOPPED = re.compile(r"\b(?:stopped|d/c'd|discontinued|no longer takes)\b", re.I)
_SOCIAL = {  # state -> phrases that say it (the AD pack's states)
    ("living", "alone"): r"\blives alone\b|\bliving alone\b",
    ("living", "with_spouse"): r"\blives with (?:his|her) (?:wife|husband|spouse)\b|\blives with spouse\b",
    ("living", "with_family"): r"\blives with (?:his|her) (?:daughter|son)\b|\badult child's family\b",
    ("living", "assisted_living"): r"\bassisted living\b|\bmemory care unit\b|\bresidential care home\b",
    ("driving", "drives"): r"\bstill drives\b|\bdrives without difficulty\b|\bcontinues to drive\b",
    ("driving", "stopped"): r"\bno longer drives\b|\bstopped driving\b|\bgave up driving\b|\bhas not driven\b",
    ("caregiver", "spouse"): r"\b(?:wife|husband|spouse) is the primary caregiver\b",
    ("caregiver", "daughter"): r"\bdaughter is the primary caregiver\b",
    ("caregiver", "son"): r"\bson is the primary caregiver\b",
    ("caregiver", "none"): r"\bno caregiver\b",
    ("work", "working"): r"\bstill work(?:s|ing)\b|\bworks part[- ]time\b",
    ("work", "retired"): r"\bretired\b",
}


def _amount(dose: str) -> str:
    return re.match(r"[\d.]+ \w+", dose).group(0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("consistency")
    cfg = tmp / "ad.toml"
    cfg.write_text(
        '[run]\nseed = 11\npatients = 100\nmax_notes_per_patient = 6\n[disease]\nname = "alzheimers"\n'
        '[generator]\nname = "template"\n'
    )
    result = dualalign("run", str(cfg), "--out", str(tmp / "run"), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    result = dualalign("export", str(tmp / "run"), "--out", str(tmp / "export"))
    assert result.returncode == 0, result.stderr

    def table(name: str) -> list[dict]:
        return [json.loads(line) for line in (tmp / "export" / f"{name}.jsonl").read_text().splitlines()]

    return {name: table(name) for name in ("notes", "plans", "rejections")}


def test_accepted_notes_match_the_timeline_at_their_date(exported, ad):
    plans = {p["id"]: p for p in exported["plans"]}
    notes = [n for n in exported["notes"] if n["status"] == "accepted"]
    assert len(notes) > 400
    drugs = sorted({d["drug"] for c in ad.history["conditions"].values() for d in c["drugs"]}, key=len, reverse=True)
    drug_re = re.compile(r"\b(" + "|".join(drugs) + r")\b(?:\s+([\d.]+ \w+))?", re.I)
    seen: dict[str, int] = defaultdict(int)
    for note in notes:
        ctx = plans[note["plan_id"]]["context"]
        active = {m["drug"]: _amount(m["dose"]) for m in ctx["medications"]}
        ended = {m["drug"] for m in ctx["stopped"]} | set(ctx["former"])
        scores = {m["value"] for m in ctx["measurements"] if m["kind"] == "score"}
        scores |= {m["value"] for m in ctx["previous_scores"]}
        social = {s["dimension"]: s["state"] for s in ctx["social"]}
        for sentence in _SENTENCE.split(note["text"]):
            for m in drug_re.finditer(sentence):
                drug = m.group(1).lower()
                seen["medication"] += 1
                if _STOPPED.search(sentence):
                    assert drug in ended, (note["id"], sentence)
                else:
                    assert drug in active, (note["id"], sentence)
                    assert m.group(2) is None or m.group(2) == active[drug], (note["id"], sentence)
            for value in [*_OVER_30.findall(sentence), *_FROM.findall(sentence)]:
                seen["score"] += 1
                assert float(value) in scores, (note["id"], sentence, scores)
            for (dimension, state), pattern in _SOCIAL.items():
                for m in re.finditer(pattern, sentence, re.I):
                    if re.search(r"\b(?:not|no longer|if)\b[^,;]{0,12}$", sentence[: m.start()], re.I):
                        continue  # "does not live alone": says nothing of the state
                    seen["social"] += 1
                    assert social[dimension] == state, (note["id"], sentence, social)
    assert min(seen.values()) > 50, seen  # every kind is exercised


def test_the_run_records_no_consistency_verdict(exported):
    filters = {r["filter"] for r in exported["rejections"]}
    assert "consistency" not in filters
    assert "temporal_regression" in filters  # the ledger is there and symptom regression still its own filter


def test_a_pack_without_history_runs_with_the_default_filters(tmp_path):
    cfg = tmp_path / "toy.toml"
    cfg.write_text(
        f'[run]\nseed = 2\npatients = 5\n[disease]\npath = "{TOY_PACK.as_posix()}"\n[generator]\nname = "template"\n'
    )
    result = dualalign("run", str(cfg), "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["counts"]["notes"] > 0
    assert "consistency" in json.dumps(manifest)  # on by default, and silent without a timeline
