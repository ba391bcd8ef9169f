#!/usr/bin/env bash
# Whole-process replay against the reading limit, the way issue 14 states its targets (see bench/README.md).
#
#   bench/replay.sh [RUNS]        (RUNS per command, default 5; medians are reported)
#   KAUDIT_BASE_BIN=path/to/older/kaudit bench/replay.sh   also runs an older binary (before/after;
#   KAUDIT_BASE_ARGS adds arguments to its replay, e.g. "--threads 1")
#
# ingest-floor replays with bench/floor.yaml (one rule that never matches): what reading, parsing and
# indexing the events cost before any rule or alert, the floor under both engines' ratios.
# Corpora (bench/out, generated once): falco100k = Falco's 20k reference corpus five times (100,000 events,
# 81 MB); big = the same corpus 70 times (1,400,000 events, 1.14 GB) for the multi-core and memory figures
# (delete bench/out/big.jsonl afterwards if disk space is short; KAUDIT_BIG_COPIES=35 makes it 570 MB).
# Single-core figures run the whole process pinned to CPU 0 (`taskset -c 0`); the commands alternate run by
# run so that a change in machine load hits all of them alike. Wall time and peak RSS come from
# /usr/bin/time; alerts go to /dev/null.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$ROOT/bench/out
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=${1:-5}
CONF=${KAUDIT_CONFORMANCE_DIR:-$ROOT/../shared/conformance}
mkdir -p "$OUT"

echo "== build (release)"
cargo build --release -q -p kaudit -p kaudit-loadgen
BIN=$TARGET/release
SRC="$CONF/falco-reference/corpus-20k.jsonl.gz"
if [ ! -s "$OUT/falco100k.jsonl" ]; then
  for _ in 1 2 3 4 5; do gzip -dc "$SRC"; done > "$OUT/falco100k.jsonl"
fi
if [ ! -s "$OUT/big.jsonl" ]; then
  for _ in $(seq "${KAUDIT_BIG_COPIES:-70}"); do gzip -dc "$SRC"; done > "$OUT/big.jsonl"
fi
mapfile -t RULES < <(ls "$ROOT"/rules/*.yaml | sort)
RARGS=()
for r in "${RULES[@]}"; do RARGS+=(-r "$r"); done

# measure NAME CMD...: one run; appends "NAME wall_s maxrss_kib user_s sys_s" to $LOG.
LOG=$OUT/replay-runs.txt
: > "$LOG"
measure() {
  local name=$1
  shift
  /usr/bin/time -f "$name %e %M %U %S" -a -o "$LOG" "$@" > /dev/null 2> "$OUT/replay-$name.err"
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $RUNS runs each"
for i in $(seq "$RUNS"); do
  measure validate taskset -c 0 "$BIN/kaudit-validate" "$OUT/falco100k.jsonl"
  measure compiled taskset -c 0 "$BIN/kaudit" replay --json --threads 1 "$OUT/falco100k.jsonl"
  measure interpreter taskset -c 0 "$BIN/kaudit" replay "${RARGS[@]}" --json --threads 1 "$OUT/falco100k.jsonl"
  # The floor under both engines: reading, parsing and indexing every event, one rule that never matches.
  measure ingest-floor taskset -c 0 "$BIN/kaudit" replay -r "$ROOT/bench/floor.yaml" --json --threads 1 "$OUT/falco100k.jsonl"
  if [ -n "${KAUDIT_BASE_BIN:-}" ]; then
    measure compiled-before taskset -c 0 "$KAUDIT_BASE_BIN" replay ${KAUDIT_BASE_ARGS:-} --json "$OUT/falco100k.jsonl"
    measure interpreter-before taskset -c 0 "$KAUDIT_BASE_BIN" replay ${KAUDIT_BASE_ARGS:-} "${RARGS[@]}" --json "$OUT/falco100k.jsonl"
  fi
done
for i in $(seq "$RUNS"); do
  measure big-1thread taskset -c 0 "$BIN/kaudit" replay --json --threads 1 "$OUT/big.jsonl"
  measure big-2threads "$BIN/kaudit" replay --json --threads 2 "$OUT/big.jsonl"
done
echo "== load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$LOG" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, wall, rss, user, sys_ = line.split()
    runs.setdefault(name, []).append((float(wall), int(rss), float(user) + float(sys_)))
med = {n: statistics.median(x[0] for x in r) for n, r in runs.items()}
cpu = {n: statistics.median(x[2] for x in r) for n, r in runs.items()}
# CPU time is the fairer yardstick on a loaded machine (wall time includes waiting for the core);
# the multi-core speed-up can only be read from wall time.
print("| run | median wall s | wall s of each run | median CPU s | peak RSS MiB (max) | speed vs reference (wall; CPU) |")
print("|---|---|---|---|---|---|")
for n, r in runs.items():
    ref = {"compiled": "validate", "interpreter": "validate", "ingest-floor": "validate", "compiled-before": "validate",
           "interpreter-before": "validate", "big-2threads": "big-1thread"}.get(n)
    rel = f"{med[ref] / med[n]:.2f}x; {cpu[ref] / cpu[n]:.2f}x {ref}" if ref in med else ""
    walls = " ".join(f"{x[0]:.3f}" for x in r)
    print(f"| {n} | {med[n]:.3f} | {walls} | {cpu[n]:.2f} | {max(x[1] for x in r) / 1024:.1f} | {rel} |")
PY
