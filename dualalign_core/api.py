"""The public face of DualAlign for plugin authors: everything a plugin may import, and nothing else.

``from dualalign_core.api import hookimpl, Filter, Verdict`` and so on. The names in ``__all__`` are the plugin
contract, versioned by :data:`API_VERSION` (see CHANGELOG.md: a minor bump adds, a major bump may remove or
change). Every other module of ``dualalign_core`` is internal and may change in any release.

A plugin declares the API range it supports with a module attribute, ``DUALALIGN_API = ">=1.0,<2"``; a plugin
whose range excludes the core's version is listed as ``incompatible`` by ``dualalign plugins`` and loads nothing.

Importing this module stays cheap (no numpy, jsonschema, vendor SDK or torch): the disease-pack types and the
training helpers are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dualalign_core import API_VERSION
from dualalign_core.components import (
    Annotation,
    Annotator,
    Classifier,
    Component,
    Example,
    Filter,
    Generation,
    Generator,
    LabelledSpan,
    NoteBundle,
    PersonaSource,
    Trainer,
    TrajectorySampler,
    Verdict,
    schema_defaults,
)
from dualalign_core.context import RunContext
from dualalign_core.errors import BadInput, ComponentError, DualAlignError, PluginError
from dualalign_core.history.timeline import (
    Clinician,
    DoseChange,
    Event,
    Measurement,
    Medication,
    NoteContext,
    NoteMemory,
    SocialChange,
    Timeline,
)
from dualalign_core.hookspecs import hookimpl
from dualalign_core.llm.backend import BatchItem, BatchStatus, LLMBackend, options_schema
from dualalign_core.llm.clients import ClientPool
from dualalign_core.llm.faults import (
    LLMError,
    LLMOutputError,
    PermanentError,
    RateLimited,
    TransientError,
    error_message,
    from_http_status,
)
from dualalign_core.llm.pricing import Price, package_prices
from dualalign_core.llm.types import LLMRequest, LLMResponse, Message
from dualalign_core.packaged import check_gguf, check_hf_dir, packaged_file
from dualalign_core.records import Label, Note, NotePlan, Persona, Provenance, Rejection, RequiredTerm, Sentence, Usage

if TYPE_CHECKING:
    from dualalign_core.disease import DiseasePack, PromptTemplate, validate_pack_dir
    from dualalign_core.sampling.personas import PrevalencePersonaSource
    from dualalign_core.sampling.trajectory import StageScheduleSampler, term_applies
    from dualalign_core.training import check_trained_model, load_model
    from dualalign_core.training.metrics import scores

# name -> module, for the names imported on first use (they pull in numpy / jsonschema)
_LAZY = {
    "PrevalencePersonaSource": "dualalign_core.sampling.personas",
    "StageScheduleSampler": "dualalign_core.sampling.trajectory",
    "term_applies": "dualalign_core.sampling.trajectory",
    "DiseasePack": "dualalign_core.disease",
    "PromptTemplate": "dualalign_core.disease",
    "validate_pack_dir": "dualalign_core.disease",
    "check_trained_model": "dualalign_core.training",
    "load_model": "dualalign_core.training",
    "scores": "dualalign_core.training.metrics",
}

__all__ = [
    # the contract
    "API_VERSION",
    "hookimpl",
    # component base classes and what their methods take and return
    "Annotation",
    "Annotator",
    "Classifier",
    "Component",
    "Example",
    "Filter",
    "Generation",
    "Generator",
    "LabelledSpan",
    "NoteBundle",
    "PersonaSource",
    "RunContext",
    "Trainer",
    "TrajectorySampler",
    "Verdict",
    "schema_defaults",
    # records
    "Label",
    "Note",
    "NotePlan",
    "Persona",
    "Provenance",
    "Rejection",
    "RequiredTerm",
    "Sentence",
    "Usage",
    # a patient's timeline and what a note sees of it
    "Clinician",
    "DoseChange",
    "Event",
    "Measurement",
    "Medication",
    "NoteContext",
    "NoteMemory",
    "SocialChange",
    "Timeline",
    # LLM backends: the shared runtime gives every backend retries, rate limits, cache and cost
    "BatchItem",
    "BatchStatus",
    "ClientPool",
    "LLMBackend",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "Price",
    "options_schema",
    "package_prices",
    # errors: BadInput / PluginError exit 2, ComponentError 1; LLM errors tell the runtime what to retry
    "BadInput",
    "ComponentError",
    "DualAlignError",
    "LLMError",
    "LLMOutputError",
    "PermanentError",
    "PluginError",
    "RateLimited",
    "TransientError",
    "error_message",
    "from_http_status",
    # the core's samplers, as bases to extend (1.1), and the lexicon's applicability rule
    "PrevalencePersonaSource",
    "StageScheduleSampler",
    "term_applies",
    # disease packs
    "DiseasePack",
    "PromptTemplate",
    "validate_pack_dir",
    # helpers for packaged data, trained models and their scores
    "check_gguf",
    "check_hf_dir",
    "check_trained_model",
    "load_model",
    "packaged_file",
    "scores",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
