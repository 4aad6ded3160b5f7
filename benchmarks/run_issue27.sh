#!/usr/bin/env bash
# Issue 27's missing measurements, in order, each quiet and under benchmarks/load.py's competing load in one command.
# Run on a quiet machine (no other jobs: check `uptime` first), from the repository root:
#
#     bash benchmarks/run_issue27.sh            # the figures, about 15-20 min on a quiet 2-core machine
#     bash benchmarks/run_issue27.sh --quick    # a check that every command runs (about 1 min each quiet)
#
# Output goes to the terminal and to benchmarks/issue27-<UTC time>.log. Expected durations are for a quiet 2-core
# x86_64 machine; at a load average of 10 from other jobs the --quick pass took 1-3 min per command.
set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python}
Q=""
[ "${1:-}" = "--quick" ] && Q="--quick"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
log="benchmarks/issue27-$(date -u +%Y%m%dT%H%M%SZ)${Q:+-quick}.log"
failed=0

step() {  # step "what" "expected duration" command...
  local what=$1 expect=$2
  shift 2
  printf '\n=== %s (expected %s; load %s) ===\n$ %s\n' "$what" "$expect" "$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)" "$*" | tee -a "$log"
  local start=$SECONDS
  "$@" 2>&1 | grep -v -E "Kernel is running over TCP|^Exception ignored|KeyError: 'BokehModel'" | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  printf '=== %s: exit %s after %s s ===\n' "$what" "$rc" "$((SECONDS - start))" | tee -a "$log"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
}

# 1. Codes of 16,000 inputs vs a plain forward (goal: within 1.5x loaded); peak MiB of each.
step "codes of 16,000 inputs vs a plain forward" "2 min" \
  "$PY" benchmarks/bench_codes_knn.py --extract 16000 --bits --skip-digits $Q
# 2. Top Hessian eigenvalue vs PyHessian (goal: <= 0.8x its time at the same or better accuracy, quiet and loaded).
step "top Hessian eigenvalue vs PyHessian" "2 min" \
  "$PY" benchmarks/bench_landscape.py --load both --runs 3 $Q
# 3. SmoothGrad and occlusion vs Captum at the README's attribution settings (batch 8, 224 px, window 112/56).
step "SmoothGrad and occlusion vs Captum" "4 min" \
  "$PY" benchmarks/bench_attributions.py --only SmoothGrad Occlusion --runs 3 --window 112 --stride 56 --load both $Q
# 4. The figures the issue disputes, again quiet (the last run was at others' load 7-10): Grad-CAM, IG, GradientSHAP.
step "Grad-CAM, integrated gradients, GradientSHAP vs peers" "5 min" \
  "$PY" benchmarks/bench_attributions.py --batch 4 --size 112 --runs 3 --only Grad-CAM Integrated GradientSHAP \
  --load both $Q
# 5. The first minute on one core with the competing load on the same core (goals: Run All < 20 s, peak < 1.5 GB).
step "first minute on one core (taskset -c 0)" "3 min" \
  taskset -c 0 "$PY" benchmarks/bench_first_minute.py --load both $Q

printf '\n%s command(s) failed; log: %s\n' "$failed" "$log" | tee -a "$log"
exit "$failed"
