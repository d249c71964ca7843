"""Broken models are bad input before any work (issue 21, items 10 and 13): a missing, empty or garbage
``.gguf`` given to ``train --model`` or the ``local`` backend, a broken model directory given to the
``classifier`` annotator, and a classifier whose negative label is not the pack's, each exit 2 in one line
naming the file; ``validate`` finds them too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dualalign_core.run.view import RunView
from support import dualalign, toy_config


def _refused(*args: str, site: Path | None = None) -> str:
    """Exit 2, no traceback, one line on stderr (warnings aside); returns it."""
    result = dualalign(*args, site=site)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("content", "why"), [(b"", "empty"), (b"not a model", "magic bytes"), (None, "no such")])
def test_train_refuses_a_gguf_that_is_not_one(tmp_path: Path, content: bytes | None, why: str) -> None:
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "Forgets names.", "label": "none"}\n')
    line = _refused(
        "train", "--gold", str(gold), "--task", "binary", "--model", str(model), "--out", str(tmp_path / "m")
    )
    assert str(model) in line and "--model" in line and why in line
    assert not (tmp_path / "m").exists()


def _classifier_dir(path: Path, *, negative: str = "none", method: str = "lora") -> Path:
    """What the ``lora`` trainer writes, minus the weights: enough for every check before loading."""
    path.mkdir()
    labels = [negative, "motor_symptoms", "nonmotor_symptoms"]
    meta = {"trainer": "lora", "task": "multiclass", "labels": labels, "negative_label": negative}
    (path / "dualalign-model.json").write_text(json.dumps(meta))
    (path / "lora.json").write_text(json.dumps({"method": method, "base_model": "minilm", "labels": labels}))
    (path / "tokenizer").mkdir()
    (path / "adapter").mkdir()
    (path / "adapter" / "adapter_config.json").write_text("{}")
    return path


def _classifier_config(path: Path, model_dir: Path) -> Path:
    return toy_config(path, annotator=f'name = "classifier"\noptions = {{ model_dir = "{model_dir.as_posix()}" }}')


def _break_meta(d: Path) -> None:
    (d / "dualalign-model.json").write_text("{not json")


def _drop_adapter(d: Path) -> None:
    (d / "adapter" / "adapter_config.json").unlink()


def _no_labels(d: Path) -> None:
    (d / "dualalign-model.json").write_text(json.dumps({"trainer": "lora", "task": "multiclass"}))


@pytest.mark.parametrize(
    ("damage", "needle"),
    [(_break_meta, "invalid JSON"), (_drop_adapter, "adapter_config.json"), (_no_labels, "labels")],
)
def test_a_broken_classifier_model_fails_validate_and_run_before_any_work(
    plugin_site: Path, tmp_path: Path, damage: Any, needle: str
) -> None:
    model = _classifier_dir(tmp_path / "model")
    damage(model)
    cfg = _classifier_config(tmp_path / "c.toml", model)
    line = _refused("validate", str(cfg), site=plugin_site)
    assert "annotator.name" in line and str(model) in line and needle in line
    line = _refused("run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", site=plugin_site)
    assert str(model) in line and needle in line
    assert not (tmp_path / "run").exists()


def test_a_classifier_whose_negative_label_is_not_the_pack_s_is_refused_before_any_note(
    plugin_site: Path, tmp_path: Path
) -> None:
    model = _classifier_dir(tmp_path / "model", negative="healthy")
    cfg = _classifier_config(tmp_path / "c.toml", model)
    line = _refused("run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", site=plugin_site)
    assert str(model) in line and "negative_label" in line and "'healthy'" in line
    if (tmp_path / "run" / "run.sqlite").exists():
        with RunView(tmp_path / "run") as view:
            assert view.counts()["notes"] == 0


@pytest.mark.parametrize("content", [b"", b"junk"])
def test_the_local_backend_refuses_a_broken_gguf_or_model_directory(
    tmp_path: Path, content: bytes, plugin_site: Path
) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(content)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text("{oops")
    for model, needle in ((gguf, "not a GGUF model file"), (folder, "unreadable config.json")):
        cfg = toy_config(
            tmp_path / "c.toml", generator=f'name = "local"\noptions = {{ model_path = "{model.as_posix()}" }}'
        )
        line = _refused("validate", str(cfg), site=plugin_site)
        assert "generator.name" in line and "model_path" in line and needle in line
        line = _refused("run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", site=plugin_site)
        assert needle in line and not (tmp_path / "run").exists()
