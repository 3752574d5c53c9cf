#!/usr/bin/env bash
# Recovery: how long `vigil run` takes from its start to `/readyz` answering 200 (every
# partition caught up with its stream), on a stream holding EVENTS events of history and a
# store holding each partition's snapshot, against the baseline of the same restart without
# the snapshots (their rows deleted: every partition is rebuilt from the stream's start), in
# one run, alternating, ROUNDS times each.
# Usage: load-tests/bench/recovery.sh
#   Environment (defaults): EVENTS=1000000 TENANTS=1000 ROUNDS=3; KEEP=1 keeps the temp
#   directory; CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server
command -v sqlite3 >/dev/null || apt_install sqlite3

EVENTS=${EVENTS:-1000000}
TENANTS=${TENANTS:-1000}
ROUNDS=${ROUNDS:-3}

. "$ROOT/load-tests/bench/build.sh"

WORK=$(mktemp -d /tmp/vigil-recovery-bench.XXXXXX)
PIDS=()
. "$ROOT/load-tests/bench/processes.sh"

HTTP_PORT=$(free_port)
start_nats "$WORK"
cat >"$WORK/vigil.toml" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
partitions = 16
[store]
url = "sqlite://$WORK/vigil.db"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[engine]
# Frequent enough that the last snapshot of each partition lies near its end.
snapshot_every_events = 10000
snapshot_interval = "5s"
[log]
filter = "info"
TOML

snapshots() { sqlite3 "$WORK/vigil.db" 'SELECT count(*), coalesce(sum(length(state)), 0), coalesce(sum(sequence), 0) FROM partition_snapshots' 2>/dev/null || echo '0|0|0'; }

log "first run: $EVENTS events of $TENANTS tenants published and applied, snapshots taken"
"$LOAD" generate --events "$EVENTS" --tenants "$TENANTS" --output "$WORK/events.ndjson"
TOTAL=$(wc -l <"$WORK/events.ndjson")
start_until_ready "$WORK/vigil.toml" "$WORK/run-0.log"
"$VIGIL" publish --input "$WORK/events.ndjson" --config "$WORK/vigil.toml" 2>>"$WORK/publish.log"
ingested() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '/^vigil_events_ingested_total /{printf "%d", $2}'; }
for _ in $(seq 1 1200); do [ "$(ingested)" = "$TOTAL" ] && break; sleep 0.5; done
[ "$(ingested)" = "$TOTAL" ] || die "the first run applied $(ingested) of $TOTAL events"
log "waiting until every partition's snapshot lies at its end"
# A partition snapshots within 5 s of its last events: done when nothing changed for 7 s.
previous=
for _ in $(seq 1 60); do
  now=$(snapshots)
  [ "${now%%|*}" = 16 ] && [ "$now" = "$previous" ] && break
  previous=$now
  sleep 7
done
stop_pid "$VIGIL_PID"
sqlite3 "$WORK/vigil.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
cp "$WORK/vigil.db" "$WORK/with-snapshots.db"
IFS='|' read -r count bytes _ <<<"$(snapshots)"

echo "commit $COMMIT; $(nproc) CPUs; $TOTAL events of $TENANTS tenants in 16 partitions"
echo "snapshots: $count partitions, $bytes bytes"
echo "round  with snapshots (s)  without, full replay (s)  ratio"
for round in $(seq 1 "$ROUNDS"); do
  cp "$WORK/with-snapshots.db" "$WORK/vigil.db"
  rm -f "$WORK/vigil.db-wal" "$WORK/vigil.db-shm"
  start_until_ready "$WORK/vigil.toml" "$WORK/run-$round-with.log"
  with=$READY_SECS
  grep -q "partition restored from its snapshot" "$WORK/run-$round-with.log" ||
    die "round $round: the snapshots were not restored (see $WORK/run-$round-with.log)"
  stop_pid "$VIGIL_PID"
  cp "$WORK/with-snapshots.db" "$WORK/vigil.db"
  rm -f "$WORK/vigil.db-wal" "$WORK/vigil.db-shm"
  sqlite3 "$WORK/vigil.db" 'DELETE FROM partition_snapshots'
  start_until_ready "$WORK/vigil.toml" "$WORK/run-$round-without.log"
  without=$READY_SECS
  stop_pid "$VIGIL_PID"
  printf '%5s  %19.2f  %24.2f  %5.1f\n' "$round" "$with" "$without" "$(echo "$without / $with" | bc -l)"
done
