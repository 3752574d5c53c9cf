#!/usr/bin/env bash
# Aggregate ingest of 1, 2 and 3 instances on this machine (and of 1 without snapshots, the
# baseline of what snapshots cost): EVENTS events (the open-tickets
# stream: OPEN tickets created, then assigned in turn; no alert) are published once, then for
# each instance count a fresh PostgreSQL database and that many `vigil run` processes consume
# the whole stream from its start, sharing the partitions through leases. The figure is events
# applied per second, from the start of the instances to the last event applied (summed over
# the instances), ROUNDS times per count. The instances share this machine's cores with each
# other, nats-server and PostgreSQL: the point is what coordination costs, not scaling.
# Usage: load-tests/bench/instances.sh
#   Environment (defaults): EVENTS=2000000 OPEN=200000 TENANTS=1000 COUNTS="1 2 3 1-nosnap"
#   ROUNDS=3 (`N-nosnap`: N instances with snapshots off);
#   KEEP=1 keeps the temp directory; CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server

EVENTS=${EVENTS:-2000000}
OPEN=${OPEN:-200000}
TENANTS=${TENANTS:-1000}
COUNTS=${COUNTS:-"1 2 3 1-nosnap"}
ROUNDS=${ROUNDS:-3}

. "$ROOT/load-tests/bench/build.sh"

WORK=$(mktemp -d /tmp/vigil-instances-bench.XXXXXX)
PIDS=()
. "$ROOT/load-tests/bench/processes.sh"
start_store_and_nats

config() { # file db http_port name [snapshots: on|off]
  local every=100000 interval="5m"
  if [ "${5:-on}" = off ]; then every=0 interval="0s"; fi
  cat >"$1" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
partitions = 16
[store]
url = "$PG_BASE/$2"
[http]
listen = "127.0.0.1:$3"
[cluster]
name = "$4"
[engine]
snapshot_every_events = $every
snapshot_interval = "$interval"
[log]
filter = "info"
TOML
}

ingested() { # port
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^vigil_events_ingested_total /{printf "%d", $2}'
}

log "publishing $EVENTS events once"
SETUP_PORT=$(free_port)
config "$WORK/publish.toml" vigil_test "$SETUP_PORT" publisher
# `vigil run` creates the streams; one that consumes nothing yet, stopped once ready.
"$VIGIL" run --config "$WORK/publish.toml" >"$WORK/setup.log" 2>&1 &
SETUP_PID=$!
PIDS+=("$SETUP_PID")
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$SETUP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
stop_pid "$SETUP_PID"
"$LOAD" open-tickets --tickets "$OPEN" --history "$EVENTS" --tenants "$TENANTS" |
  "$VIGIL" publish --input - --config "$WORK/publish.toml" 2>>"$WORK/publish.log" ||
  { tail -5 "$WORK/publish.log" >&2; die "publishing failed"; }

echo "commit $COMMIT; $(nproc) CPUs; $EVENTS events of $TENANTS tenants in 16 partitions; PostgreSQL and nats-server on the same machine"
printf '%-10s %s\n' instances "events applied per second (each round)"
declare -A RATES
for round in $(seq 1 "$ROUNDS"); do
  for mode in $COUNTS; do
    n=${mode%-nosnap}
    snapshots=on
    [ "$mode" = "$n" ] || snapshots=off
    db="vigil_r${round}_${mode//-/_}"
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U vigil "$db"
    ports=()
    pids=()
    started=$(date +%s.%N)
    for i in $(seq 1 "$n"); do
      port=$(free_port)
      config "$WORK/r$round-$mode-$i.toml" "$db" "$port" "node-$i" "$snapshots"
      "$VIGIL" run --config "$WORK/r$round-$mode-$i.toml" >"$WORK/r$round-$mode-$i.log" 2>&1 &
      pids+=("$!")
      PIDS+=("$!")
      ports+=("$port")
    done
    for _ in $(seq 1 12000); do
      total=0
      for port in "${ports[@]}"; do
        applied=$(ingested "$port" || true)
        total=$(( total + ${applied:-0} ))
      done
      [ "$total" -ge "$EVENTS" ] && break
      sleep 0.05
    done
    [ "$total" -ge "$EVENTS" ] || die "$mode: the instances applied $total of $EVENTS events"
    rate=$(awk -v a="$started" -v b="$(date +%s.%N)" -v n="$EVENTS" 'BEGIN { printf "%d", n / (b - a) }')
    RATES[$mode]="${RATES[$mode]:-} $rate"
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
  done
done
for mode in $COUNTS; do printf '%-10s %s\n' "$mode" "${RATES[$mode]:-}"; done
