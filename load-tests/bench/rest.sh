#!/usr/bin/env bash
# REST overview latency at ~1,000 requests/s (wrk, 16 connections each pausing 15 ms between
# requests), against a service holding 200,000 events of 100 tenants and 240 open alerts of the
# tenant asked for; /healthz under the same load is the baseline.
# Usage: load-tests/bench/rest.sh
. "$(dirname "$0")/common.sh"
command -v wrk >/dev/null || apt_install wrk
start=$(date -u -d '-6 days' +%Y-%m-%dT00:00:00Z)
"$LOAD" generate --events 200000 --tenants 100 --days 6 --start "$start" --output "$WORK/w.ndjson"
python3 - "$WORK/overdue.ndjson" <<'PY'
import datetime, json, sys
t = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=5)).strftime('%Y-%m-%dT%H:%M:%S.000Z')
with open(sys.argv[1], 'w') as f:
    for i in range(60):
        f.write(json.dumps({"schema": 1, "event_id": f"od-{i}", "event_type": "ticket.created",
                            "tenant_id": 1, "ticket_id": f"OD-{i}", "occurred_at": t,
                            "priority": "CRITICAL", "service_type": "incident", "status": "PENDING"}) + "\n")
PY
"$VIGIL" publish --input "$WORK/w.ndjson" --config "$WORK/vigil.toml"
"$VIGIL" publish --input "$WORK/overdue.ndjson" --config "$WORK/vigil.toml"
TOKEN=$("$VIGIL" token --tenant 1 --role client_user --config "$WORK/vigil.toml")
log "waiting until every event is applied and every alert published"
for _ in $(seq 1 300); do
  open=$(curl -s -H "Authorization: Bearer $TOKEN" "$BASE_URL/api/v1/alerts?state=firing&limit=1000" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["alerts"]))')
  ingested=$(curl -s "$BASE_URL/metrics" | awk '/^vigil_events_ingested_total /{print $2}')
  [ "${ingested%.*}" = "200060" ] && [ "$open" -ge 200 ] && break
  sleep 1
done
printf 'function delay()\n  return 15\nend\n' >"$WORK/pace.lua"
for path in '/api/v1/client/dashboard/overview?period=30d' '/healthz'; do
  echo "== GET $path ($(curl -s -H "Authorization: Bearer $TOKEN" "$BASE_URL$path" | wc -c) bytes)"
  wrk -t2 -c16 -d20s --latency -s "$WORK/pace.lua" -H "Authorization: Bearer $TOKEN" "$BASE_URL$path" |
    grep -E '50%|90%|99%|Requests/sec'
done
