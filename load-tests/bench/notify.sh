#!/usr/bin/env bash
# Notification storm: 25,000 overdue CRITICAL tickets of 1,000 tenants raise 100,000 alerts at
# once (response and resolution, warning and breach), in front of a calm backlog of 2,000,000
# events that raise none. Each run gets a fresh nats-server and SQLite store; the workload is
# published before `vigil run` starts, so the service meets a backlog.
#   baseline: no [notify] routes (the notifier is off);
#   storm:    one route taking every alert to one contact by SMS (CHANNELS=sms,webhook adds the
#             webhook), both to `vigil-load sms-sink`, group_wait 5s, rate limits raised out
#             of the way, so that only grouping folds notifications into messages;
#   capacity: each stage of the storm alone (the calm backlog left out): the alert pipeline
#             (engine -> store -> JetStream), the intake (JetStream -> outbox, with the alerts
#             already waiting), and the dispatch (outbox -> sink, with every row already due
#             and no group_interval, so that it shows the machinery's pace, not grouping's).
# Reports, side by side: the engine's ingest rate (first to last event, from /metrics) and the
# alert publication rate; for the storm the outbox (rows written, settled per second from the
# first to the last settled, sent per second), the messages the sink received (notifications
# per message), and the delivery latency; then the capacity of each stage. Warnings of a ticket
# whose breach fires are inhibited by design: they settle as `cancelled`, not sent.
# Usage: load-tests/bench/notify.sh
#   Environment (defaults): TENANTS=1000 STORM_TICKETS=25000 CALM_EVENTS=2000000 CHANNELS=sms
#   GROUP_WAIT=5s GROUP_INTERVAL=5s BATCH=500 CONCURRENCY=64 ROUNDS=1 CAPACITY=1
#   CAPACITY_GROUP_INTERVAL=0s (its dispatch stage) DRAIN_TIMEOUT=900 (seconds); REPORTS=true
#   (`[reports] enabled`: false measures the service without keeping ticket facts).
#   KEEP=1 keeps the temp directory (stores, logs, figures); PERF=1 (with KEEP=1) records a CPU
#   profile of each `vigil run` into <dir>/perf*.data; CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server
command -v sqlite3 >/dev/null || apt_install sqlite3

TENANTS=${TENANTS:-1000}
STORM_TICKETS=${STORM_TICKETS:-25000}
CALM_EVENTS=${CALM_EVENTS:-2000000}
CHANNELS=${CHANNELS:-sms}
GROUP_WAIT=${GROUP_WAIT:-5s}
GROUP_INTERVAL=${GROUP_INTERVAL:-5s}
BATCH=${BATCH:-500}
CONCURRENCY=${CONCURRENCY:-64}
ROUNDS=${ROUNDS:-1}
CAPACITY=${CAPACITY:-1}
REPORTS=${REPORTS:-true}
CAPACITY_GROUP_INTERVAL=${CAPACITY_GROUP_INTERVAL:-0s}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}

. "$ROOT/load-tests/bench/build.sh"

WORK=$(mktemp -d /tmp/vigil-notify-bench.XXXXXX)
PIDS=()
. "$ROOT/load-tests/bench/processes.sh"

STORM_ALERTS=$((STORM_TICKETS * 4))
CHANNEL_COUNT=$(tr ',' '\n' <<<"$CHANNELS" | grep -c .)
EXPECTED_ROWS=$((STORM_ALERTS * CHANNEL_COUNT))
CHANNEL_LIST=$(tr ',' '\n' <<<"$CHANNELS" | sed 's/.*/"&"/' | paste -sd, -)
export VIGIL_BENCH_WEBHOOK_SECRET=storm-bench

