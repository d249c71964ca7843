"""Shared fixtures: the third-party test plugins installed into a temporary directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# One OpenMP thread for torch (here and in child processes) unless asked otherwise: the tests' models are tiny,
# and on a busy 2-core machine spinning OpenMP workers made the SmolLM2 tests 4x slower (148 s vs 35 s).
os.environ.setdefault("OMP_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).parent))

from support import FIXTURES, pip_install_target  # noqa: E402


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the test plugins (their own distributions, with entry points) into a target dir: the CLI
    finds them through ``PYTHONPATH``, in a child process or in-process (``support.dualalign(site=...)``)."""
    target = tmp_path_factory.mktemp("site")
    pip_install_target(target, str(FIXTURES / "dualalign_testkit"), str(FIXTURES / "dualalign_broken"))
    return target


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaMA checkpoint (tokenizer fitted to the labelled sentences), built once per module."""
    from llama_fixtures import labelled_sentences, make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), [e.text for e in labelled_sentences()])
