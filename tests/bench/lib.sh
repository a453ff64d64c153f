# Shared by tests/bench/compare.sh and tests/bench/milter.sh (sourced, not run):
# how each peer is started under ../shared/bench/run.sh.
#   BENCH   the shared harness ($MTABENCH, default ../shared/bench)
#   MXGATE_BIN  the release binary hook.sh starts (exported by bench_build)

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_TOP=$(cd "$BENCH_LIB_DIR/../.." && pwd)
# ../shared/bench beside the checkout; from a git worktree, beside the main checkout
BENCH=${MTABENCH:-$BENCH_TOP/../shared/bench}
if [ -z "${MTABENCH:-}" ] && [ ! -d "$BENCH" ]; then
  BENCH=$(cd "$BENCH_TOP" && cd "$(git rev-parse --git-common-dir)/.." && pwd)/../shared/bench
fi

# bench_build: build the release mxgate and point hook.sh at it (it honours
# CARGO_TARGET_DIR, which hook.sh's default target/release does not).
bench_build() {
  (cd "$BENCH_TOP" && cargo build --release -q --bin mxgate)
  export MXGATE_BIN=${MXGATE_BIN:-${CARGO_TARGET_DIR:-$BENCH_TOP/target}/release/mxgate}
}

# bench_peer_dir PEER: the directory holding PEER's hook.sh. "mxgate" is
# tests/bench; a name with a / is a directory; any other name is a peer of
# the shared harness (postfix, sendmail, exim, opensmtpd).
bench_peer_dir() {
  case "$1" in
    mxgate) echo "$BENCH_LIB_DIR" ;;
    */*) echo "$1" ;;
    *) echo "$BENCH/$1" ;;
  esac
}

# bench_run PEER WORKLOAD C M RUNS TIMEOUT OUT: one run.sh call; prints its
# RESULT/SUMMARY lines and appends the JSON records to OUT.
bench_run() {
  bash "$BENCH/run.sh" "$(bench_peer_dir "$1")" --workload "$2" --c "$3" --m "$4" \
    --runs "$5" --timeout "$6" --out "$7" | grep -E '^(RESULT|SUMMARY)' || true
}
