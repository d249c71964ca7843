"""The public face of DualAlign for plugin authors: import from here, nothing else is promised.

``API_VERSION`` is the plugin contract's version; a plugin declares the range it supports as a module
attribute, ``DUALALIGN_API = ">=1.0,<2"``. Everything outside this module may change in any release.
"""

from dualalign_core.components import (
    Annotation,
    Annotator,
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
)
from dualalign_core.disease import DiseasePack, PromptTemplate
from dualalign_core.errors import BadInput, ComponentError, DualAlignError, PluginError, RunFailed
from dualalign_core.hookspecs import hookimpl
from dualalign_core.llm.backend import BatchItem, BatchStatus, LLMBackend, options_schema
from dualalign_core.llm.errors import LLMError, LLMOutputError, PermanentError, RateLimited, TransientError
from dualalign_core.llm.types import LLMRequest, LLMResponse, Message
from dualalign_core.records import Label, Note, NotePlan, Persona, Provenance, RequiredTerm, Sentence, Usage

API_VERSION = "1.0"

__all__ = [
    "API_VERSION", "Annotation", "Annotator", "BadInput", "BatchItem", "BatchStatus", "Component",
    "ComponentError", "DiseasePack", "DualAlignError", "Example", "Filter", "Generation", "Generator", "LLMBackend",
    "LLMError", "LLMOutputError", "LLMRequest", "LLMResponse", "Label", "LabelledSpan", "Message", "Note",
    "NoteBundle", "NotePlan", "PermanentError", "Persona", "PersonaSource", "PluginError", "PromptTemplate",
    "Provenance", "RateLimited", "RequiredTerm", "RunFailed", "Sentence", "Trainer", "TrajectorySampler",
    "TransientError", "Usage", "Verdict", "hookimpl", "options_schema",
]
