"""The plugin author's test kit: what the tests of a package made by ``dualalign new`` use.

- :func:`run_context` — the :class:`~dualalign_core.context.RunContext` a component sees in a run;
  :func:`example_pack` a small valid disease pack; :func:`sample_personas` personas from a registered source;
  :func:`note_bundle` a filter's input for one note; :func:`registered` what the installed plugins register under a
  name (a plugin's test that its entry point works).
- :class:`FakeLLMServer` — a loopback vendor speaking the OpenAI and Anthropic wire protocols, with latency,
  429/500/timeout/... fault injection and an in-flight counter; subclass it (its wire hooks, with :class:`Ask`
  and :class:`Answer`) for another vendor's wire.
- :func:`check_backend` — the LLM backend contract, checked against the fake server.
- :func:`run_pipeline` — ``dualalign run`` in this process, through the CLI.

Public and versioned with the plugin API (``dualalign_core.api.API_VERSION``).
"""

from dualalign_core.testing.backend_contract import BackendReport, ContractError, check_backend
from dualalign_core.testing.fake_vendor import RANDOM_FAULTS, Answer, Ask, FakeLLMServer, label_for
from dualalign_core.testing.run_harness import (
    PipelineResult,
    example_pack,
    note_bundle,
    registered,
    run_context,
    run_pipeline,
    sample_personas,
    to_toml,
)

__all__ = [
    "RANDOM_FAULTS",
    "Answer",
    "Ask",
    "BackendReport",
    "ContractError",
    "FakeLLMServer",
    "PipelineResult",
    "check_backend",
    "example_pack",
    "label_for",
    "note_bundle",
    "registered",
    "run_context",
    "run_pipeline",
    "sample_personas",
    "to_toml",
]