# Processes of the current run (one at a time).
NATS_PORT= NATS_PID= SINK_PORT= SINK_PID= HTTP_PORT= VIGIL_PID= PERF_PID=
start_sink() { # dir
  SINK_PORT=$(free_port)
  "$LOAD" sms-sink --listen "127.0.0.1:$SINK_PORT" >"$1/sink.figures" 2>"$1/sink.log" &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  wait_port "$SINK_PORT"
}
publish() { # dir storm_tickets calm_events: appends the figures
  "$LOAD" storm --nats "nats://127.0.0.1:$NATS_PORT" --tenants "$TENANTS" \
    --storm-tickets "$2" --calm-events "$3" >>"$1/figures" 2>>"$1/storm.log"
}
write_config() { # file dir [group_wait [group_interval]]: with [notify] when a group_wait is given
  cat >"$1" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
partitions = 16
[store]
url = "sqlite://$2/vigil.db"
[http]
listen = "127.0.0.1:$HTTP_PORT"
rate_limit_per_ip = 0
rate_limit_per_tenant = 0
[log]
filter = "warn"
[reports]
enabled = $REPORTS
TOML
  [ -n "${3:-}" ] || return 0
  cat >>"$1" <<TOML
[notify]
public_url = "http://127.0.0.1:$HTTP_PORT"
[notify.sms]
url = "http://127.0.0.1:$SINK_PORT/sms"
[notify.webhook]
url = "http://127.0.0.1:$SINK_PORT/webhook"
secret_env = "VIGIL_BENCH_WEBHOOK_SECRET"
# Out of the way (GCRA periods stay >= 1 ms): only grouping folds notifications.
[notify.limits]
sms = { per_minute = 100000, per_hour = 7000000 }
email = { per_minute = 100000, per_hour = 7000000 }
webhook = { per_minute = 100000, per_hour = 7000000 }
[notify.delivery]
batch = $BATCH
concurrency = $CONCURRENCY
[[notify.contacts]]
id = "oncall"
phone = "+8613800000001"
email = "oncall@example.com"
[[notify.policies]]
id = "storm"
steps = [{ notify = ["contact:oncall"], channels = [$CHANNEL_LIST], wait = "1h" }]
[[notify.routes]]
policy = "storm"
group_wait = "$3"
group_interval = "${4:-$GROUP_INTERVAL}"
TOML
}
start_vigil() { # config log [perf file]
  "$VIGIL" run --config "$1" >"$2" 2>&1 &
  VIGIL_PID=$!
  PIDS+=("$VIGIL_PID")
  PERF_PID=
  if [ "${PERF:-0}" = 1 ] && [ -n "${3:-}" ]; then
    perf record -q -e cpu-clock -F 499 -g -p "$VIGIL_PID" -o "$3" >/dev/null 2>&1 &
    PERF_PID=$!
    PIDS+=("$PERF_PID")
  fi
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -n 20 "$2" >&2; echo "vigil run did not start" >&2; return 1
}
stop_vigil() {
  if [ -n "$PERF_PID" ]; then stop_pid "$PERF_PID" INT; fi
  stop_pid "$VIGIL_PID"
}
wait_outbox() { # db name: until every expected row is written and none is pending
  local rows=0 pending=1 waited=0
  while [ "$waited" -lt "$DRAIN_TIMEOUT" ]; do
    read -r rows pending < <(sqlite3 -separator ' ' "$1" \
      "SELECT count(*), coalesce(sum(state = 'pending'), 0) FROM notifications" 2>/dev/null || echo "0 1")
    [ "$rows" -ge "$EXPECTED_ROWS" ] && [ "$pending" = 0 ] && return 0
    [ $((waited % 10)) = 0 ] && log "$2: $rows rows, $pending pending"
    sleep 1; waited=$((waited + 1))
  done
  log "$2: NOT drained after ${DRAIN_TIMEOUT}s: $rows rows, $pending pending"
}
wait_rows() { # db: until every expected row is written
  for _ in $(seq 1 "$DRAIN_TIMEOUT"); do
    [ "$(sqlite3 "$1" "SELECT count(*) FROM notifications" 2>/dev/null || echo 0)" -ge "$EXPECTED_ROWS" ] && return 0
    sleep 0.5
  done
  log "not every notification was written after ${DRAIN_TIMEOUT}s"
}
outbox_figures() { # db: the outbox's counts and first/last instants, as figures
  sqlite3 -separator '=' "$1" <<'SQL'
WITH s AS (SELECT * FROM notifications WHERE state <> 'pending')
SELECT 'outbox_rows', count(*) FROM notifications
UNION ALL SELECT 'outbox_sent', count(*) FROM notifications WHERE state = 'sent'
UNION ALL SELECT 'outbox_cancelled', count(*) FROM notifications WHERE state = 'cancelled'
UNION ALL SELECT 'outbox_failed', count(*) FROM notifications WHERE state = 'failed'
UNION ALL SELECT 'outbox_pending', count(*) FROM notifications WHERE state = 'pending'
UNION ALL SELECT 'outbox_messages', count(DISTINCT message_id) FROM notifications WHERE state = 'sent'
UNION ALL SELECT 'intake_first_ms', min(created_at) FROM notifications
UNION ALL SELECT 'intake_last_ms', max(created_at) FROM notifications
UNION ALL SELECT 'settled_first_ms', min(updated_at) FROM s
UNION ALL SELECT 'settled_last_ms', max(updated_at) FROM s
UNION ALL SELECT 'sent_first_ms', min(sent_at) FROM notifications WHERE state = 'sent'
UNION ALL SELECT 'sent_last_ms', max(sent_at) FROM notifications WHERE state = 'sent';
SELECT 'delivery_p50_ms', ms FROM (SELECT sent_at - created_at AS ms FROM notifications WHERE state = 'sent' ORDER BY ms)
  LIMIT 1 OFFSET (SELECT count(*) / 2 FROM notifications WHERE state = 'sent');
SELECT 'delivery_p99_ms', ms FROM (SELECT sent_at - created_at AS ms FROM notifications WHERE state = 'sent' ORDER BY ms)
  LIMIT 1 OFFSET (SELECT count(*) * 99 / 100 FROM notifications WHERE state = 'sent');
SQL
}
sink_figures() { # dir: stops the sink, which prints its figures (sink_*=…) as it exits
  stop_pid "$SINK_PID"
  cat "$1/sink.figures"
}

