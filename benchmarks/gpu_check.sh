#!/usr/bin/env bash
# GPU acceptance: every CUDA path of rtbench in one go, everything it measured left in $OUT as
# two files (runs.tar.gz, summary.txt). Run it on a GPU machine with `make gpu-check`, or here:
#
#   bash benchmarks/gpu_check.sh                          # CUDA, 640x640, the full check
#   bash benchmarks/gpu_check.sh --device cpu --size 128  # the same steps on a CPU: CI runs this
#
# Packages the GPU machine lacks travel as wheels in .whl/ (`make gpu-wheels`); those this Python
# lacks are installed into a private folder, nothing system-wide. A step that fails is recorded
# and the next one runs; the exit code is the number of failed steps (0: all passed).
set -uo pipefail
PYTHON=${PYTHON:-python3}  # the Python rtbench is installed in (make passes its venv's)
cd "$(dirname "$0")/.."

DEVICE=cuda
SIZE=640
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    *) echo "usage: $0 [--device cuda|cpu] [--size N]" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$(mktemp -d)}
WORK=$(mktemp -d)
RUNS=$WORK/runs
SUMMARY=$OUT/summary.txt
mkdir -p "$OUT" "$RUNS"
export PYTHONUNBUFFERED=1
export RTBENCH_HISTORY="$RUNS/history.duckdb"  # what baseline and check record travels with the runs

lacking=()  # the wheels of packages this Python lacks (a binary wheel is for one Python only)
for wheel in .whl/*.whl; do
  [ -e "$wheel" ] || continue
  name=$(basename "$wheel"); name=${name%%-*}
  "$PYTHON" -c "import importlib.metadata as m; m.version('$name')" 2>/dev/null || lacking+=("$wheel")
done
if ((${#lacking[@]})); then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" "${lacking[@]}" || exit 99
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
rt() { "$PYTHON" -m rtbench "$@"; }

failed=0
step() {  # step NAME COMMAND...: run, log, record the exit code and the time taken
  local name=$1 start rc
  shift
  start=$(date +%s)
  "$@" >"$RUNS/$name.log" 2>&1
  rc=$?
  printf '%-28s exit %-3s %4ss\n' "$name" "$rc" "$(( $(date +%s) - start ))" | tee -a "$SUMMARY"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
  return 0
}
# A step that passes when the gate fails on a regression: exit 1 and its verdict line, so that a
# crash (an import error exits 1 too) does not pass for a caught slowdown.
expect_regression() {
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  [ "$rc" -eq 1 ] && grep -q '^gate: FAIL: regression' <<<"$out"
}

{
  echo "rtbench GPU acceptance, $(date -u +%FT%TZ), device $DEVICE, size $SIZE"
  git log -1 --format='commit %H' 2>/dev/null
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.max.sm \
    --format=csv,noheader
  echo
} >>"$SUMMARY"

# A half precision this device runs natively: fp16 on CUDA, bf16 on a CPU with bf16 units, none
# on a CPU that would only emulate it (about 170x slower: rtbench refuses it, and so do we).
HALF=$("$PYTHON" benchmarks/gpu_summary.py half "$DEVICE")
if [ "$DEVICE" = cuda ]; then DTYPES="fp32 fp16 bf16"; else DTYPES="fp32 $HALF"; fi
# The runtimes this machine can run, per dtype (rtbench's own checks; e.g. tensorrt when installed).
available() { "$PYTHON" benchmarks/gpu_summary.py available "$DEVICE" "$1"; }
MEASURE=(--device "$DEVICE" --size "$SIZE" --min-time 1 --results-dir "$RUNS" --no-plots)

step cuda-tests "$PYTHON" -m pytest -q -m cuda tests
for dtype in $DTYPES; do
  # every run at detector scope times end to end beside the forward pass (the summary shows
  # both, and on CUDA the NVML readings taken while timing)
  step "run-E-$dtype" rt run -v E --dtype "$dtype" --runtime "$(available "$dtype")" \
    --run-id "E-$dtype" "${MEASURE[@]}"
done
if [ "$DEVICE" = cuda ]; then FASTEST=cuda-graphs; else FASTEST=eager; fi
ANY=${HALF:-fp32}
step run-E-channels-last rt run -v E --dtype "$ANY" --channels-last --run-id E-channels-last \
  "${MEASURE[@]}"
step compare-all-half rt compare all --dtype "$ANY" --runtime "$FASTEST" --run-id all-half \
  "${MEASURE[@]}"
step compare-all-breakdown rt compare all --dtype "$ANY" --runtime eager --breakdown \
  --no-end-to-end --run-id all-breakdown "${MEASURE[@]}"
step timer-agreement "$PYTHON" benchmarks/timer_agreement.py --variant E --scope detector \
  --size "$SIZE" --device "$DEVICE" --dtype "$ANY"
step paced-200ms rt run -v E --gap-ms 200 --iters 10 --runtime eager --run-id E-paced \
  --device "$DEVICE" --size "$SIZE" --results-dir "$RUNS" --no-plots
if command -v trtexec >/dev/null && [ -n "$(available fp16 | grep -w tensorrt)" ]; then
  step trtexec-agreement "$PYTHON" benchmarks/gpu_summary.py trtexec "$RUNS"
fi
# The gate's steps on a GPU only: on the CPU they are CI's own gate and acceptance tests already,
# and a baseline of runs of three detectors there takes minutes.
if [ "$DEVICE" != cpu ]; then
  GATE=(--device "$DEVICE" --scope detector --size 256 --iters 20)
  step gate-baseline rt baseline A E Ds5 "${GATE[@]}" --runs 5 --out "$RUNS/gate-baseline.json"
  step gate-unchanged rt check --baseline "$RUNS/gate-baseline.json" --results-dir "$RUNS/gate"
  step gate-slowed-1.5x expect_regression "$PYTHON" benchmarks/gate_injection.py --variant E \
    --factor 1.5 --baseline "$RUNS/gate-baseline.json"
fi

{ echo; "$PYTHON" benchmarks/gpu_summary.py report "$RUNS"; echo; echo "failed steps: $failed"; } \
  >>"$SUMMARY" 2>&1
tar -czf "$OUT/runs.tar.gz" -C "$WORK" runs
echo "summary: $SUMMARY; runs: $OUT/runs.tar.gz"
exit "$failed"
