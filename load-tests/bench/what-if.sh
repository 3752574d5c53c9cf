#!/usr/bin/env bash
# What-if from the events stream, end to end: `vigil what-if --tenant 1` over a month of one
# tenant's history (EVENTS events published to JetStream), read from the stream and run through
# the engine twice (the policy in force and a proposal), timed as the command's wall time with
# its peak RSS. Baselines in the same run, alternating with it: reading the same events out of
# the stream alone (`vigil export --tenant 1` to a file), and one engine pass over that file
# (`vigil replay`). The service only creates the streams and is stopped before publishing.
# Usage: load-tests/bench/what-if.sh
#   Environment (defaults): EVENTS=1000000 ROUNDS=3; KEEP=1 keeps the temp directory;
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server

EVENTS=${EVENTS:-1000000}
ROUNDS=${ROUNDS:-3}

. "$ROOT/load-tests/bench/build.sh"

WORK=$(mktemp -d /tmp/vigil-what-if-bench.XXXXXX)
PIDS=()
. "$ROOT/load-tests/bench/processes.sh"

HTTP_PORT=$(free_port)
start_nats "$WORK"
cat >"$WORK/vigil.toml" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
[store]
url = "sqlite://$WORK/vigil.db"
[http]
listen = "127.0.0.1:$HTTP_PORT"
TOML
cat >"$WORK/proposal.toml" <<TOML
# HIGH tickets answered within 90 minutes instead of 120.
[policy.targets.HIGH]
response = 90
TOML

log "streams created by the service, then $EVENTS events of tenant 1 over November 2026 published"
start_until_ready "$WORK/vigil.toml" "$WORK/run.log"
stop_pid "$VIGIL_PID"
"$LOAD" generate --events "$EVENTS" --tenants 1 --days 29 --start 2026-11-01T00:00:00Z \
  --seed 7 --output "$WORK/events.ndjson"
"$VIGIL" publish --input "$WORK/events.ndjson" --config "$WORK/vigil.toml" 2>>"$WORK/publish.log"

# timed NAME COMMAND...: runs COMMAND, its stdout to WORK/NAME.out; sets SECS and RSS_MB.
timed() {
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>>"$WORK/$name.log" ||
    die "$name failed (see $WORK/$name.log)"
  read -r SECS rss_kb <"$WORK/$name.time"
  RSS_MB=$((rss_kb / 1024))
}
PERIOD=(--tenant 1 --from 2026-11-01 --to 2026-12-01)
echo "commit $COMMIT; $(nproc) CPUs; $EVENTS events of one tenant"
echo "round  what-if (s, MB)  read alone (s)  one engine pass (s)  what-if / read"
for round in $(seq 1 "$ROUNDS"); do
  timed what-if "$VIGIL" what-if --config "$WORK/vigil.toml" "${PERIOD[@]}" \
    --policy "$WORK/proposal.toml" --format json
  what_if=$SECS what_if_mb=$RSS_MB
  timed export "$VIGIL" export --config "$WORK/vigil.toml" --tenant 1 --output "$WORK/export.ndjson"
  read_alone=$SECS
  timed replay "$VIGIL" replay --input "$WORK/export.ndjson" --output /dev/null
  printf '%5s  %9.2f %5s  %14.2f  %19.2f  %14.2f\n' "$round" "$what_if" "$what_if_mb" \
    "$read_alone" "$SECS" "$(echo "$what_if / $read_alone" | bc -l)"
done
python3 - "$WORK/what-if.out" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
print(f"last what-if: {run['events']} events, {run['outcome_changes_total']} goals change outcome, "
      f"alerts appearing/disappearing {run['alert_changes_total']}")
PY
