"""Generic samplers on the AD pack and on the data-only toy pack: fidelity, multipliers, reweighting."""

from __future__ import annotations

import copy
import json
from collections import Counter

import numpy as np
import pytest

from dualalign_core.config import parse_config
from dualalign_core.context import RunContext
from dualalign_core.disease import DiseasePack
from dualalign_core.fidelity import fidelity_report
from dualalign_core.plugins import get_registry
from dualalign_core.run.pipeline import Pipeline
from dualalign_core.sampling.personas import sample_columns, sample_columns_stratified
from dualalign_core.sampling.reweight import compute_weights, resample
from dualalign_core.sampling.tables import marginal, target_joint, tvd
from support import TOY_PACK, dualalign


@pytest.fixture(scope="module")
def ad() -> DiseasePack:
    return get_registry().get("disease", "alzheimers")


def _pipeline(tmp_path, disease: dict, patients: int, multiplier: float = 5.0, seed: int = 1, **extra) -> Pipeline:
    cfg = parse_config(
        {
            "run": {"seed": seed, "patients": patients},
            "disease": disease,
            "trajectory": {"multiplier": multiplier},
            "generator": {"name": "template"},
            "filters": {"use": []},
            **extra,
        }
    )
    return Pipeline(cfg, tmp_path / f"run-{multiplier}-{seed}")


def test_ad_cohort_of_1000_matches_targets(ad, tmp_path):
    pipe = _pipeline(tmp_path, {"name": "alzheimers"}, 1000)
    cohort = pipe.sample()
    personas, plans = cohort.personas, cohort.plans
    report = fidelity_report(ad, personas, plans, 5.0)
    s = report["summary"]
    assert s["max_demographic_tvd"] < 0.02, report
    assert s["max_risk_factor_error_points"] < 2.0
    assert s["max_category_proportion_error_points"] < 2.0
    median = float(np.median(list(Counter(p.persona_id for p in plans).values())))
    assert 90 <= median <= 120  # paper: median 106 notes per patient
    stages_by_time = [(p.years_before_diagnosis, p.stage) for p in plans[:5000]]
    for years, stage in stages_by_time:
        window = next(w for w in ad.schedule["stages"] if w["id"] == stage)
        assert window["to_years"] <= years <= window["from_years"] + 1e-9


def test_iid_sampling_is_unbiased_at_scale(ad):
    cols = sample_columns(ad.demographics, ad.risk_factors, 200_000, np.random.default_rng(3))
    order, joint = target_joint(ad.demographics)
    for v in order:
        target = marginal(order, joint, (v,))
        values = cols.values(v)
        measured = {(k,): c / len(values) for k, c in Counter(values).items()}
        assert tvd(target, measured) < 0.01, v


def test_stratified_marginals_exact_to_rounding(ad):
    n = 997
    cols = sample_columns_stratified(ad.demographics, ad.risk_factors, n, np.random.default_rng(0))
    order, joint = target_joint(ad.demographics)
    for v in order:
        target = marginal(order, joint, (v,))
        measured = {(k,): c / n for k, c in Counter(cols.values(v)).items()}
        assert tvd(target, measured) < 0.01
    for j, rid in enumerate(cols.risk_ids):
        factor = next(f for f in ad.risk_factors["factors"] if f["id"] == rid)
        if "rate" in factor:
            assert abs(cols.risk[:, j].mean() - factor["rate"]) <= 2 / n + 1e-9, rid


@pytest.mark.parametrize("multiplier", [1, 5, 10])
def test_multiplier_scales_mentions_and_keeps_proportions(ad, tmp_path, multiplier):
    pipe = _pipeline(tmp_path, {"name": "alzheimers"}, 150, multiplier=multiplier)
    cohort = pipe.sample()
    personas, plans = cohort.personas, cohort.plans
    report = fidelity_report(ad, personas, plans, float(multiplier))
    base = ad.schedule["mentions_per_note"]["by_stage"]
    for row in report["rows"]:
        if row["metric"] == "mentions_per_note":
            assert row["target"] == pytest.approx(base[row["key"]] * multiplier)
            assert row["distance"] < 0.05  # relative error of the mean
        if row["metric"] == "category_proportions" and row["n_mentions"] > 5000:
            assert row["distance"] < 2.0


