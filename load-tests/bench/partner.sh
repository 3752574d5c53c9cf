#!/usr/bin/env bash
# Exchange partners (DESIGN.md §7): the outbox drain, the rate limit and the nightly
# reconciliation, each beside a baseline measured in the same run. Every part gets a fresh
# nats-server, SQLite store and fake partner (`vigil-load partner`, time zone UTC).
#   drain:     the partner is down (an injected outage answering 503) while `vigil run` ingests
#              tickets whose goals stop (2 records each) until its outbox holds RECORDS records;
#              then the outage is cleared and the partner's accepted PUTs are polled every
#              100 ms until it has them all. No rate limit; CONCURRENCY requests in flight.
#              Baseline: the partner's raw capacity, the same bodies PUT straight to it over
#              CONCURRENCY keep-alive connections (`vigil-load partner-put`, with reqwest, the
#              client the service uses, with vigil stopped).
#   rate:      the same for each limit in RATE (per second, burst BURST), RATE_SECONDS of
#              records each; the overall rate (first to last accepted) and the busiest 1 s
#              window of the polled samples, against the limit (the baseline).
#   reconcile: RECON_RECORDS records stopping on RECON_DATE (UTC) written to our store directly,
#              the same bodies seeded at the partner except RECON_DIFFS missing there, RECON_DIFFS
#              with another outcome, plus RECON_DIFFS only the partner has; then
#              `vigil reconcile --partner bench --date RECON_DATE --format json` is timed and its
#              counts checked. Baseline (the floor): paging the partner alone
#              (`vigil-load partner-pages`, parsed) plus reading our rows of the day alone
#              (`sqlite3`).
# Breaker open_for 1s and retry delays 100ms..1s, so that the drain starts within a second of
# the outage's end; nothing fails during the drain itself.
# Usage: load-tests/bench/partner.sh
#   Environment (defaults): RECORDS=100000 CONCURRENCY=32 RATE=1000,2000 BURST=10
#   RATE_SECONDS=30 RECON_RECORDS=1000000 RECON_DIFFS=1000 RECON_DATE=<yesterday, UTC>
#   PAGE_SIZE=10000 TENANTS=1000 PARTS=drain,rate,reconcile DRAIN_TIMEOUT=900 (seconds).
#   KEEP=1 keeps the temp directory (stores, logs, figures, samples, the partner's seed file); PERF=1 (with KEEP=1)
#   records a CPU profile of `vigil run` during each drain and of `vigil reconcile` into
#   <dir>/<part>/perf.data; CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server
command -v sqlite3 >/dev/null || apt_install sqlite3

RECORDS=${RECORDS:-100000}
CONCURRENCY=${CONCURRENCY:-32}
RATE=${RATE:-1000,2000}
BURST=${BURST:-10}
RATE_SECONDS=${RATE_SECONDS:-30}
RECON_RECORDS=${RECON_RECORDS:-1000000}
RECON_DIFFS=${RECON_DIFFS:-1000}
RECON_DATE=${RECON_DATE:-$(date -u -d yesterday +%F)}
PAGE_SIZE=${PAGE_SIZE:-10000}
TENANTS=${TENANTS:-1000}
PARTS=${PARTS:-drain,rate,reconcile}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}
PARTNER=bench

. "$ROOT/load-tests/bench/build.sh"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=$(mktemp -d /tmp/vigil-partner-bench.XXXXXX)
PIDS=()
. "$ROOT/load-tests/bench/processes.sh"
has_part() { tr ',' '\n' <<<"$PARTS" | grep -qx "$1"; }

