"""The scorecard's records: a threshold, one graded measure, the whole scorecard (frozen, JSON-ready)."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

VERDICTS = ("pass", "warn", "fail", "n/a")  # n/a: not measured (no reference, no ablation, a missing extra)
SEVERITY = {"n/a": 0, "pass": 0, "warn": 1, "fail": 2}


@frozen
class Threshold:
    """``better`` is ``"lower"`` or ``"higher"``; a value passes up to (or from) ``passing``, warns up to
    ``warning``, fails beyond it."""

    better: str
    passing: float
    warning: float
    unit: str = ""

    def grade(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        if self.better == "lower":
            return "pass" if value <= self.passing else "warn" if value <= self.warning else "fail"
        return "pass" if value >= self.passing else "warn" if value >= self.warning else "fail"

    def text(self) -> str:
        op = "≤" if self.better == "lower" else "≥"
        unit = f" {self.unit}" if self.unit else ""
        return f"pass {op} {self.passing:g}{unit}, warn {op} {self.warning:g}{unit}"

    def as_dict(self) -> dict[str, Any]:
        return {"better": self.better, "pass": self.passing, "warn": self.warning, "unit": self.unit}


@frozen
class Measure:
    """One row of the scorecard: ``value`` graded against ``threshold``; ``detail`` says how it was found
    (or, with no value, why not: ``detail["note"]``)."""

    name: str
    value: float | None
    threshold: Threshold
    verdict: str
    detail: dict[str, Any] = field(factory=dict)

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def note(self) -> str:
        return str(self.detail.get("note", ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "value": self.value,
            "threshold": self.threshold.as_dict(),
            "threshold_text": self.threshold.text(),
            "verdict": self.verdict,
            "detail": self.detail,
        }


@frozen
class Scorecard:
    """Every measure of one run; ``verdict`` is the worst graded one (``pass`` when all are n/a)."""

    run_id: str
    measures: tuple[Measure, ...]
    inputs: dict[str, Any] = field(factory=dict)  # reference / control: path, records, unit (never their text)
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        worst = max((SEVERITY[m.verdict] for m in self.measures), default=0)
        return {0: "pass", 1: "warn", 2: "fail"}[worst]

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for m in self.measures if m.verdict == v) for v in VERDICTS}

    def fails_on(self, level: str) -> bool:
        """Whether ``--fail-on level`` (warn | fail) makes the command exit 1."""
        return SEVERITY[self.verdict] >= SEVERITY[level]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scorecard_version": 1,
            "run_id": self.run_id,
            "verdict": self.verdict,
            "counts": self.counts(),
            "inputs": self.inputs,
            "seconds": round(self.seconds, 2),
            "measures": [m.as_dict() for m in self.measures],
        }
