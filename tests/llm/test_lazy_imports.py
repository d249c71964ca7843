"""`dualalign plugins` lists every plugin without importing a vendor SDK (openai, anthropic, google-genai, boto3),
torch, transformers, peft or datasketch: those load when a component is built or runs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "openai",
    "anthropic",
    "httpx",
    "google",  # google-genai, google-auth
    "boto3",
    "botocore",
    "torch",
    "transformers",
    "peft",
    "datasketch",
    "llama_cpp",
)
VENDORS = ("openai", "anthropic", "gemini", "bedrock", "llama", "local")


def test_plugins_command_imports_no_heavy_module():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dualalign_core.cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    status = {row["name"]: row["status"] for row in json.loads(proc.stdout)}  # --json: any terminal width
    assert {status.get(name) for name in VENDORS} == {"ok"}, status
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    top = {name.split(".")[0] for name in imported}
    assert not top & set(HEAVY), sorted(top & set(HEAVY))
    # the plugins themselves did load (their registration modules ran)
    assert {f"dualalign_{name}" for name in VENDORS} <= top