# Processes of the current part (one at a time).
NATS_PORT= NATS_PID= PARTNER_PORT= PARTNER_PID= HTTP_PORT= VIGIL_PID=
start_partner() { # dir
  PARTNER_PORT=$(free_port)
  "$LOAD" partner --listen "127.0.0.1:$PARTNER_PORT" --timezone UTC --max-page-size "$PAGE_SIZE" \
    >"$1/partner.out" 2>"$1/partner.log" &
  PARTNER_PID=$!
  PIDS+=("$PARTNER_PID")
  wait_port "$PARTNER_PORT"
}
admin() { # method path [curl args…]: the fake partner's admin endpoints
  local method=$1 path=$2
  shift 2
  curl -sf -X "$method" "http://127.0.0.1:$PARTNER_PORT/_admin/$path" "$@"
}
partner_stat() { admin GET stats | python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
write_config() { # file dir [per_second]
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
[[partners]]
id = "$PARTNER"
base_url = "http://127.0.0.1:$PARTNER_PORT"
tenants = ["*"]
timezone = "UTC"
reconcile_at = "off"
concurrency = $CONCURRENCY
page_size = $PAGE_SIZE
retry_delay = "100ms"
max_retry_delay = "1s"
breaker = { open_for = "1s" }
TOML
  if [ -n "${3:-}" ]; then
    echo "rate_limit = { per_second = $3, burst = $BURST }" >>"$1"
  fi
}
start_vigil() { # config log
  "$VIGIL" run --config "$1" >"$2" 2>&1 &
  VIGIL_PID=$!
  PIDS+=("$VIGIL_PID")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  tail -n 20 "$2" >&2; echo "vigil run did not start" >&2; return 1
}
outbox_depth() {
  curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
    awk -v p="partner=\"$PARTNER\"" '/^vigil_partner_outbox_depth\{/ && index($0, p) {v = $2} END {print v + 0}'
}
wait_depth() { # records name: until the outbox gauge (refreshed every 5 s) shows them all
  local depth=0
  for waited in $(seq 1 "$DRAIN_TIMEOUT"); do
    depth=$(outbox_depth)
    [ "${depth%.*}" -ge "$1" ] && return 0
    [ $((waited % 10)) = 0 ] && log "$2: outbox depth $depth of $1"
    sleep 1
  done
  log "$2: the outbox holds only $depth of $1 records after ${DRAIN_TIMEOUT}s"
  return 1
}

# Clears the outage, then samples the partner's accepted PUTs every 100 ms until `target`;
# writes the samples (seconds since the clearing: before and after the stats call, and the
# accepted count) and the figures. A count was read somewhere between its two instants: rates
# use the midpoints, and the check against the limit uses the widest interval two reads can
# span, so that a late poll never shows as a window above the limit.
drain_watch() { # admin_url target samples_file per_second burst
  python3 - "$@" "$DRAIN_TIMEOUT" <<'PY'
import http.client, json, sys, time
admin, target, samples_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
limit, burst, timeout = float(sys.argv[4] or 0), float(sys.argv[5] or 0), float(sys.argv[6])
host = admin.split("//", 1)[1].split("/", 1)[0]
conn = http.client.HTTPConnection(host, timeout=10)
def call(method, path):
    conn.request(method, path)
    return json.loads(conn.getresponse().read() or b"null")
call("DELETE", "/_admin/puts")
t0 = time.monotonic()
call("DELETE", "/_admin/faults")
samples, accepted = [], 0
while accepted < target and time.monotonic() - t0 < timeout:
    before = time.monotonic() - t0
    accepted = call("GET", "/_admin/stats")["puts_accepted"]
    samples.append((before, time.monotonic() - t0, accepted))
    if accepted < target:
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t0) % 0.1))
with open(samples_path, "w") as f:
    f.writelines(f"{b:.4f} {a:.4f} {n}\n" for b, a, n in samples)
fig = lambda k, v: print(f"{k}={v}")
mid = [((b + a) / 2, n) for b, a, n in samples]
first = next(((t, n) for t, n in mid if n > 0), None)
t_end = mid[-1][0]
fig("accepted", accepted)
fig("clear_to_last_s", f"{t_end:.2f}")
fig("poll_max_call_ms", f"{max(a - b for b, a, _ in samples) * 1000:.1f}")
if first is None or accepted < target:
    sys.exit(0)
