#!/usr/bin/env bash
# The benchmark suite: every figure of the README's performance table, each beside a baseline
# measured in the same run, into one table (figure, measured, baseline, ratio, target, met?)
# written as OUT/results.json and OUT/results.md.
#
#   replay   `vigil replay` of the 1 M-event benchmark (`vigil-load generate`): events/s and peak
#            RSS; baseline: decoding the same file alone on one thread (`vigil-load decode`).
#   flink    `../shared/peers/flink/compare`: Apache Flink 2.3 and `vigil replay` on Flink's 1 M-
#            event workload, one after the other (skipped when the peer or java is missing).
#   live     `vigil-load live`: JetStream -> applied, against the raw consume of the same stream;
#            warning latency with many open goals.
#   storm    `load-tests/bench/notify.sh`: notifications settled per second end to end, and the
#            engine's ingest during the storm against its ingest without routes.
#   ws       `load-tests/bench/ws.sh`: alert push p99 to 10,000 WebSocket clients, against 100.
#   rest     `load-tests/bench/rest.sh`: overview p99 at ~1,000 requests/s, against `/healthz`.
#   partner  `load-tests/bench/partner.sh`: outbox drain against raw PUTs, a 10,000/s partner
#            limit, and the reconciliation of 1 M records against its floor.
#
# Usage: load-tests/bench/all.sh [--short] [--readme]
#   --readme   replaces the README's generated performance table with this run's.
#   --short    the CI version: replay and live on 200,000 events with the debug build the tests
#              already made, each ratio to its in-run baseline checked against
#              load-tests/bench/expected-short.json; fails when a ratio falls more than
#              TOLERANCE (35%: this VM's rounds vary by about ±20%) below what it states.
#   Environment (defaults): PARTS=replay,flink,live,storm,ws,rest,partner (short:
#   replay,live), ROUNDS=3 (replay, flink, live; the others run once each), OUT=target/bench,
#   TOLERANCE=0.35; CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
BENCH="$ROOT/load-tests/bench"
SHORT=0 README=0
for arg in "$@"; do
  case $arg in
    --short) SHORT=1 ;;
    --readme) README=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $arg (see --help)" ;;
  esac
done
TOLERANCE=${TOLERANCE:-0.35}
OUT=${OUT:-$ROOT/target/bench}
if [ "$SHORT" = 1 ]; then
  PARTS=${PARTS:-replay,live} ROUNDS=${ROUNDS:-3} EVENTS=200000
else
  PARTS=${PARTS:-replay,flink,live,storm,ws,rest,partner} ROUNDS=${ROUNDS:-3} EVENTS=1000000
fi
ensure_nats_server
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$SHORT" = 1 ]; then
  # The tests' build: ratios, not times, are checked, and the expected ones were measured on it.
  locked=(); [ "${CI:-}" = true ] && locked=(--locked)
  log "building vigil and vigil-load (debug)"
  (cd "$ROOT" && cargo build -q "${locked[@]}" -p vigil -p vigil-load)
  VIGIL="$TARGET/debug/vigil" LOAD="$TARGET/debug/vigil-load"
  COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
else
  . "$BENCH/build.sh"
fi
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/vigil-bench-all.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROWS="$OUT/rows.jsonl"
: >"$ROWS"

# row ID FIGURE VALUE UNIT BASELINE BASELINE_VALUE ON KIND THRESHOLD TARGET_TEXT
# One round of one figure. The ratio is VALUE / BASELINE_VALUE; the target applies to the
# value or the ratio (ON), as a minimum or a maximum (KIND). Empty values are "not measured".
row() {
  python3 - "$ROWS" "$@" <<'PY'
import json, sys
path, fid, figure, value, unit, baseline, base_value, on, kind, threshold, text = sys.argv[1:]
num = lambda s: float(s) if s not in ("", "-") else None
with open(path, "a") as f:
    f.write(json.dumps({"id": fid, "figure": figure, "value": num(value), "unit": unit,
                        "baseline": baseline, "baseline_value": num(base_value),
                        "target": [on, kind, float(threshold)], "target_text": text}) + "\n")
PY
}
# fig FILE KEY: the value of KEY=… in a figures file (empty if absent).
fig() { grep -s "^$2=" "$1" | tail -n 1 | cut -d= -f2- || true; }

part_replay() {
  log "replay: $EVENTS events, $ROUNDS rounds"
  "$LOAD" generate --events "$EVENTS" --output "$WORK/events.ndjson"
  for _ in $(seq "$ROUNDS"); do
    /usr/bin/time -f '%e %M' -o "$WORK/replay.time" \
      "$VIGIL" replay --input "$WORK/events.ndjson" --output /dev/null 2>"$WORK/replay.err"
    read -r wall rss_kb <"$WORK/replay.time"
    "$LOAD" decode --input "$WORK/events.ndjson" >"$WORK/decode.figures"
    decoded=$(fig "$WORK/decode.figures" decoded_events_per_sec)
    rate=$(awk -v n="$EVENTS" -v s="$wall" 'BEGIN{printf "%.0f", n / s}')
    row replay_rate "vigil replay, $((EVENTS / 1000))k events (vigil-load generate)" "$rate" "events/s" \
      "decoding alone, one thread" "$decoded" value min 1000000 "≥ 1,000,000 events/s"
    row replay_rss "vigil replay peak RSS, same run" "$((rss_kb / 1024))" MB "" "" value max 80 "< 80 MB"
  done
}

