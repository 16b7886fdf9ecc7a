#!/usr/bin/env bash
# Runs every cargo-fuzz target of confd for SECONDS each (default 600), at
# most FUZZ_JOBS (default 2) at a time, then prints each target's executions
# and corpus size from libFuzzer's final stats. See RELIABILITY.md.
#
#   fuzz/run.sh                 # all targets, 10 minutes each
#   fuzz/run.sh 60 vfs_path     # one target, one minute
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer); on a stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them, which is what this script does.
# A crash stops its target, leaves the input in fuzz/artifacts/TARGET/ and
# makes the script exit 1: turn the input into a regression unit test.
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(vfs_path layer_merge value_parse brick_name)
jobs="${FUZZ_JOBS:-2}"
logs="target/logs"
mkdir -p "$logs"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is required: cargo install cargo-fuzz"; exit 2; }
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >/dev/null || exit 2

run_one() {
  local target="$1"
  mkdir -p "corpus/$target"
  cargo fuzz run -O "$target" -- -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 >"$logs/$target.log" 2>&1
}

status=0
pids=()
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  echo "fuzzing $target for ${seconds}s (log: fuzz/$logs/$target.log)"
  run_one "$target" &
  pids+=("$!")
done
for i in "${!targets[@]}"; do
  wait "${pids[$i]}" || status=1
done

printf '%-12s %8s %14s %12s %s\n' target seconds executions corpus result
for target in "${targets[@]}"; do
  log="$logs/$target.log"
  execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | awk '{print $2}' | tail -1)
  # libFuzzer's own count of the corpus it kept (units/size), from its last line.
  corpus=$(grep -Eo 'DONE .*corp: [0-9]+/[0-9a-zA-Z]+' "$log" | grep -Eo '[0-9]+/[0-9a-zA-Z]+$' | tail -1)
  if grep -q 'SUMMARY: libFuzzer\|panicked at' "$log"; then result="CRASH (see fuzz/artifacts/$target)"; status=1; else result=ok; fi
  printf '%-12s %8s %14s %12s %s\n' "$target" "$seconds" "${execs:-?}" "$corpus" "$result"
done
exit "$status"
