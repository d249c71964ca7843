"""Fixtures: a fake vendor server on 127.0.0.1, the vendor (both, parametrized), a run context with a real store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeLLMServer  # noqa: E402
from llm_helpers import SECRET, StubDisease  # noqa: E402

from dualalign_core.context import RunContext  # noqa: E402
from dualalign_core.run.store import RunStore  # noqa: E402


@pytest.fixture
def server():
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture(params=["openai", "anthropic"])
def vendor(request, monkeypatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET["openai"])
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET["anthropic"])
    return request.param


@pytest.fixture
def store(tmp_path):
    st = RunStore(tmp_path / "run")
    yield st
    st.close()


@pytest.fixture
def ctx(store) -> RunContext:
    return RunContext(run_id="run-test", seed=7, disease=StubDisease(), store=store)  # type: ignore[arg-type]
