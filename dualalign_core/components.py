"""Base classes for the components plugins register. Capabilities are class attributes.

Every component is constructed as ``cls(**options)`` from the run config's ``options`` table;
``options_schema`` (a JSON Schema object) lets the host reject bad options before the run starts, and its
properties' ``default`` values are the options' defaults (declared there once; ``self.options`` has them).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from attrs import field, frozen

from dualalign_core.history.timeline import Timeline
from dualalign_core.records import Label, Note, NotePlan, Persona, Sentence, Usage, as_tuple

if TYPE_CHECKING:
    from dualalign_core.context import RunContext
    from dualalign_core.disease import DiseasePack


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Each property's ``default`` in an options schema (a fresh copy: mutable defaults are never shared)."""
    props = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if isinstance(v, Mapping) and "default" in v}


class Component:
    """Common attributes: ``name``, ``plugin`` and ``plugin_version`` are set by the host on each instance it
    builds (the class is left as the plugin wrote it); ``kind`` by the base."""

    kind: ClassVar[str] = "component"  # the kind provenance names: generator, filter, ...
    # who this instance is, set by the host when it builds it (never written onto the class)
    name: str = ""
    plugin: str = ""
    plugin_version: str = ""
    options_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    concurrency: ClassVar[int] = 1

    def __init__(self, **options: Any) -> None:
        """``self.options``: the given options over the schema's defaults (read ``self.options["x"]``)."""
        self.options: dict[str, Any] = schema_defaults(self.options_schema) | options

    @property
    def model(self) -> str | None:
        """The model behind this component, for provenance (None for rule-based components)."""
        return None

    async def open(self, ctx: RunContext) -> None:
        """Lifecycle: called once before the run's first unit (acquire what the component holds open)."""

    async def aclose(self) -> None:
        """Lifecycle: called once when the run ends, however it ends (release connections, files, models)."""


class PersonaSource(Component):
    """Samples synthetic patients for a disease."""

    kind: ClassVar[str] = "persona_source"

    def sample(self, disease: DiseasePack, n: int, seed: int, ctx: RunContext) -> list[Persona]:
        raise NotImplementedError


class TrajectorySampler(Component):
    """Turns one persona into the note plans of its history, and plans the timeline those notes see.

    ``multiplier`` scales the schedule's mean symptom mentions (the run's ``trajectory.multiplier``, set by
    the host when it builds the sampler).
    """

    kind: ClassVar[str] = "trajectory_sampler"
    multiplier: float = 5.0

    def plan(self, persona: Persona, disease: DiseasePack, seed: int, ctx: RunContext) -> list[NotePlan]:
        raise NotImplementedError

    def timeline(
        self, persona: Persona, plans: Sequence[NotePlan], disease: DiseasePack, seed: int, ctx: RunContext
    ) -> Timeline | None:
        """The patient's timeline over these note plans (oldest first), or ``None`` when the pack declares no
        history table. The default samples the pack's ``history`` table (:mod:`dualalign_core.history.sampler`);
        override it to plan histories another way."""
        if not getattr(disease, "history", None):
            return None
        from dualalign_core.history.sampler import planner_for

        return planner_for(disease).plan(persona, plans, seed, ctx.provenance(self, seed))


@frozen
class LabelledSpan:
    """A stretch of generated text and the label its writer gave it (the grammar knows what it wrote).

    ``kind`` says what was written (``symptom``, ``filler:vitals``, ``negative:family_history``...).
    """

    start: int
    end: int
    label: str
    kind: str
    term_id: str | None = None


@frozen
class Generation:
    """A generator's output for one plan; ``spans``: labels of what it wrote, when the generator knows them."""

    text: str
    model: str | None = None
    prompt_hash: str | None = None
    usage: Usage = field(factory=Usage)
    spans: tuple[LabelledSpan, ...] = field(converter=as_tuple, default=())


class Generator(Component):
    """Writes one note from its plan. Async so LLM backends can overlap requests."""

    kind: ClassVar[str] = "generator"

    concurrency: ClassVar[int] = 4

    async def generate(self, plan: NotePlan, persona: Persona, seed: int, ctx: RunContext) -> Generation:
        raise NotImplementedError


