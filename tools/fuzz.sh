#!/usr/bin/env bash
# Run the cargo-fuzz targets under fuzz/ and print, per target, the
# executions, the corpus size and the crashes found.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s, every target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Each target runs for SECONDS of wall time on one core (libFuzzer's
# -max_total_time), from its corpus in fuzz/corpus/TARGET, which it grows.
# A crash (or timeout, leak, out-of-memory) is saved under
# fuzz/artifacts/TARGET/ and makes the exit status 1; slow units are kept
# there too but do not count;
# turn it into a regression test (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
shift || true
if [ $# -eq 0 ]; then
  set -- smtp_session smtp_transaction smtp_data smtp_command address mc_compile makemap_text aliases client_replies
fi
command -v cargo-fuzz >/dev/null 2>&1 || { echo "tools/fuzz.sh: cargo install cargo-fuzz" >&2; exit 2; }
status=0
printf '%-16s %12s %10s %8s %8s\n' target executions exec/s corpus crashes
for t in "$@"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(ls "artifacts/$t" | grep -vc '^slow-unit-' || true)
  log=$(mktemp)
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 \
    -print_final_stats=1 >"$log" 2>&1 || true
  execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  # A slow unit (libFuzzer's -report_slow_units) is not a crash: it is
  # listed, and bounded by the code's own limits (docs/fuzzing.md).
  after=$(ls "artifacts/$t" | grep -vc '^slow-unit-' || true)
  crashes=$((after - before))
  if grep -aq 'ERROR: libFuzzer\|panicked at' "$log" && [ "$crashes" -eq 0 ]; then crashes=1; fi
  [ "$crashes" -eq 0 ] || { status=1; grep -a -m3 'panicked at\|ERROR: libFuzzer\|SUMMARY' "$log" >&2 || true; }
  printf '%-16s %12s %10s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$(ls "corpus/$t" | wc -l)" "$crashes"
  rm -f "$log"
done
exit $status