# run_once NAME MODE: baseline or storm, with a fresh nats-server and store; figures into
# $WORK/NAME/figures.
run_once() {
  local name=$1 mode=$2
  local dir="$WORK/$name"
  mkdir -p "$dir"
  start_nats "$dir"
  HTTP_PORT=$(free_port)
  log "$name: publishing the workload"
  publish "$dir" "$STORM_TICKETS" "$CALM_EVENTS"
  local events
  events=$(fig "$dir/figures" events_published)
  SINK_PID=
  if [ "$mode" = storm ]; then
    start_sink "$dir"
    write_config "$dir/vigil.toml" "$dir" "$GROUP_WAIT"
  else
    write_config "$dir/vigil.toml" "$dir"
  fi
  log "$name: vigil run ($events events, $STORM_ALERTS storm alerts)"
  start_vigil "$dir/vigil.toml" "$dir/vigil.log" "$dir/perf.data"
  "$LOAD" ingest-watch --addr "127.0.0.1:$HTTP_PORT" --events "$events" --alerts "$STORM_ALERTS" \
    >>"$dir/figures" 2>>"$dir/watch.log" || { tail -n 20 "$dir/vigil.log" >&2; return 1; }
  echo "vigil_cpu_at_ingest_end=$(cpu_seconds "$VIGIL_PID")" >>"$dir/figures"
  if [ "$mode" = storm ]; then
    log "$name: waiting for the outbox to drain ($EXPECTED_ROWS notifications)"
    wait_outbox "$dir/vigil.db" "$name"
    sink_figures "$dir" >>"$dir/figures"
    outbox_figures "$dir/vigil.db" >>"$dir/figures"
    curl -s "http://127.0.0.1:$HTTP_PORT/metrics" >"$dir/metrics.txt"
    echo "rate_limited=$(awk '/^vigil_notifications_total\{.*result="rate_limited"/{s+=$2} END{print s+0}' "$dir/metrics.txt")" >>"$dir/figures"
  fi
  echo "vigil_cpu_seconds=$(cpu_seconds "$VIGIL_PID")" >>"$dir/figures"
  echo "nats_cpu_seconds=$(cpu_seconds "$NATS_PID")" >>"$dir/figures"
  stop_vigil
  if [ -n "$SINK_PID" ]; then stop_pid "$SINK_PID"; fi
  stop_pid "$NATS_PID"
  rm -rf "$dir/js"
}

