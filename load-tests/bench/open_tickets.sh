#!/usr/bin/env bash
# Recovery with many open tickets: for each stream size of HISTORIES (events of history, of
# which OPEN are ticket creations and the rest assignments of those tickets, so OPEN tickets
# stay open), `vigil run` applies the stream and snapshots, then is restarted ROUNDS times
# after a SIGTERM (it snapshots as it stops) and ROUNDS times after a `kill -9` (it restores the
# last interval snapshot and reads the tail after it; TAIL more events are published just
# before each kill). Each restart is timed from start to `/readyz` 200.
# Usage: load-tests/bench/open_tickets.sh
#   Environment (defaults): OPEN=1000000 HISTORIES="1000000 5000000 20000000" TENANTS=1000
#   ROUNDS=3 TAIL=100000; KEEP=1 keeps the temp directory; CARGO_TARGET_DIR is honoured.
#   DEDUPE_WINDOW (e.g. "1m"; default "0s", the stream's retention) sets [engine]
#   dedupe_window: a window shorter than the stream's span shows recovery bounded by the
#   window, not by the history.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server

OPEN=${OPEN:-1000000}
HISTORIES=${HISTORIES:-"1000000 5000000 20000000"}
TENANTS=${TENANTS:-1000}
ROUNDS=${ROUNDS:-3}
TAIL=${TAIL:-100000}
DEDUPE_WINDOW=${DEDUPE_WINDOW:-0s}

. "$ROOT/load-tests/bench/build.sh"

WORK=$(mktemp -d /tmp/vigil-open-tickets-bench.XXXXXX)
PIDS=()
. "$ROOT/load-tests/bench/processes.sh"

metric() { # name: the sum of a metric's samples on the running service
  curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d", s }'
}


# Waits until a fresh service has applied `$1` events.
wait_applied() { # total
  for _ in $(seq 1 7200); do
    [ "$(metric vigil_events_ingested_total)" -ge "$1" ] && return 0
    sleep 0.5
  done
  die "only $(metric vigil_events_ingested_total) of $1 events applied"
}

# Waits until the service reports OPEN open tickets (the gauge is refreshed every few seconds).
wait_open() { # what
  for _ in $(seq 1 100); do [ "$(metric vigil_open_tickets)" = "$OPEN" ] && return 0; sleep 0.2; done
  die "$1: $(metric vigil_open_tickets) tickets open, expected $OPEN"
}

echo "commit $COMMIT; $(nproc) CPUs; $OPEN open tickets of $TENANTS tenants in 16 partitions; SQLite; dedupe_window $DEDUPE_WINDOW"
printf '%-12s %-14s %-22s %-22s %-14s %s\n' history "ingest (ev/s)" "ready after SIGTERM (s)" "ready after kill -9 (s)" "tail read" "snapshots (MB)"
for HISTORY in $HISTORIES; do
  RUN="$WORK/h$HISTORY"
  mkdir -p "$RUN"
  HTTP_PORT=$(free_port)
  start_nats "$RUN"
  cat >"$RUN/vigil.toml" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
partitions = 16
[store]
url = "sqlite://$RUN/vigil.db"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[engine]
snapshot_every_events = 100000
snapshot_interval = "30s"
dedupe_window = "$DEDUPE_WINDOW"
[log]
filter = "info"
TOML
  start_until_ready "$RUN/vigil.toml" "$RUN/run-0.log"
  log "history $HISTORY: publishing and applying"
  started=$(date +%s.%N)
  "$LOAD" open-tickets --tickets "$OPEN" --history "$HISTORY" --tenants "$TENANTS" |
    "$VIGIL" publish --input - --config "$RUN/vigil.toml" 2>>"$RUN/publish.log"
  wait_applied "$HISTORY"
  ingest=$(awk -v a="$started" -v b="$(date +%s.%N)" -v n="$HISTORY" 'BEGIN { printf "%d", n / (b - a) }')
  wait_open "history $HISTORY"
  stop_pid "$VIGIL_PID"
  graceful=()
  crash=()
  tails=()
  for round in $(seq 1 "$ROUNDS"); do
    start_until_ready "$RUN/vigil.toml" "$RUN/run-$round-term.log"
    graceful+=("$READY_SECS")
    grep -q "partition restored from its snapshot" "$RUN/run-$round-term.log" ||
      die "round $round: nothing restored from a snapshot (see $RUN/run-$round-term.log)"
    wait_open "round $round, after SIGTERM"
    # A tail after the last snapshot, then a crash; ready again means the tail is applied
    # (readiness waits for the stream's end as it was at start).
    "$LOAD" open-tickets --tickets "$OPEN" --history "$(( OPEN + TAIL ))" --tenants "$TENANTS" |
      tail -n "$TAIL" | sed "s/\"a-/\"r$round-/" |
      "$VIGIL" publish --input - --config "$RUN/vigil.toml" 2>>"$RUN/publish.log"
    stop_pid "$VIGIL_PID" KILL
    start_until_ready "$RUN/vigil.toml" "$RUN/run-$round-kill.log"
    crash+=("$READY_SECS")
    tails+=("$(metric vigil_recovery_tail_events)")
    wait_open "round $round, after kill -9"
    stop_pid "$VIGIL_PID"
  done
  mb=$(sqlite3 "$RUN/vigil.db" 'SELECT coalesce(sum(length(state)), 0) / 1e6 FROM partition_snapshots' 2>/dev/null || echo '?')
  range() { printf '%s\n' "$@" | sort -n | awk 'NR==1{a=$1} {b=$1} END{printf "%s–%s", a, b}'; }
  printf '%-12s %-14s %-22s %-22s %-14s %s\n' "$HISTORY" "$ingest" "$(range "${graceful[@]}")" "$(range "${crash[@]}")" "$(range "${tails[@]}")" "$mb"
  stop_pid "$NATS_PID"
  rm -rf "$RUN/js"
done
