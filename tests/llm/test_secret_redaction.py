"""A key a server or proxy echoes in an error body (a 401 or 500 quoting the ``Authorization`` header) is
redacted before anything is printed or stored: not on stdout or stderr (with or without ``DUALALIGN_DEBUG``),
not in ``units.error``, the manifest or any other file of the run or of ``annotate``'s output (issue 21, item 6).
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest
from test_budget_resume import CHEAP, write_config

from dualalign_core.plugins import get_registry
from dualalign_core.redact import redact, register

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, dualalign  # noqa: E402

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")
KEY_VAR = "MYVENDOR_CRED"  # named by api_key_env: not a name that looks like a key's


def files_holding(root: Path, needle: str) -> list[Path]:
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def echoing(server, fault: str) -> None:
    """Every completion is answered with ``fault`` (an error quoting the request's Authorization header)."""
    server.fault_on = {"": fault}


@pytest.mark.parametrize(("fault", "debug"), [("401_echo", ""), ("500_echo", "1")])
def test_an_echoed_key_is_in_no_output_and_no_file_of_the_run(server, tmp_path, fault, debug):
    key = f"cred-{secrets.token_hex(16)}"
    options = CHEAP + f'max_attempts = 2, api_key_env = "{KEY_VAR}", '
    cfg = write_config(tmp_path / "c.toml", server.url, options=options)
    echoing(server, fault)
    env = cli_env(**{KEY_VAR: key, "DUALALIGN_DEBUG": debug})
    res = dualalign("run", str(cfg), "--out", str(tmp_path / "run"), "-q", env=env, separate=True)
    assert res.returncode == 1, res.stderr
    assert server.auth and set(server.auth) == {f"Bearer {key}"}  # the key was sent, and echoed back
    assert f"<{KEY_VAR} redacted>" in res.stderr, res.stderr
    assert key not in res.stdout + res.stderr
    assert files_holding(tmp_path, key) == []


def test_annotate_redacts_an_echoed_key(server, tmp_path):
    key = f"sk-{secrets.token_hex(16)}"
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "She forgets appointments."}\n')
    echoing(server, "401_echo")
    res = dualalign(
        "annotate",
        str(data),
        "--annotator",
        "openai",
        "--option",
        f"base_url={server.url}/v1",
        "--out",
        str(tmp_path / "out.jsonl"),
        env=cli_env(OPENAI_API_KEY=key),
        separate=True,
    )
    assert res.returncode == 1, res.stderr
    assert "<OPENAI_API_KEY redacted>" in res.stdout, res.stdout  # the failed record's error, redacted
    assert key not in res.stdout + res.stderr
    assert files_holding(tmp_path, key) == []


def test_redact_replaces_registered_and_key_named_variables(monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-1234567890")
    monkeypatch.setenv("RELKEY_FORWARDED", "forwarded-value-42")
    monkeypatch.setenv("RELKEY_SHORT", "abc")
    register("RELKEY_FORWARDED", "RELKEY_SHORT")
    text = redact("a tok-1234567890 b forwarded-value-42 c abc")
    assert text == "a <SOME_SERVICE_TOKEN redacted> b <RELKEY_FORWARDED redacted> c abc"  # short values stay
