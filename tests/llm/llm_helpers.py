"""Helpers for the LLM tests: a stub disease, plans, personas, backends pointed at the fake server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from attrs import define, field

sys.path.insert(0, str(Path(__file__).parent))

from annotation_fixtures import LABELS  # noqa: E402  (the stand-in disease's labels, one definition)
from fakeserver import FakeLLMServer  # noqa: E402

from dualalign_core.disease import PromptTemplate  # noqa: E402
from dualalign_core.records import NotePlan, Persona, Provenance, RequiredTerm  # noqa: E402

SECRET = {"openai": "sk-test-SECRET-0penai-4f1c9", "anthropic": "sk-ant-test-SECRET-a7e2d"}
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-6"}


@define
class StubDisease:
    """The parts of a DiseasePack the LLM components read."""

    name: str = "stub"
    labels: tuple[str, ...] = LABELS
    negative_label: str = "none"
    protocol: str = "Label a sentence cognitive_impairment when it reports a current memory decline. " * 20
    prompt: PromptTemplate = PromptTemplate(
        version="t1",
        system="You write {note_type}s for a {stage} patient.",
        user="Age {age}, {sex}, {race_ethnicity}. Risk factors: {risk_factors}. {years_before_diagnosis} years "
        "before diagnosis. Mention {n_mentions} symptoms:\n{required_terms}",
    )
    manifest: dict[str, Any] = field(
        factory=lambda: {
            "stage_titles": {"mci": "mild cognitive impairment"},
            "note_type_titles": {"neurology": "neurology clinic note"},
        }
    )
    risk_factors: dict[str, Any] = field(factory=lambda: {"factors": [{"id": "hypertension", "title": "Hypertension"}]})

    @property
    def all_labels(self) -> tuple[str, ...]:
        return (*self.labels, self.negative_label)

    def stage_title(self, stage: str) -> str:
        return self.manifest["stage_titles"].get(stage, stage)

    def note_type_title(self, note_type: str) -> str:
        return self.manifest["note_type_titles"].get(note_type, note_type)


PROV = Provenance(run_id="r", seed=1, component="test", plugin="test", plugin_version="0")


def make_persona(i: int = 0) -> Persona:
    return Persona(
        id=f"p{i}",
        age=74,
        demographics={"sex": "female", "race_ethnicity": "black", "age_band": "65-74"},
        risk_factors=("hypertension",),
        provenance=PROV,
    )


def make_plan(i: int = 0) -> NotePlan:
    return NotePlan(
        id=f"p0-n{i:03d}",
        persona_id="p0",
        index=i,
        years_before_diagnosis=3.5,
        note_type="neurology",
        stage="mci",
        n_mentions=2,
        required_terms=(
            RequiredTerm("cognitive_impairment", "t1", "forgetting appointments"),
            RequiredTerm("notice_by_others", "t2", "daughter worried"),
        ),
        provenance=PROV,
    )


FAST = {"timeout": 0.5, "backoff_initial": 0.01, "backoff_max": 0.05, "max_attempts": 8}


def make_backend(vendor: str, server: FakeLLMServer, **options: Any):
    from dualalign_core.plugins import get_registry

    base = server.url + ("/v1" if vendor == "openai" else "")
    # built by the registry, as a run builds it: the instance carries its name, plugin and version
    return get_registry().create("llm_backend", vendor, {"model": MODELS[vendor], "base_url": base, **FAST, **options})