fig("first_accepted_s", f"{first[0]:.2f}")
span = t_end - first[0]
fig("drain_s", f"{span:.2f}")
fig("drain_per_sec", f"{(accepted - first[1]) / span:.0f}" if span > 0 else "0")
# The busiest window of at least 1 s between two samples; and how far the count of any window
# went past what the limit allows over the widest span the two reads can be apart.
best, worst_excess = 0.0, None
for i, (ti, ni) in enumerate(mid):
    j = next((j for j in range(i + 1, len(mid)) if mid[j][0] - ti >= 1.0), None)
    if j is None:
        break
    tj, nj = mid[j]
    best = max(best, (nj - ni) / (tj - ti))
    if limit:
        widest = samples[j][1] - samples[i][0]
        excess = (nj - ni) - (limit * widest + burst)
        worst_excess = excess if worst_excess is None else max(worst_excess, excess)
fig("max_1s_window_per_sec", f"{best:.0f}")
if worst_excess is not None:
    fig("max_excess_over_limit_and_burst", f"{worst_excess:.0f}")
PY
}

# run_drain NAME RECORDS [per_second]: one drain with a fresh nats-server, store and partner;
# figures into $WORK/NAME/figures.
run_drain() {
  local name=$1 records=$2 limit=${3:-}
  local dir="$WORK/$name" tickets=$(($2 / 2))
  mkdir -p "$dir"
  start_nats "$dir"
  start_partner "$dir"
  HTTP_PORT=$(free_port)
  admin POST faults -d '{"kind":"outage","mode":"unavailable","window":"on"}' >/dev/null
  log "$name: publishing $tickets tickets ($records records)"
  "$LOAD" storm --nats "nats://127.0.0.1:$NATS_PORT" --tenants "$TENANTS" --storm-tickets 0 \
    --calm-events $((tickets * 5)) >>"$dir/figures" 2>>"$dir/storm.log"
  local events
  events=$(fig "$dir/figures" events_published)
  write_config "$dir/vigil.toml" "$dir" "$limit"
  log "$name: vigil run, the partner down, until its outbox holds $records records"
  start_vigil "$dir/vigil.toml" "$dir/vigil.log"
  "$LOAD" ingest-watch --addr "127.0.0.1:$HTTP_PORT" --events "$events" --timeout "${DRAIN_TIMEOUT}s" \
    >>"$dir/figures" 2>>"$dir/watch.log" || { tail -n 20 "$dir/vigil.log" >&2; return 1; }
  wait_depth "$records" "$name"
  sqlite3 -separator '=' "$dir/vigil.db" >>"$dir/figures" <<'SQL'
SELECT 'queued', count(*) FROM partner_outbox;
SELECT 'queue_ms', max(queued_at) - min(queued_at) FROM partner_outbox;
SQL
  local vigil_cpu0 partner_cpu0
  vigil_cpu0=$(cpu_seconds "$VIGIL_PID")
  partner_cpu0=$(cpu_seconds "$PARTNER_PID")
  local perf_pid=
  if [ "${PERF:-0}" = 1 ]; then
    perf record -q -e cpu-clock -F 499 -g -p "$VIGIL_PID" -o "$dir/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
    PIDS+=("$perf_pid")
  fi
  log "$name: outage cleared; draining"
  drain_watch "http://127.0.0.1:$PARTNER_PORT" "$records" "$dir/samples" "$limit" "$BURST" >>"$dir/figures"
  if [ -n "$perf_pid" ]; then stop_pid "$perf_pid" INT; fi
  echo "vigil_drain_cpu_s=$(awk -v a="$vigil_cpu0" -v b="$(cpu_seconds "$VIGIL_PID")" 'BEGIN{printf "%.1f", b - a}')" >>"$dir/figures"
  echo "partner_drain_cpu_s=$(awk -v a="$partner_cpu0" -v b="$(cpu_seconds "$PARTNER_PID")" 'BEGIN{printf "%.1f", b - a}')" >>"$dir/figures"
  echo "stored=$(partner_stat stored)" >>"$dir/figures"
  sleep 1 # the last round's outcomes reach the store
  sqlite3 -separator '=' "$dir/vigil.db" >>"$dir/figures" <<'SQL'
SELECT 'delivered', count(*) FROM partner_outbox WHERE state = 'delivered';
SELECT 'delivered_ms', max(delivered_at) - min(delivered_at) FROM partner_outbox WHERE state = 'delivered';
SELECT 'pending', count(*) FROM partner_outbox WHERE state = 'pending';
SELECT 'parked', count(*) FROM partner_outbox WHERE state = 'parked';
SQL
  curl -s "http://127.0.0.1:$HTTP_PORT/metrics" >"$dir/metrics.txt"
  stop_pid "$VIGIL_PID"
  stop_pid "$NATS_PID"
  rm -rf "$dir/js"
  if [ -z "$limit" ]; then
    # The bodies Vigil sent (no mapping or masking configured), PUT again straight to the
    # emptied partner with nothing else running.
    sqlite3 "$dir/vigil.db" "SELECT record FROM sla_records" >"$dir/bodies.ndjson"
    admin DELETE records >/dev/null
    admin DELETE puts >/dev/null
    log "$name: baseline, the same $records bodies PUT straight to the partner"
    "$LOAD" partner-put --url "http://127.0.0.1:$PARTNER_PORT" --bodies "$dir/bodies.ndjson" \
      --concurrency "$CONCURRENCY" | sed 's/^/raw_/' >>"$dir/figures" 2>>"$dir/put.log"
    echo "raw_stored=$(partner_stat stored)" >>"$dir/figures"
    rm -f "$dir/bodies.ndjson"
  fi
  stop_pid "$PARTNER_PID"
}

