"""Broken models are bad input before any work (issue 21, items 10 and 13): a missing, empty or garbage
``.gguf`` given to ``train --model`` or the ``local`` backend, a broken model directory given to the
``classifier`` annotator, and a classifier whose negative label is not the pack's, each exit 2 in one line
naming the file; ``validate`` finds them too."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import dualalign


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