def test_terms_plausible_for_stage(ad, tmp_path):
    rank = {s: i for i, s in enumerate(ad.stages)}
    earliest = {t["id"]: rank[t["earliest_stage"]] for t in ad.lexicon["terms"]}
    plans = _pipeline(tmp_path, {"name": "alzheimers"}, 30).sample().plans
    assert all(earliest[t.term_id] <= rank[p.stage] for p in plans for t in p.required_terms)
    types_early = Counter(p.note_type for p in plans if p.stage == ad.stages[0])
    types_late = Counter(p.note_type for p in plans if p.stage == ad.stages[-1])
    assert types_early.most_common(1)[0][0] == "primary_care"
    late_specialty = 1 - types_late["primary_care"] / sum(types_late.values())
    early_specialty = 1 - types_early["primary_care"] / sum(types_early.values())
    assert late_specialty > early_specialty


def test_same_seed_same_plans_and_prompts(ad, tmp_path):
    a = _pipeline(tmp_path, {"name": "alzheimers"}, 5, seed=9).sample()
    b = _pipeline(tmp_path, {"name": "alzheimers"}, 5, seed=9).sample()
    c = _pipeline(tmp_path, {"name": "alzheimers"}, 5, seed=10).sample()
    assert a == b and a != c


def test_toy_pack_needs_data_not_code(tmp_path):
    """The toy pack ships only data files; the core's samplers plan it and a run completes."""
    assert not list(TOY_PACK.glob("*.py"))
    cfg = tmp_path / "toy.toml"
    cfg.write_text(
        f'[run]\nseed = 4\npatients = 20\n[disease]\npath = "{TOY_PACK.as_posix()}"\n'
        '[generator]\nname = "template"\n[filters]\nuse = []\n'
    )
    result = dualalign("plan", str(cfg), "--out", str(tmp_path / "run"), "--json")
    assert result.returncode == 0, result.stderr
    fidelity = json.loads(result.stdout)["fidelity"]
    # 20 patients: 1/20 rounding per cell of the joint
    assert fidelity["patients"] == 20 and fidelity["summary"]["max_demographic_tvd"] <= 0.1
    result = dualalign("run", "--resume", "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["counts"]["notes"] == fidelity["notes"]
    assert manifest["fidelity"]["summary"] == fidelity["summary"]


def test_reweighting_va_like_cohort_to_target(ad):
    va = copy.deepcopy(ad.demographics)
    # a VA-like source: mostly men, older
    va["factors"] = [f for f in va["factors"] if f["id"] != "age_sex"]
    cells = {
        ("65-74", "male"): 0.30,
        ("75-84", "male"): 0.36,
        ("85+", "male"): 0.28,
        ("65-74", "female"): 0.02,
        ("75-84", "female"): 0.02,
        ("85+", "female"): 0.02,
    }
    va["factors"].insert(
        0,
        {
            "id": "age_sex",
            "variables": ["age_band", "sex"],
            "given": [],
            "rows": [
                {"values": {"age_band": a, "sex": s}, "p": p, "source": next(iter(va["sources"]))}
                for (a, s), p in cells.items()
            ],
        },
    )
    rw = compute_weights(va, ad.demographics)
    assert rw.tvd_before > 0.5
    female = [w for c, w in rw.weights.items() if "female" in c]
    male = [w for c, w in rw.weights.items() if "male" in c and "female" not in c]
    assert min(female) > 5 * max(male)  # women upweighted
    assert 0 < rw.ess_fraction < 0.5
    rng = np.random.default_rng(0)
    cols = sample_columns(va, ad.risk_factors, 20_000, rng)
    rows = [
        dict(zip(rw.variables, vals, strict=True)) for vals in zip(*(cols.values(v) for v in rw.variables), strict=True)
    ]
    idx = resample(rows, rw, 20_000, rng)
    measured = Counter(tuple(rows[i][v] for v in rw.variables) for i in idx)
    after = tvd(rw.target, {k: c / len(idx) for k, c in measured.items()})
    assert after < 0.05 and after < rw.tvd_before / 10  # residual = sampling noise of the few source women


def test_plan_context_needs_no_llm(ad):
    ctx = RunContext(run_id="x", seed=0, disease=ad)
    from dualalign_core.sampling.trajectory import StageScheduleSampler

    sampler = StageScheduleSampler(notes=12)
    sampler.name, sampler.plugin, sampler.plugin_version = "stage-schedule", "core", "0"
    from dualalign_core.records import Persona, Provenance

    persona = Persona(
        id="p1", age=80, demographics={"sex": "female"}, risk_factors=(), provenance=Provenance("x", 0, "c", "p", "v")
    )
    plans = sampler.plan(persona, ad, 42, ctx)
    assert len(plans) == 12
    assert [p.years_before_diagnosis for p in plans] == sorted((p.years_before_diagnosis for p in plans), reverse=True)