# The reconciliation day: our records in the store, the partner's seeded with the diffs.
recon_generate() { # db partner_ndjson
  python3 - "$1" "$2" "$RECON_RECORDS" "$RECON_DIFFS" "$RECON_DATE" "$TENANTS" <<'PY'
import datetime as dt, sqlite3, sys
db, partner_path, n, diffs, day, tenants = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
stride = n // diffs
assert stride >= 2, "RECON_RECORDS must be at least twice RECON_DIFFS"
start = int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
step = 86_400_000 / n
def instant(ms):  # as vigil_streams::format_instant
    t = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{t}Z" if ms % 1000 == 0 else f"{t}.{ms % 1000:03d}Z"
priorities = [("CRITICAL", 1_800_000, 14_400_000), ("HIGH", 7_200_000, 86_400_000),
              ("MEDIUM", 28_800_000, 259_200_000), ("LOW", 86_400_000, 604_800_000)]
def record(i, ticket, goal, stopped, outcome=None):
    tenant = 1 + i % tenants
    prio, response, resolution = priorities[i % 4]
    target = response if goal == "response" else resolution
    actual = (i * 7919) % (target * 5 // 4)
    outcome = outcome or ("met" if actual <= target else "breached")
    assignee = f',"assignee_id":"eng-{i % 50}"' if i % 5 else ""
    return (f'{{"record_id":"{tenant}:{ticket}:{goal}","tenant_id":{tenant},"ticket_id":"{ticket}",'
            f'"goal":"{goal}","priority":"{prio}","service_type":"incident","target_ms":{target},'
            f'"actual_ms":{actual},"outcome":"{outcome}","policy_version":1,'
            f'"started_at":"{instant(stopped - actual)}","stopped_at":"{instant(stopped)}"{assignee}}}'), tenant, f"{tenant}:{ticket}:{goal}"
con = sqlite3.connect(db)
con.execute("PRAGMA synchronous = OFF")
rows = []
with open(partner_path, "w") as partner:
    for i in range(n):
        stopped = start + int(i * step)
        goal = "response" if i % 2 == 0 else "resolution"
        ticket = f"RECON-{i // 2:07d}"
        body, tenant, rid = record(i, ticket, goal, stopped)
        rows.append((rid, tenant, stopped, body))
        k = i % stride
        if k == 0 and i // stride < diffs:
            pass  # missing at the partner
        elif k == 1 and i // stride < diffs:
            changed = record(i, ticket, goal, stopped, "cancelled")[0]
            assert changed != body
            partner.write(changed + "\n")  # mismatched
        else:
            partner.write(body + "\n")
        if len(rows) == 50_000:
            con.executemany("INSERT INTO sla_records (record_id, tenant_id, stopped_at, record) VALUES (?, ?, ?, ?)", rows)
            rows.clear()
    for d in range(diffs):  # missing at ours
        partner.write(record(d, f"FOREIGN-{d:07d}", "resolution", start + int(d * 86_400_000 / diffs))[0] + "\n")
if rows:
    con.executemany("INSERT INTO sla_records (record_id, tenant_id, stopped_at, record) VALUES (?, ?, ?, ?)", rows)
con.commit()
print(f"recon_day_from_ms={start}")
print(f"recon_day_to_ms={start + 86_400_000}")
PY
}

run_reconcile() {
  local dir="$WORK/reconcile"
  mkdir -p "$dir"
  start_nats "$dir"
  start_partner "$dir"
  HTTP_PORT=$(free_port)
  write_config "$dir/vigil.toml" "$dir"
  log "reconcile: the store's schema (vigil run, stopped at once)"
  start_vigil "$dir/vigil.toml" "$dir/vigil.log"
  stop_pid "$VIGIL_PID"
  log "reconcile: $RECON_RECORDS records of $RECON_DATE into the store and the partner's file"
  local t0 t1
  t0=$(date +%s.%N)
  recon_generate "$dir/vigil.db" "$dir/partner.ndjson" >>"$dir/figures"
  t1=$(date +%s.%N)
  echo "generate_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')" >>"$dir/figures"
  echo "ours=$(sqlite3 "$dir/vigil.db" 'SELECT count(*) FROM sla_records')" >>"$dir/figures"
  admin POST records -H 'Content-Type: application/x-ndjson' --data-binary "@$dir/partner.ndjson" |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print("seeded=%s\ntheirs=%s" % (d["seeded"], d["stored"]))' >>"$dir/figures"
  [ "${KEEP:-0}" = 1 ] || rm -f "$dir/partner.ndjson"
  local from to
  from=$(fig "$dir/figures" recon_day_from_ms)
  to=$(fig "$dir/figures" recon_day_to_ms)
  log "reconcile: the floor, the partner's pages alone and our rows alone"
  "$LOAD" partner-pages --url "http://127.0.0.1:$PARTNER_PORT" --date "$RECON_DATE" --page-size "$PAGE_SIZE" \
    >>"$dir/figures" 2>>"$dir/pages.log"
  t0=$(date +%s.%N)
  sqlite3 "$dir/vigil.db" "SELECT record FROM sla_records WHERE stopped_at >= $from AND stopped_at < $to" |
    wc -l | sed 's/^/our_rows=/' >>"$dir/figures"
  t1=$(date +%s.%N)
  echo "our_rows_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')" >>"$dir/figures"
  admin DELETE puts >/dev/null
  if ! "$VIGIL" reconcile --help >/dev/null 2>&1; then
    log "reconcile: this vigil has no 'reconcile' command; only the floor is reported"
    echo "reconcile_missing=1" >>"$dir/figures"
  else
    log "reconcile: vigil reconcile --partner $PARTNER --date $RECON_DATE"
    local rc=0
    t0=$(date +%s.%N)
    local wrap=()
    if [ -x /usr/bin/time ]; then wrap=(/usr/bin/time -f 'reconcile_peak_rss_kb=%M' -o "$dir/time.txt"); fi
    if [ "${PERF:-0}" = 1 ]; then wrap+=(perf record -q -e cpu-clock -F 499 -g -o "$dir/perf.data" --); fi
    "${wrap[@]}" "$VIGIL" reconcile --partner "$PARTNER" --date "$RECON_DATE" --config "$dir/vigil.toml" --format json \
      >"$dir/reconcile.json" 2>"$dir/reconcile.log" || rc=$?
    t1=$(date +%s.%N)
    echo "reconcile_exit=$rc" >>"$dir/figures"
    echo "reconcile_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')" >>"$dir/figures"
    grep -s '^reconcile_peak_rss_kb=' "$dir/time.txt" >>"$dir/figures" || true
    # The run's counts (`{"run": {…counts…}, "diffs": […]}`).
    python3 - "$dir/reconcile.json" >>"$dir/figures" <<'PY' || true
import json, sys
try:
    run = json.load(open(sys.argv[1])).get("run", {})
except ValueError:
    sys.exit(0)
for k in ("matched", "missing_at_partner", "missing_at_ours", "mismatched", "repaired", "partner_records", "our_records"):
    if isinstance(run.get(k), int):
        print(f"count_{k}={run[k]}")
PY
    echo "puts_after_reconcile=$(partner_stat puts_accepted)" >>"$dir/figures"
    [ "$rc" = 0 ] || tail -n 20 "$dir/reconcile.log" >&2
  fi
  stop_pid "$PARTNER_PID"
  stop_pid "$NATS_PID"
  rm -rf "$dir/js"
}

if has_part drain; then run_drain drain "$RECORDS"; fi
if has_part rate; then
  for limit in $(tr ',' ' ' <<<"$RATE"); do
    run_drain "rate-$limit" $((limit * RATE_SECONDS / 2 * 2)) "$limit"
  done
fi
if has_part reconcile; then run_reconcile; fi

echo "commit $COMMIT; $(nproc) CPUs; $(awk '/^model name/{sub(/.*: /, ""); print; exit}' /proc/cpuinfo); load average before $LOAD_BEFORE; SQLite store; concurrency $CONCURRENCY; $TENANTS tenants"
python3 - "$WORK" "$PARTS" "$RATE" "$BURST" "$RECON_RECORDS" "$RECON_DIFFS" "$RECON_DATE" "$PAGE_SIZE" "$RATE_SECONDS" <<'PY'
import os, sys
work, parts, rates, burst = sys.argv[1], sys.argv[2].split(","), sys.argv[3], int(sys.argv[4])
recon_records, diffs, day, page_size = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8]
rate_seconds = sys.argv[9]
def load(p):
    d = {}
    if os.path.exists(p):
        for line in open(p):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d