# capacity: the storm's stages one at a time, against one nats-server and store.
capacity() {
  local dir="$WORK/capacity"
  mkdir -p "$dir"
  start_nats "$dir"
  start_sink "$dir"
  HTTP_PORT=$(free_port)
  publish "$dir" 0 0 # the streams, nothing in them yet
  write_config "$dir/plain.toml" "$dir"
  write_config "$dir/hold.toml" "$dir" 24h # intake only: nothing is due for a day
  # No group_interval: the machinery's own pace, not grouping's waits.
  write_config "$dir/send.toml" "$dir" "$GROUP_WAIT" "$CAPACITY_GROUP_INTERVAL"
  log "capacity: the notifier's durable consumer, before any alert"
  start_vigil "$dir/hold.toml" "$dir/vigil-0.log"
  stop_vigil
  log "capacity: the alert pipeline alone (engine -> store -> JetStream, notifier off)"
  publish "$dir" "$STORM_TICKETS" 0
  start_vigil "$dir/plain.toml" "$dir/vigil-1.log" "$dir/perf-alerts.data"
  "$LOAD" ingest-watch --addr "127.0.0.1:$HTTP_PORT" --events "$STORM_TICKETS" --alerts "$STORM_ALERTS" \
    >>"$dir/figures" 2>>"$dir/watch.log"
  echo "alerts_cpu_seconds=$(cpu_seconds "$VIGIL_PID")" >>"$dir/figures"
  stop_vigil
  # A restarted engine replays the events stream: emptied, so the stages below run alone.
  "$LOAD" storm --nats "nats://127.0.0.1:$NATS_PORT" --storm-tickets 0 --calm-events 0 --purge-events \
    >/dev/null 2>>"$dir/storm.log"
  log "capacity: the intake alone ($STORM_ALERTS alert changes waiting)"
  start_vigil "$dir/hold.toml" "$dir/vigil-2.log" "$dir/perf-intake.data"
  wait_rows "$dir/vigil.db"
  echo "intake_cpu_seconds=$(cpu_seconds "$VIGIL_PID")" >>"$dir/figures"
  stop_vigil
  sqlite3 "$dir/vigil.db" >>"$dir/figures" <<'SQL'
SELECT 'intake_ms=' || (max(created_at) - min(created_at)) FROM notifications;
-- Every row due, in the order written.
UPDATE notifications SET due_at = created_at - 3600000;
SQL
  log "capacity: the dispatch alone (every notification due)"
  start_vigil "$dir/send.toml" "$dir/vigil-3.log" "$dir/perf-dispatch.data"
  wait_outbox "$dir/vigil.db" capacity
  echo "dispatch_cpu_seconds=$(cpu_seconds "$VIGIL_PID")" >>"$dir/figures"
  stop_vigil
  sink_figures "$dir" >>"$dir/figures"
  outbox_figures "$dir/vigil.db" >>"$dir/figures"
  stop_pid "$SINK_PID"
  stop_pid "$NATS_PID"
  rm -rf "$dir/js"
}

for round in $(seq 1 "$ROUNDS"); do
  run_once "baseline-$round" baseline
  run_once "storm-$round" storm
done
if [ "$CAPACITY" = 1 ]; then capacity; fi

echo "commit $COMMIT; $(nproc) CPUs; $TENANTS tenants, $STORM_TICKETS storm tickets ($STORM_ALERTS alerts), $CALM_EVENTS calm events; channels $CHANNELS; group_wait $GROUP_WAIT, group_interval $GROUP_INTERVAL; batch $BATCH, concurrency $CONCURRENCY; reports $REPORTS"
CAPACITY_GROUP_INTERVAL=$CAPACITY_GROUP_INTERVAL python3 - "$WORK" "$ROUNDS" "$CAPACITY" <<'PY'
import os, sys
work, rounds, capacity = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def load(p):
    d = {}
    if os.path.exists(p):
        for line in open(p):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d