part_flink() {
  COMPARE=${FLINK_COMPARE:-$ROOT/../shared/peers/flink/compare}
  if [ -x "$COMPARE" ] && command -v java >/dev/null; then
    for _ in $(seq "$ROUNDS"); do
      log "flink: $COMPARE"
      (cd "$WORK" && "$COMPARE" "$VIGIL") >"$WORK/flink.out" 2>&1 || { cat "$WORK/flink.out" >&2; die "the Flink comparison failed"; }
      cat "$WORK/flink.out"
      read -r f_rate f_rss v_rate v_rss < <(python3 - "$WORK/flink.out" <<'PY'
import re, sys
got = {}
for line in open(sys.argv[1]):
    m = re.match(r"(flink|vigil)\s+([\d.]+) s\s+([\d,]+) events/s\s+peak RSS (\d+) MB", line)
    if m:
        got[m.group(1)] = (m.group(3).replace(",", ""), m.group(4))
print(*got["flink"], *got["vigil"])
PY
)
      row flink_rate "vigil replay, Flink's 1 M-event workload" "$v_rate" "events/s" \
        "Apache Flink 2.3, parallelism 1" "$f_rate" ratio min 10 "≥ 10× Flink"
      row flink_rss "vigil replay peak RSS on it" "$v_rss" MB "Flink's peak RSS" "$f_rss" ratio max 0.1 "≤ 0.1 of Flink's"
    done
  else
    log "flink: skipped ($COMPARE or java missing)"
    row flink_rate "vigil replay, Flink's 1 M-event workload" "" "events/s" "Apache Flink 2.3" "" ratio min 10 "≥ 10× Flink"
  fi
}

part_live() {
  log "live: $EVENTS events, $ROUNDS rounds"
  warn=(); [ "$SHORT" = 1 ] && warn=(--warn-tickets 0)
  for _ in $(seq "$ROUNDS"); do
    "$LOAD" live --events "$EVENTS" --rounds 1 "${warn[@]}" >"$WORK/live.figures" 2>"$WORK/live.log" ||
      { tail -n 20 "$WORK/live.log" >&2; die "vigil-load live failed"; }
    row live_ratio "live ingest, JetStream → applied ($((EVENTS / 1000))k events)" \
      "$(fig "$WORK/live.figures" applied_events_per_sec)" "events/s" \
      "raw consume of the same stream" "$(fig "$WORK/live.figures" raw_consume_events_per_sec)" \
      ratio min 0.8 "≥ 0.80 of raw"
    [ "$SHORT" = 1 ] || row warn_p99 "warning latency p99, 1 M open goals" \
      "$(fig "$WORK/live.figures" warn_emit_latency_p99_ms)" ms "" "" value max 100 "≤ 100 ms"
  done
}

part_storm() {
  log "storm: load-tests/bench/notify.sh"
  FIGURES_TO="$WORK/storm" ROUNDS=1 CAPACITY=1 "$BENCH/notify.sh"
  python3 - "$WORK/storm" >"$WORK/storm.figures" <<'PY'
import os, sys
def load(p):
    return dict(l.rstrip("\n").split("=", 1) for l in open(p) if "=" in l) if os.path.exists(p) else {}
num = lambda d, k: float(d.get(k) or 0)
def settled_per_sec(d):
    n = num(d, "outbox_sent") + num(d, "outbox_cancelled") + num(d, "outbox_failed")
    ms = num(d, "settled_last_ms") - num(d, "settled_first_ms")
    return n * 1000 / ms if ms > 0 else 0
w = sys.argv[1]
b, s, c = load(f"{w}/baseline-1/figures"), load(f"{w}/storm-1/figures"), load(f"{w}/capacity/figures")
print(f"storm_settled={settled_per_sec(s):.0f}")
print(f"dispatch_settled={settled_per_sec(c):.0f}")
print(f"ingest_storm={num(s, 'ingest_events_per_sec'):.0f}")
print(f"ingest_baseline={num(b, 'ingest_events_per_sec'):.0f}")
PY
  row storm_settled "notification storm, settled end to end (100,000 alerts)" \
    "$(fig "$WORK/storm.figures" storm_settled)" "/s" "dispatch stage alone" \
    "$(fig "$WORK/storm.figures" dispatch_settled)" value min 5000 "≥ 5,000/s"
  row storm_ingest "engine ingest during the storm" "$(fig "$WORK/storm.figures" ingest_storm)" "events/s" \
    "ingest without routes" "$(fig "$WORK/storm.figures" ingest_baseline)" ratio min 0.9 "≥ 0.90 of baseline"
}