num = lambda d, k: float(d.get(k) or 0)
per_sec = lambda n, ms: f"{n * 1000 / ms:,.0f}/s" if ms > 0 else "-"
def pipeline(d):
    queued, queue_ms = int(num(d, "queued")), num(d, "queue_ms")
    print(f"  ingest (partner down)          {int(num(d, 'events_published')):>9,} events in {num(d, 'ingest_seconds'):6.1f} s "
          f"{d.get('ingest_events_per_sec', '-'):>8}/s;  records queued {queued:,} in {queue_ms / 1000:.1f} s ({per_sec(queued, queue_ms)})")
    print(f"  delivered {int(num(d, 'delivered')):,}, pending {d.get('pending', '-')}, parked {d.get('parked', '-')}; "
          f"partner stored {d.get('stored', '-')}; first PUT {d.get('first_accepted_s', '-')} s after the outage ended; "
          f"CPU during the drain: vigil {d.get('vigil_drain_cpu_s', '-')} s, partner {d.get('partner_drain_cpu_s', '-')} s")
if "drain" in parts:
    d = load(f"{work}/drain/figures")
    n = int(num(d, "accepted"))
    drain, raw = num(d, "drain_per_sec"), num(d, "raw_puts_per_sec")
    print(f"== outbox drain: {n:,} records, no rate limit")
    print(f"{'':34} {'records':>9} {'seconds':>8} {'per second':>11} {'ratio':>6}  target")
    print(f"{'drain (first->last accepted)':34} {n:>9,} {num(d, 'drain_s'):8.2f} {drain:>11,.0f} "
          f"{drain / raw if raw else 0:6.2f}  >= 5,000/s: {'met' if drain >= 5000 else 'NOT met'}")
    dms = num(d, "delivered_ms")
    print(f"{'  store: first->last delivered_at':34} {int(num(d, 'delivered')):>9,} {dms / 1000:8.2f} "
          f"{num(d, 'delivered') * 1000 / dms if dms else 0:>11,.0f}")
    print(f"{'baseline: raw PUTs (partner-put)':34} {int(num(d, 'raw_puts')):>9,} {num(d, 'raw_put_seconds'):8.2f} "
          f"{raw:>11,.0f}   1.00  (failed {d.get('raw_puts_failed', '-')}, stored {d.get('raw_stored', '-')})")
    pipeline(d)