num = lambda d, k: float(d.get(k) or 0)
span = lambda d, a, z: (num(d, z) - num(d, a)) / 1000
rate = lambda n, t: f"{n / t:,.0f}/s" if t > 0 else "-"
def outbox(s, first_written_to_last=True):
    rows, sent, cancelled = int(num(s, "outbox_rows")), int(num(s, "outbox_sent")), int(num(s, "outbox_cancelled"))
    failed, pending = int(num(s, "outbox_failed")), int(num(s, "outbox_pending"))
    settled = sent + cancelled + failed
    settle, sending = span(s, "settled_first_ms", "settled_last_ms"), span(s, "sent_first_ms", "sent_last_ms")
    msgs, carried = int(num(s, "sink_messages")), int(num(s, "sink_notifications"))
    print(f"  settled first->last          {settled:>9,}  in {settle:6.1f} s  {rate(settled, settle):>9}  "
          f"(sent {sent:,}, inhibited {cancelled:,}, failed {failed:,}, pending {pending:,})")
    print(f"  sent first->last             {sent:>9,}  in {sending:6.1f} s  {rate(sent, sending):>9}")
    if first_written_to_last:
        e2e = span(s, "intake_first_ms", "settled_last_ms")
        print(f"  first written->last settled  {rows:>9,}  in {e2e:6.1f} s  {rate(rows, e2e):>9}  (includes group_wait)")
    print(f"  messages at the sink         {msgs:>9,}  carrying {carried:,} notifications "
          f"({carried / msgs if msgs else 0:.1f} per message, largest {s.get('sink_largest_message', '-')}), "
          f"{s.get('sink_messages_per_sec', '-')} messages/s, repeated keys {s.get('sink_repeated_keys', '-')}")
for rnd in range(1, rounds + 1):
    b, s = load(f"{work}/baseline-{rnd}/figures"), load(f"{work}/storm-{rnd}/figures")
    print(f"== round {rnd}")
    print(f"{'':36} {'baseline (no routes)':>21} {'storm (notify on)':>18} {'ratio':>6}")
    for label, key in [("events ingested", "events_published"), ("ingest events/s", "ingest_events_per_sec"),
                       ("ingest seconds", "ingest_seconds"), ("alerts published/s", "alerts_per_sec"),
                       ("all alerts published after (s)", "alerts_seconds"),
                       ("alerts published at ingest end", "alerts_at_ingest_end"),
                       ("notifications sent at ingest end", "sent_at_ingest_end"),
                       ("vigil CPU s at ingest end", "vigil_cpu_at_ingest_end"),
                       ("vigil CPU s in all", "vigil_cpu_seconds"), ("nats-server CPU s in all", "nats_cpu_seconds")]:
        bv, sv = b.get(key, "-"), s.get(key, "-")
        ratio = f"{num(s, key) / num(b, key):.2f}" if num(b, key) else ""
        print(f"{label:36} {bv:>21} {sv:>18} {ratio:>6}")
    rows = int(num(s, "outbox_rows"))
    intake = span(s, "intake_first_ms", "intake_last_ms")
    print("storm outbox")
    print(f"  notifications written        {rows:>9,}  in {intake:6.1f} s  {rate(rows, intake):>9}  (intake)")
    outbox(s)
    print(f"  delivery written->sent       p50 {num(s, 'delivery_p50_ms') / 1000:.1f} s, "
          f"p99 {num(s, 'delivery_p99_ms') / 1000:.1f} s; rate-limited {s.get('rate_limited', '-')}")
if capacity:
    c = load(f"{work}/capacity/figures")
    alerts, rows = num(c, "storm_alerts"), int(num(c, "outbox_rows"))
    print(f"== capacity of each stage alone (storm only, no calm backlog; dispatch with group_interval {os.environ.get('CAPACITY_GROUP_INTERVAL', '0s')})")
    print(f"  alert pipeline (engine -> store -> JetStream) {int(alerts):>9,} alerts in {num(c, 'alerts_seconds'):6.1f} s  "
          f"{c.get('alerts_per_sec', '-')}/s   (vigil CPU {c.get('alerts_cpu_seconds')} s)")
    intake = num(c, "intake_ms") / 1000
    print(f"  intake (JetStream -> outbox)                  {rows:>9,} rows   in {intake:6.1f} s  "
          f"{rate(rows, intake)}   (vigil CPU {c.get('intake_cpu_seconds')} s, start-up included)")
    print(f"  dispatch (outbox -> sink)                     (vigil CPU {c.get('dispatch_cpu_seconds')} s, start-up included)")
    outbox(c, first_written_to_last=False)
PY
