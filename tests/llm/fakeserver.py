"""The fake vendor server of :mod:`dualalign_core.testing`, set up as the LLM tests expect it: replies and
labelling rules in the toy Alzheimer's vocabulary the tests assert on. ``python fakeserver.py --latency 0.5``
runs it in its own process (the benchmark does) and prints its port."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dualalign_core.testing import fake_vendor
from dualalign_core.testing.fake_vendor import RANDOM_FAULTS

__all__ = ["NOTE", "RANDOM_FAULTS", "RULES", "FakeLLMServer", "label_for", "main"]

RULES = (
    (r"forget\w*|memory|misplac\w*", "cognitive_impairment"),
    (r"daughter|son|wife|husband|family", "notice_by_others"),
    (r"needs help|assist\w*|reminders", "requiring_assistance"),
)
NOTE = (
    "S: Patient reports forgetting appointments (ref {ref}). Daughter is worried.\n"
    "O: Alert, oriented. MoCA 24/30.\nA: Mild memory decline.\nP: Follow up in 3 months."
)


def label_for(sentence: str, allowed: Sequence[str]) -> tuple[str, str]:
    """Memory words -> cognitive_impairment, family worry -> notice_by_others, help -> requiring_assistance."""
    return fake_vendor.label_for(sentence, allowed, RULES)


class FakeLLMServer(fake_vendor.FakeLLMServer):
    """The core's fake vendor with the tests' vocabulary."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("label_rules", RULES)
        kwargs.setdefault("note_text", NOTE)
        super().__init__(**kwargs)


def main() -> None:  # pragma: no cover - used by the benchmark as a separate process
    fake_vendor.main(FakeLLMServer)


if __name__ == "__main__":  # pragma: no cover
    main()
