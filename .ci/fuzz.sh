#!/usr/bin/env bash
# Builds every fuzz target (fuzz/, cargo fuzz on nightly) and runs each for a short while from
# its seed corpus (fuzz/corpus/<target>) plus what earlier runs on this machine found, so that
# the targets keep building and a regression in a parser shows up in CI. A crash fails the run;
# the input that caused it is left in fuzz/artifacts/<target>/. See docs/DEVELOPMENT.md.
#
# Environment:
#   FUZZ_SECONDS      seconds per target (default 20)
#   FUZZ_BUILD        `release` (default: optimised, for campaigns) or `dev` (unoptimised with
#                     debug assertions: builds in a fraction of the time, runs fewer inputs per
#                     second; what `.ci/run` uses to keep every target building and running)
#   FUZZ_TARGET_DIR   the build's target dir (default /var/tmp/kruispunt-fuzz-target)
#   FUZZ_WORK_CORPUS  where each target's grown corpus is kept between runs
#                     (default /var/tmp/kruispunt-fuzz-corpus)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
target_dir="${FUZZ_TARGET_DIR:-/var/tmp/kruispunt-fuzz-target}"
work="${FUZZ_WORK_CORPUS:-/var/tmp/kruispunt-fuzz-corpus}"
# The same flags for build and run, or `cargo fuzz run` rebuilds. No sanitizer: the targets are
# safe Rust (bounds and overflow checks stay on), and ASan would halve the executions.
flags=(--sanitizer none --codegen-units 16 --target-dir "$target_dir")
case "${FUZZ_BUILD:-release}" in
  release) ;;
  dev) flags+=(--dev) ;;
  *) echo "FUZZ_BUILD must be release or dev, not ${FUZZ_BUILD}" >&2; exit 2 ;;
esac

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
cargo +nightly fuzz --version

cargo +nightly fuzz build "${flags[@]}"
failed=0
for t in $(cargo +nightly fuzz list); do
  mkdir -p "$work/$t"
  echo "== fuzz $t (${seconds}s, $(date -u +%T))"
  # The first corpus directory receives new inputs; the repository's seeds are only read.
  log="$work/$t.log"
  rc=0
  seeds=()
  if [ -d "fuzz/corpus/$t" ]; then seeds=("fuzz/corpus/$t"); fi
  # The MLS target writes fresh valid seeds (key packages expire) into its corpus at start.
  KRUISPUNT_FUZZ_MLS_SEEDS="$work/mls_intake" \
  cargo +nightly fuzz run "${flags[@]}" "$t" "$work/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz target $t failed (exit $rc): the input is in fuzz/artifacts/$t/" >&2
    failed=1
  fi
done
exit "$failed"
