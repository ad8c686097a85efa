#!/usr/bin/env bash
# The gate with a baseline of the same hour, as CI runs it: PAIRS times, a baseline of COMMIT's
# code measured now (`rtbench baseline --at`), then against it one check of unchanged code and
# one of E slowed 1.1x (benchmarks/gate_study.py, its conditions idle and slow). Each pair in
# OUT/sN/ (base.json, study/study.json with verdicts, runs and seconds); about 9 minutes a pair
# on 2 cores. Touch OUT/STOP to stop after the step under way.
#
#   benchmarks/gate_same_hour.sh "$(git rev-parse HEAD)" results/gate-same-hour 7
#   python benchmarks/gate_study.py --summary results/gate-same-hour/s*/study/study.json
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-python3}
COMMIT=${1:?usage: gate_same_hour.sh COMMIT OUT [PAIRS]}
OUT=${2:?usage: gate_same_hour.sh COMMIT OUT [PAIRS]}
PAIRS=${3:-7}
mkdir -p "$OUT"
for k in $(seq 1 "$PAIRS"); do
  [ -e "$OUT/STOP" ] && break
  S="$OUT/s$k"
  mkdir -p "$S"
  echo "$(date -u +%FT%T) pair $k: the baseline of $COMMIT"
  "$PYTHON" -m rtbench baseline --at "$COMMIT" --out "$S/base.json" \
    --history "$S/history.duckdb" >"$S/baseline.log" 2>&1 || {
    echo "pair $k: no baseline (see $S/baseline.log)"
    continue
  }
  [ -e "$OUT/STOP" ] && break
  echo "$(date -u +%FT%T) pair $k: the checks"
  "$PYTHON" benchmarks/gate_study.py --baseline "$S/base.json" --conditions idle slow \
    --factor 1.1 --slow-variant E --checks 1 --out "$S/study" >"$S/study.log" 2>&1
  grep -E "^(idle|slow) 1/1" "$S/study.log"
done