if "rate" in parts:
    print(f"== rate limit (burst {burst}): {rate_seconds} s worth of records at each limit")
    print(f"{'limit/s':>8} {'records':>8} {'overall/s':>10} {'ratio':>6} {'max 1 s window/s':>17} {'ratio':>6} "
          f"{'worst window vs limit+burst':>28}  within 5%, never above")
    for limit in rates.split(","):
        d = load(f"{work}/rate-{limit}/figures")
        lim = float(limit)
        overall, peak = num(d, "drain_per_sec"), num(d, "max_1s_window_per_sec")
        excess = int(num(d, "max_excess_over_limit_and_burst"))
        within = 0.95 * lim <= overall <= lim * 1.0 + burst / max(num(d, "drain_s"), 1)
        never_above = excess <= 0
        print(f"{lim:>8,.0f} {int(num(d, 'accepted')):>8,} {overall:>10,.0f} {overall / lim:6.3f} {peak:>17,.0f} {peak / lim:6.3f} "
              f"{excess:>+28,}  {'met' if within and never_above else 'NOT met'}"
              f"{'' if within else ' (overall off by more than 5%)'}{'' if never_above else ' (a window above limit+burst)'}")
        pipeline(d)
if "reconcile" in parts:
    d = load(f"{work}/reconcile/figures")
    pages_s, ours_s = num(d, "pages_seconds"), num(d, "our_rows_s")
    floor = pages_s + ours_s
    print(f"== reconciliation: {recon_records:,} records stopping on {day} (UTC), page_size {page_size}; "
          f"ours {int(num(d, 'ours')):,}, the partner's {int(num(d, 'theirs')):,} (generated in {d.get('generate_s', '-')} s)")
    print(f"  floor: partner pages alone {pages_s:6.2f} s ({int(num(d, 'pages'))} pages, {int(num(d, 'page_records')):,} records parsed)"
          f" + our rows alone {ours_s:6.2f} s ({int(num(d, 'our_rows')):,}) = {floor:6.2f} s")
    if d.get("reconcile_missing"):
        print("  vigil reconcile: not available in this build")
    else:
        r = num(d, "reconcile_s")
        print(f"  vigil reconcile {r:6.2f} s (exit {d.get('reconcile_exit')}, peak RSS {num(d, 'reconcile_peak_rss_kb') / 1024:,.0f} MB); "
              f"ratio to the floor {r / floor if floor else 0:.2f}; target < 60 s: {'met' if r < 60 and d.get('reconcile_exit') == '0' else 'NOT met'}")
        expected = {"matched": recon_records - 2 * diffs, "missing_at_partner": diffs, "missing_at_ours": diffs, "mismatched": diffs}
        shown = []
        for k, want in expected.items():
            got = d.get(f"count_{k}")
            shown.append(f"{k} {got if got is not None else '?'}" + ("" if got is not None and int(got) == want else f" (expected {want:,})"))
        print("  counts: " + ", ".join(shown) + f"; repaired {d.get('count_repaired', '-')}; PUTs at the partner during the run {d.get('puts_after_reconcile', '-')}")
PY
