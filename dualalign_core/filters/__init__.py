"""Rejection filters: plan adherence, near-duplicates, temporal coherence, identifiers, length and form,
consistency with the patient's timeline and copy-forward."""

from dualalign_core.filters.continuity import ConsistencyFilter, CopyForwardFilter
from dualalign_core.filters.identifiers import IdentifierFilter
from dualalign_core.filters.length_form import LengthFormFilter
from dualalign_core.filters.near_duplicate import NearDuplicateFilter
from dualalign_core.filters.plan_adherence import PlanAdherenceFilter
from dualalign_core.filters.temporal import TemporalCoherenceFilter, TemporalRegressionFilter

FILTERS = {
    "plan_adherence": PlanAdherenceFilter,
    "near_duplicate": NearDuplicateFilter,
    "temporal_coherence": TemporalCoherenceFilter,
    "temporal_regression": TemporalRegressionFilter,
    "identifiers": IdentifierFilter,
    "length_form": LengthFormFilter,
    "consistency": ConsistencyFilter,
    "copy_forward": CopyForwardFilter,
}

__all__ = [
    "FILTERS",
    "ConsistencyFilter",
    "CopyForwardFilter",
    "IdentifierFilter",
    "LengthFormFilter",
    "NearDuplicateFilter",
    "PlanAdherenceFilter",
    "TemporalCoherenceFilter",
    "TemporalRegressionFilter",
]
