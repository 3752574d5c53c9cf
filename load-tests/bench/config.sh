#!/usr/bin/env bash
# The configuration center with three instances on this machine (one nats-server, one
# PostgreSQL, all sharing the 2 cores): change → applied on every instance (flag changes one at
# a time, each PUT to the next instance in turn; baseline: /healthz round trips), then tenant
# SLA changes per second through the API over 32 connections (baseline: as many reads of the
# same keys). Prints vigil-load's figures; see load-tests/src/config_bench.rs.
# Usage: load-tests/bench/config.sh
#   Environment (defaults): INSTANCES=3 LATENCY_CHANGES=200 PACE_MS=50
#   THROUGHPUT_CHANGES=5000 CONCURRENCY=32; KEEP=1 keeps the temp directory;
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server

INSTANCES=${INSTANCES:-3}
LATENCY_CHANGES=${LATENCY_CHANGES:-200}
PACE_MS=${PACE_MS:-50}
THROUGHPUT_CHANGES=${THROUGHPUT_CHANGES:-5000}
CONCURRENCY=${CONCURRENCY:-32}

. "$ROOT/load-tests/bench/build.sh"

WORK=$(mktemp -d /tmp/vigil-config-bench.XXXXXX)
PIDS=()
. "$ROOT/load-tests/bench/processes.sh"
start_store_and_nats
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U vigil vigil_config_bench

URLS=()
for i in $(seq 1 "$INSTANCES"); do
  HTTP_PORT=$(free_port)
  cat >"$WORK/node-$i.toml" <<TOML
[nats]
url = "nats://127.0.0.1:$NATS_PORT"
[store]
url = "$PG_BASE/vigil_config_bench"
[http]
listen = "127.0.0.1:$HTTP_PORT"
rate_limit_per_ip = 100000000
rate_limit_per_tenant = 100000000
[cluster]
name = "node-$i"
[log]
filter = "warn"
TOML
  start_until_ready "$WORK/node-$i.toml" "$WORK/node-$i.log"
  URLS+=("http://127.0.0.1:$HTTP_PORT")
done
TOKEN=$("$VIGIL" token --tenant 1 --role ops --config "$WORK/node-1.toml")
echo "commit $COMMIT; $(nproc) CPUs; $INSTANCES instances, one nats-server and PostgreSQL on this machine"
"$LOAD" config --urls "$(IFS=,; echo "${URLS[*]}")" --token "$TOKEN" \
  --latency-changes "$LATENCY_CHANGES" --pace-ms "$PACE_MS" \
  --throughput-changes "$THROUGHPUT_CHANGES" --concurrency "$CONCURRENCY" | tee "$WORK/figures"
