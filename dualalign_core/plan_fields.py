"""The prompt fields every pack has (a leaf: the pack loader and its checks both read it)."""

from __future__ import annotations

from dualalign_core.history.render import HISTORY_FIELDS

PLAN_FIELDS = (
    frozenset({"age", "risk_factors", "years_before_diagnosis", "note_type", "stage", "n_mentions", "required_terms"})
    | HISTORY_FIELDS
)
"""Prompt fields every pack has: the persona's age and risk factors, the note's plan and the patient's history
at the note (:data:`~dualalign_core.history.render.HISTORY_FIELDS`). A pack's prompt may also use each of its
demographic variables (``{sex}``, ``{age_band}``...) and its ``persona_fields``."""
NUMBER_FIELDS = frozenset({"age", "n_mentions"})


__all__ = ["NUMBER_FIELDS", "PLAN_FIELDS"]
