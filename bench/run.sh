#!/usr/bin/env bash
# Runs every kaudit benchmark on this machine and prints the ratio table (see bench/README.md).
#
#   bench/run.sh [--no-bench] [--no-webhook]
#
# 1. builds the release binaries (kaudit, kaudit-loadgen, kaudit-corpus);
# 2. `cargo bench --bench engine`: readers and engines per corpus, single thread (~2-3 min);
# 3. the webhook: `kaudit serve` (alerts to a file) and the bare hyper server, each loaded by
#    kaudit-loadgen with EventList batches of 400 events over keep-alive connections on 127.0.0.1;
# 4. bench/ratios.py prints the tables.
# Everything is bounded (request counts and durations below) and only loopback is used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$ROOT/bench/out
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PORT=${KAUDIT_BENCH_PORT:-18765}
CONNS=${KAUDIT_BENCH_CONNECTIONS:-4}
REQUESTS=${KAUDIT_BENCH_REQUESTS:-3000}
DURATION=${KAUDIT_BENCH_DURATION:-30}
SEED=1
EVENTS=5000 # must match MIXED_EVENTS in benches/engine.rs: the webhook replays the same corpus
run_bench=1
run_webhook=1
for a in "$@"; do
  case "$a" in
    --no-bench) run_bench=0 ;;
    --no-webhook) run_webhook=0 ;;
    *) echo "usage: bench/run.sh [--no-bench] [--no-webhook]" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"

machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u '+%Y-%m-%d %H:%M UTC'); $(rustc --version); load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== machine: $machine"

echo "== build (release)"
cargo build --release -q -p kaudit -p kaudit-loadgen -p kaudit-corpus
BIN=$TARGET/release
"$BIN/kaudit-corpus" --seed $SEED --events $EVENTS --out "$OUT/mixed.jsonl"

if [ $run_bench = 1 ]; then
  echo "== cargo bench --bench engine (log: bench/out/bench.log)"
  rm -rf "$TARGET/criterion"
  cargo bench -q --bench engine 2>&1 | tee "$OUT/bench.log" | grep -E '^(corpus|!!!)|thrpt' || true
fi

# wait_port PORT PID: until something listens on 127.0.0.1:PORT (or PID died / 15 s passed).
wait_port() {
  for _ in $(seq 150); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# load NAME PID: kaudit-loadgen against the server PID on $PORT; JSON to bench/out/webhook-NAME.json.
load() {
  "$BIN/kaudit-loadgen" post --url "http://127.0.0.1:$PORT/k8s-audit" --corpus "$OUT/mixed.jsonl" \
    --batch 400 --connections "$CONNS" --requests "$REQUESTS" --duration "$DURATION" --pid "$2" \
    > "$OUT/webhook-$1.json" || echo "!!! load $1 had failures (see above)"
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# serve NAME WORKERS [RULE FILES...]: kaudit serve with alerts as JSON to a file, then the load.
serve() {
  local name=$1 workers=$2
  shift 2
  local rules=()
  for r in "$@"; do rules+=(-r "$r"); done
  rm -f "$OUT/alerts-$name.json"
  "${SERVE_BIN:-$BIN/kaudit}" serve "${rules[@]}" -o webserver.listen_address=127.0.0.1 -o webserver.listen_port="$PORT" \
    -o stdout_output.enabled=false -o file_output.enabled=true -o file_output.filename="$OUT/alerts-$name.json" \
    -o json_output=true -o buffered_outputs=true -o kaudit.workers="$workers" 2> "$OUT/serve-$name.log" &
  local pid=$!
  if wait_port "$PORT" $pid; then
    echo "-- webhook $name (kaudit serve, workers=$workers)"
    load "$name" $pid
    stop $pid
    echo "   alerts written: $(wc -l < "$OUT/alerts-$name.json" 2>/dev/null || echo 0)"
  else
    echo "!!! kaudit serve ($name) did not start; log: bench/out/serve-$name.log"
    stop $pid
  fi
}

bare() {
  local name=$1 threads=$2
  "$BIN/kaudit-loadgen" bare --listen "127.0.0.1:$PORT" --threads "$threads" --lifetime 120 > /dev/null 2>&1 &
  local pid=$!
  if wait_port "$PORT" $pid; then
    echo "-- bare hyper server, $threads thread(s)"
    load "$name" $pid
  fi
  stop $pid
}

if [ $run_webhook = 1 ]; then
  echo "== webhook: $CONNS connections, batches of 400, at most $REQUESTS requests / ${DURATION}s per run"
  rm -f "$OUT"/webhook-*.json
  mapfile -t RULES < <(ls "$ROOT"/rules/*.yaml | sort)
  serve compiled-w1 1
  serve compiled-wall 0
  serve interp-w1 1 "${RULES[@]}"
  # KAUDIT_BASE_BIN: an older kaudit for a before/after row (see bench/replay.sh).
  if [ -n "${KAUDIT_BASE_BIN:-}" ]; then
    SERVE_BIN=$KAUDIT_BASE_BIN serve compiled-wall-before 0
  fi
  bare bare-w1 1
  bare bare-wall "$(nproc)"
fi

echo
{
  echo "Machine: $machine"
  echo
  grep -E '^corpus .*compiled:' "$OUT/bench.log" 2>/dev/null | sed 's/^/    /' || true
  echo
  python3 "$ROOT/bench/ratios.py" "$TARGET/criterion" "$OUT"
} | tee "$OUT/results.md"