@frozen
class Annotation:
    """An annotator's labels for one note (one label per sentence) and what they cost."""

    labels: tuple[Label, ...] = field(converter=as_tuple)
    usage: Usage = field(factory=Usage)


class Annotator(Component):
    """Labels every sentence of a note with one of the disease's labels or ``none``."""

    kind: ClassVar[str] = "annotator"

    concurrency: ClassVar[int] = 4

    async def annotate(self, note: Note, sentences: Sequence[Sentence], ctx: RunContext) -> Annotation:
        raise NotImplementedError

    async def annotate_generation(
        self, note: Note, sentences: Sequence[Sentence], generation: Generation, ctx: RunContext
    ) -> Annotation:
        """Label a note the run just generated; annotators that use the generator's own labels override it."""
        return await self.annotate(note, sentences, ctx)


@frozen
class NoteBundle:
    """Everything a filter may look at for one note."""

    persona: Persona
    plan: NotePlan
    note: Note
    sentences: tuple[Sentence, ...] = ()
    labels: tuple[Label, ...] = ()


@frozen
class Verdict:
    """A filter's decision to reject, with the measured value and the threshold it crossed."""

    reason: str
    value: float | None = None
    threshold: float | None = None


class Filter(Component):
    """A rejection filter. ``stage`` says when it runs:

    - ``generated``: on the note text, before annotation (cheap checks first);
    - ``annotated``: with sentences and labels;
    - ``cohort``: once, over every accepted note of the run, in plan order (e.g. near-duplicates).

    ``default_on``: whether a run whose config lists no filters uses it (the core's are on; others opt in).
    ``warn_only``: when true (on the class or set by an instance from its options), the filter's verdicts go to
    the ledger as warnings, like a filter the config lists in ``filters.warn``: they reject nothing.
    """

    kind: ClassVar[str] = "filter"

    stage: ClassVar[str] = "generated"
    default_on: ClassVar[bool] = False
    warn_only: bool = False

    def check(self, bundle: NoteBundle, ctx: RunContext) -> Verdict | None:
        raise NotImplementedError

    def check_cohort(self, bundles: Sequence[NoteBundle], ctx: RunContext) -> dict[str, Verdict]:
        """For ``cohort`` filters: note id -> verdict for the notes to reject."""
        raise NotImplementedError


@frozen
class Example:
    """One labelled sentence for a classifier. ``groups``: subgroup values (demographics) for metrics;
    ``unit``: the patient (or note) it came from, so splits never cut a patient in two; ``weight``: its weight
    in the training loss (the gold/synthetic mixing sets it)."""

    text: str
    label: str
    groups: dict[str, str] = field(factory=dict, hash=False)
    unit: str = ""
    source: str = "synthetic"  # synthetic | gold
    weight: float = 1.0
    line: int = field(default=0, eq=False)  # its line in the file it was read from (0: not from a file)


class Classifier(Protocol):
    """A trained sentence classifier, as :meth:`Trainer.load` restores it."""

    labels: tuple[str, ...]

    def predict(self, texts: Sequence[str]) -> list[str]: ...


class Trainer(Component):
    """Trains a sentence classifier into a directory and restores it from there.

    ``train`` returns a summary (loss history, best validation score); ``load`` must give a classifier that
    predicts exactly what the trained one did.
    """

    kind: ClassVar[str] = "trainer"

    def train(
        self, train: Sequence[Example], valid: Sequence[Example], labels: Sequence[str], out_dir: str | Path
    ) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def load(cls, model_dir: str | Path) -> Classifier:
        raise NotImplementedError

    @classmethod
    def check(cls, model_dir: str | Path) -> None:
        """Cheap checks, before any work, that ``model_dir`` holds what :meth:`load` reads (files present and
        readable), raising :class:`~dualalign_core.errors.BadInput` naming the file. The default checks nothing."""


COMPONENT_KINDS: dict[str, type[Component]] = {
    "persona_source": PersonaSource,
    "trajectory_sampler": TrajectorySampler,
    "generator": Generator,
    "llm_backend": Component,
    "annotator": Annotator,
    "filter": Filter,
    "trainer": Trainer,
}
