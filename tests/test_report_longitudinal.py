"""The report's Longitudinal section: contradictions by kind from the ledger, copy-forward with its band, score
trajectories and one patient's timeline; "no timeline" for a pack without a history table."""

from __future__ import annotations

import json
import re
import shutil

import attrs
import pytest
from timeline_support import template_run

from dualalign_core.history.similarity import copy_forward
from dualalign_core.records import Rejection
from dualalign_core.report import build_report
from dualalign_core.report.longitudinal import reason_kinds
from dualalign_core.run.store import RunStore
from dualalign_core.run.view import RunView

PARTS = ("Contradictions by kind", "Copy-forward between consecutive notes", "Score trajectories", "One patient")


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """A copy of the AD run with warn-only consistency and copy_forward verdicts on one clean accepted note, and
    an enforced consistency verdict on an earlier attempt of another."""
    run_dir = tmp_path_factory.mktemp("longitudinal") / "run"
    shutil.copytree(template_run("ad"), run_dir)
    with RunStore(run_dir) as store:
        ledger = {r["record_id"] for r in store.rejection_rows()}
        status = store.note_status()
        clean = [n for n in store.iter_records("notes") if n.id not in ledger and status[n.id] == "accepted"]
        warned, retried = clean[0], clean[1]
        u1, u2 = store.stored_unit(warned.id), store.stored_unit(retried.id)
        assert u1 is not None and u2 is not None

        def rej(note_id: str, name: str, reason: str, **kw) -> Rejection:
            return Rejection(record_id=note_id, record_kind="note", filter=name, reason=reason, **kw)

        u1 = attrs.evolve(
            u1,
            rejections=[
                *u1.rejections,
                (
                    "generated",
                    rej(
                        warned.id,
                        "consistency",
                        "medication: donepezil is not active; score: MoCA 24 vs planned 18",
                        enforced=False,
                        attempt=u1.attempt,
                    ),
                ),
                ("cohort", rej(warned.id, "copy_forward", "copied", value=0.9, threshold=0.6, enforced=False)),
            ],
        )
        u2 = attrs.evolve(
            u2,
            attempt=u2.attempt + 1,
            rejections=[
                ("generated", rej(retried.id, "consistency", "social: lives alone vs lives with spouse")),
                *u2.rejections,
            ],
        )
        store.commit_units([u1, u2])
    return run_dir, warned.id


def test_reason_kinds():
    assert reason_kinds("medication: x; dose: y 10 mg: z") == ["medication", "dose"]
    assert reason_kinds("score: a; score: b") == ["score"] and reason_kinds("free text") == []


def test_longitudinal_metrics(flagged, tmp_path):
    run_dir, warned = flagged
    _, m = build_report(run_dir, tmp_path / "r.html", embeddings=False)
    lg = m["longitudinal"]
    assert lg["timeline"] is True
    c = lg["contradictions"]
    with RunView(run_dir) as v:
        checked = sum(1 for n in v.accepted if v.plans[n.plan_id].context is not None)
        by_patient = {}
        for n in sorted(
            v.accepted, key=lambda n: (-v.plans[n.plan_id].years_before_diagnosis, v.plans[n.plan_id].index)
        ):
            by_patient.setdefault(n.persona_id, []).append(n.text)
    assert c["checked"] == checked > 0
    kinds = c["kinds"]
    assert list(kinds)[:5] == ["medication", "dose", "score", "social", "symptom_regression"]
    assert kinds["medication"]["accepted_notes"] == kinds["score"]["accepted_notes"] == 1
    assert kinds["medication"]["rate"] == pytest.approx(1 / checked, abs=1e-4)
    assert kinds["dose"]["rate"] == 0.0 and kinds["dose"]["checked"]
    assert kinds["social"]["ledger"] == 1 and kinds["social"]["accepted_notes"] == 0  # an earlier attempt
    assert kinds["medication"]["warn_only"] == 1
    assert kinds["symptom_regression"]["filter"] == "temporal_regression" and kinds["symptom_regression"]["checked"]
    cf = lg["copy_forward"]
    pairs = [copy_forward(a, b) for texts in by_patient.values() for a, b in zip(texts, texts[1:], strict=False)]
    assert cf["pairs"] == len(pairs) > 0 and sum(cf["histogram"]["counts"]) == len(pairs)
    assert cf["quantiles"]["p50"] == pytest.approx(sorted(pairs)[len(pairs) // 2], abs=0.05)
    # the copy_forward filter runs by default: its threshold in the resolved pipeline is the band
    assert cf["band"] == 0.5 and cf["band_source"] == "the run's resolved pipeline" and cf["ledger"] == 1
    scores = lg["scores"]
    assert set(scores) == {"moca", "mmse"} and all(b["n"] for s in scores.values() for b in s["bins"])
    p = lg["patient"]
    assert p["persona_id"] == min(by_patient, key=lambda pid: (-len(by_patient[pid]), pid))
    assert [n["text"] for n in p["notes"]] == by_patient[p["persona_id"]]


def test_band_from_the_resolved_pipeline(flagged, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(flagged[0], run_dir)
    with RunStore(run_dir) as store:
        pipeline = store.get_meta("pipeline")
        pipeline["filters"]["copy_forward"] = {"name": "copy_forward", "options": {"threshold": 0.7}, "position": 9}
        store.set_meta("pipeline", pipeline)
    _, m = build_report(run_dir, tmp_path / "r.html", embeddings=False)
    assert m["longitudinal"]["copy_forward"]["band"] == 0.7
    assert m["longitudinal"]["copy_forward"]["band_source"] == "the run's resolved pipeline"


def test_html_has_the_longitudinal_section(flagged, tmp_path):
    run_dir, _ = flagged
    path, m = build_report(run_dir, tmp_path / "r.html", embeddings=False, json_out=tmp_path / "r.json")
    html = path.read_text(encoding="utf-8")
    section = html[html.index('<section id="longitudinal">') :]
    section = section[: section.index("</section>")]
    for part in PARTS:
        assert part in section, part
    assert "donepezil" not in section  # rates, not reasons
    assert '<svg class="patient-timeline"' in section and "MoCA" in section
    notes = m["longitudinal"]["patient"]["notes"]
    for i, _n in enumerate(notes):  # every note tick opens that note's text
        assert f'href="#longitudinal-note-{i}"' in section and f'<details id="longitudinal-note-{i}">' in section
    assert len(re.findall(r"<details id=", section)) == len(notes)
    assert section.count("data:image/png;base64,") == 2  # the copy-forward histogram, the score trajectories
    assert "<script" not in html
    assert json.loads((tmp_path / "r.json").read_text())["longitudinal"]["contradictions"]["checked"] > 0


def test_pack_without_history_reports_no_timeline(tmp_path):
    path, m = build_report(template_run("toy"), tmp_path / "r.html", embeddings=False)
    lg = m["longitudinal"]
    assert lg["timeline"] is False and lg["patient"] is None and lg["scores"] == {}
    assert lg["contradictions"]["checked"] == 0 and lg["copy_forward"]["pairs"] > 0
    html = path.read_text(encoding="utf-8")
    section = html[html.index('<section id="longitudinal">') :]
    assert "no timeline" in section[: section.index("</section>")]