part_ws() {
  log "ws: load-tests/bench/ws.sh"
  "$BENCH/ws.sh" >"$WORK/ws.out" 2>"$WORK/ws.log" || { tail -n 20 "$WORK/ws.log" >&2; die "ws.sh failed"; }
  # `vigil-load ws` prints a `figure value` table per run: 100 clients first, then 10,000.
  mapfile -t p99 < <(awk '$1 == "push_latency_p99_ms" { print $2 }' "$WORK/ws.out")
  row ws_p99 "WebSocket alert push p99, 10,000 clients" "${p99[1]:-}" ms "100 clients" "${p99[0]:-}" \
    value max 100 "< 100 ms"
}

part_rest() {
  log "rest: load-tests/bench/rest.sh"
  "$BENCH/rest.sh" >"$WORK/rest.out" 2>"$WORK/rest.log" || { tail -n 20 "$WORK/rest.log" >&2; die "rest.sh failed"; }
  read -r overview healthz < <(python3 - "$WORK/rest.out" <<'PY'
import re, sys
p99 = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*99%\s+([\d.]+)(us|ms|s)\b", line)
    if m:
        p99.append(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)])
print(*(p99 + ["", ""])[:2])
PY
)
  row rest_p99 "REST overview p99 at ~1,000 requests/s" "$overview" ms "/healthz under the same load" \
    "$healthz" value max 10 "< 10 ms"
}

part_partner() {
  log "partner: load-tests/bench/partner.sh"
  FIGURES_TO="$WORK/partner" RATE=10000 RATE_SECONDS=10 "$BENCH/partner.sh"
  d="$WORK/partner"
  row partner_drain "partner outbox drain, 100,000 records" "$(fig "$d/drain/figures" drain_per_sec)" "records/s" \
    "raw PUTs to the same partner" "$(fig "$d/drain/figures" raw_puts_per_sec)" value min 5000 "≥ 5,000/s"
  row partner_limit "partner rate limit of 10,000/s, held" "$(fig "$d/rate-10000/figures" drain_per_sec)" "records/s" \
    "the limit" 10000 ratio min 0.95 "within 5% of the limit"
  floor=$(awk -v a="$(fig "$d/reconcile/figures" pages_seconds)" -v b="$(fig "$d/reconcile/figures" our_rows_s)" \
    'BEGIN{printf "%.2f", a + b}')
  row recon_seconds "reconciliation of 1 M records" "$(fig "$d/reconcile/figures" reconcile_s)" s \
    "floor: partner pages + our rows alone" "$floor" value max 5 "≤ 5 s"
  rss_kb=$(fig "$d/reconcile/figures" reconcile_peak_rss_kb)
  row recon_rss "reconciliation peak RSS" "$([ -n "$rss_kb" ] && echo $((rss_kb / 1024)))" MB "" "" value max 100 "≤ 100 MB"
}

FAILED=()
for part in $(tr ',' ' ' <<<"$PARTS"); do
  declare -F "part_$part" >/dev/null || die "unknown part $part (see --help)"
  # A part that fails is reported and the others still run.
  set +e
  (set -e; "part_$part")
  rc=$?
  set -e
  [ "$rc" = 0 ] || { log "$part failed (exit $rc)"; FAILED+=("$part"); }
done

cpu=$(awk '/^model name/{sub(/.*: /, ""); print; exit}' /proc/cpuinfo)
memory=$(free -g | awk '/^Mem:/{print $2}')
command=load-tests/bench/all.sh
[ "$SHORT" = 1 ] && command="$command --short"
context="Commit $COMMIT, $(date -u +%F), $(nproc) vCPUs ($cpu), $memory GiB; \`$command\` (PARTS=$PARTS, ROUNDS=$ROUNDS). Ratio = measured ÷ baseline; a target is met when the median of the rounds meets it."
[ ${#FAILED[@]} = 0 ] || context="$context Failed, not in the table: ${FAILED[*]}."
python3 "$BENCH/table.py" render "$ROWS" "$OUT" --context "$context"
log "wrote $OUT/results.json and $OUT/results.md"
if [ "$README" = 1 ]; then
  if [ ${#FAILED[@]} = 0 ]; then
    python3 "$BENCH/table.py" readme "$OUT/results.md" "$ROOT/README.md"
  else
    log "README left as it was: a part failed"
  fi
fi
if [ "$SHORT" = 1 ]; then
  python3 "$BENCH/table.py" check "$OUT/results.json" "$BENCH/expected-short.json" "$TOLERANCE"
fi
[ ${#FAILED[@]} = 0 ] || die "parts failed: ${FAILED[*]}"
