"""Agreement between two annotators on the same sentences: Cohen's kappa per label and overall."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from attrs import frozen

from dualalign_core.records import Label


@frozen
class Disagreement:
    """One sentence the two annotators labelled differently (a row a person can adjudicate)."""

    sentence_id: str
    note_id: str
    label_a: str
    label_b: str
    evidence_a: str | None = None
    evidence_b: str | None = None


@frozen
class AgreementReport:
    """Kappa overall (multi-class) and per label (one-vs-rest), observed agreement and disagreements."""

    annotator_a: str
    annotator_b: str
    n: int
    observed: float
    kappa: float
    binary_kappa: float
    per_label: dict[str, float]
    disagreements: tuple[Disagreement, ...]
    only_a: int = 0
    only_b: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "annotator_a": self.annotator_a,
            "annotator_b": self.annotator_b,
            "n": self.n,
            "observed_agreement": round(self.observed, 4),
            "kappa": round(self.kappa, 4),
            "binary_kappa": round(self.binary_kappa, 4),
            "per_label_kappa": {k: round(v, 4) for k, v in self.per_label.items()},
            "disagreements": len(self.disagreements),
            "only_a": self.only_a,
            "only_b": self.only_b,
        }


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two equal-length label sequences.

    When chance agreement is 1 (both annotators used one and the same category throughout) kappa is
    undefined; we return 1.0 then (perfect agreement) and 0.0 for empty input.
    """
    if len(a) != len(b):
        raise ValueError("label sequences differ in length")
    n = len(a)
    if n == 0:
        return 0.0
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1 - expected)


def agreement(
    labels_a: Iterable[Label], labels_b: Iterable[Label], *, labels: Sequence[str] | None = None
) -> AgreementReport:
    """Compare two annotators' labels, matched by sentence id; sentences only one side labelled are counted.

    The binary kappa compares each label's own ``binary`` flag, so it holds for any pack's negative label."""
    a = {lab.sentence_id: lab for lab in labels_a}
    b = {lab.sentence_id: lab for lab in labels_b}
    shared = [sid for sid in a if sid in b]
    ya = [a[s].label for s in shared]
    yb = [b[s].label for s in shared]
    names = list(labels) if labels is not None else sorted(set(ya) | set(yb))
    per_label = {lab: cohen_kappa([x == lab for x in ya], [y == lab for y in yb]) for lab in names}
    disagreements = tuple(
        Disagreement(s, a[s].note_id, a[s].label, b[s].label, a[s].evidence, b[s].evidence)
        for s in shared
        if a[s].label != b[s].label
    )
    n = len(shared)
    return AgreementReport(
        annotator_a=_name(a.values()),
        annotator_b=_name(b.values()),
        n=n,
        observed=(n - len(disagreements)) / n if n else 0.0,
        kappa=cohen_kappa(ya, yb),
        binary_kappa=cohen_kappa([a[s].binary for s in shared], [b[s].binary for s in shared]),
        per_label=per_label,
        disagreements=disagreements,
        only_a=sum(1 for s in a if s not in b),
        only_b=sum(1 for s in b if s not in a),
    )


def kappa_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The text table's rows of :meth:`AgreementReport.as_dict`: kappas only (overall, binary, per label)."""
    rows = [("overall", report["kappa"]), ("binary", report["binary_kappa"])]
    rows += sorted((report.get("per_label_kappa") or {}).items())
    return [(name, f"{value:.3f}") for name, value in rows]


def counts_line(report: Mapping[str, Any]) -> str:
    """The counts beside the kappa table: sentences compared, observed agreement, disagreements, one-sided."""
    return (
        f"{report['n']} sentences compared, observed agreement {report['observed_agreement']:.3f}, "
        f"{report['disagreements']} disagreements; labelled by A only: {report['only_a']}, "
        f"by B only: {report['only_b']}"
    )


def _name(labels: Iterable[Label]) -> str:
    names = sorted({lab.annotator for lab in labels})
    return "+".join(names) if names else ""


def agreement_from_mapping(
    a: Mapping[str, str], b: Mapping[str, str], *, negative_label: str, **kwargs: Any
) -> AgreementReport:
    """Convenience: compare two ``sentence id -> label`` mappings (``negative_label``: the pack's)."""
    return agreement(
        [Label(sid, "", lab, lab != negative_label, "a") for sid, lab in a.items()],
        [Label(sid, "", lab, lab != negative_label, "b") for sid, lab in b.items()],
        **kwargs,
    )
