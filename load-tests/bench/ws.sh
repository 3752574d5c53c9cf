#!/usr/bin/env bash
# WebSocket push latency: CLIENTS clients over 100 tenants while 10,000 events/s flow for 30 s,
# 0.5 % of them tickets that breach at once (each gives 4 alerts). Runs the baseline (100
# clients) and the target (10,000 clients) against fresh services, one after the other.
# Usage: load-tests/bench/ws.sh [extra vigil-load ws arguments]
for clients in 100 10000; do
  (
    . "$(dirname "$0")/common.sh"
    log "vigil-load ws with $clients clients"
    "$LOAD" ws --url "$BASE_URL" --nats "$NATS_URL" --clients "$clients" --tenants 100 \
      --rate 10000 --duration 30s --breach-share 0.005 "$@"
  )
done
