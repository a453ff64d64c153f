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
# RESULT/SUMMARY lines and appends the JSON records to OUT. The disk is
# synced first, so that the previous run's files still being written out
# do not slow the flushes of this one; then BENCH_SETTLE seconds pass
# (default 0).
bench_run() {
  sync; sleep "${BENCH_SETTLE:-0}"
  bash "$BENCH/run.sh" "$(bench_peer_dir "$1")" --workload "$2" --c "$3" --m "$4" \
    --runs "$5" --timeout "$6" --out "$7" | grep -E '^(RESULT|SUMMARY)' || true
}

# Postfix's smtp-sink: on the PATH, else the copy ../shared/bench/setup.sh
# unpacked.
SMTP_SINK=${SMTP_SINK:-$(command -v smtp-sink || echo "${PEERS_ROOT:-$HOME/.cache/mtapeers}/root/postfix/usr/sbin/smtp-sink")}

# bench_start_peers WORKROOT SINKPORT FIRSTPORT PEER...: start each peer by
# its hook, spool in WORKROOT/<peer>, relaying to 127.0.0.1:SINKPORT, on
# FIRSTPORT and up; PORT[peer] says where it listens once it answers.
# bench_stop_peers stops them (bench_sink's exit trap calls it).
BENCH_STARTED=()
declare -A PORT
bench_start_peers() {
  local root=$1 sink=$2 p=$3 peer w
  shift 3
  for peer in "$@"; do
    w="$root/$(echo "$peer" | tr -c 'A-Za-z0-9_\n-' _)"
    rm -rf "$w"
    mkdir -p "$w"
    bash "$(bench_peer_dir "$peer")/hook.sh" start "$p" "$sink" "$w"
    BENCH_STARTED+=("$peer=$w")
    PORT[$peer]=$p
    bench_wait_port "$p"
    p=$((p + 1))
  done
}
# bench_wait_port PORT: until 127.0.0.1:PORT accepts a connection (10 s
# at most).
bench_wait_port() {
  local i
  for i in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done
}
# bench_sink PORT: smtp-sink on 127.0.0.1:PORT for the run, answering when
# this returns; at exit it is stopped with every peer bench_start_peers
# started.
bench_sink() {
  "$SMTP_SINK" -u nobody -c "127.0.0.1:$1" 1000 >/dev/null 2>&1 &
  BENCH_SINK_PID=$!
  trap 'bench_stop_peers; kill "$BENCH_SINK_PID" 2>/dev/null || true' EXIT
  bench_wait_port "$1"
}
bench_stop_peers() {
  local w
  for w in "${BENCH_STARTED[@]}"; do
    bash "$(bench_peer_dir "${w%%=*}")/hook.sh" stop "${w#*=}" || true
  done
}
