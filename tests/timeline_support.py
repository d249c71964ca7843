"""Small template runs with patient timelines (AD pack) and without (the data-only toy pack), built once per
test session, for the timeline export and Longitudinal report tests."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from support import TOY_PACK

AD_CONFIG = """
[run]
seed = 7
patients = 5
max_notes_per_patient = 6
[disease]
name = "alzheimers"
[generator]
name = "template"
[annotator]
name = "lexicon"
"""

TOY_CONFIG = f"""
[run]
seed = 4
patients = 4
max_notes_per_patient = 5
[disease]
path = "{TOY_PACK.as_posix()}"
[generator]
name = "template"
[filters]
use = []
"""


@functools.cache
def template_run(kind: str = "ad", copy: int = 0) -> Path:
    """A finished run (``kind`` ad | toy); ``copy`` makes an independent rerun of the same config."""
    from dualalign_core.config import load_config
    from dualalign_core.run.pipeline import Pipeline

    root = Path(tempfile.mkdtemp(prefix=f"dualalign-timeline-{kind}-{copy}-"))
    cfg = root / "run.toml"
    cfg.write_text(AD_CONFIG if kind == "ad" else TOY_CONFIG)
    Pipeline(load_config(cfg), root / "run").run()
    return root / "run"
