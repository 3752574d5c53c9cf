#!/usr/bin/env bash
# The full fault suite: tests/faults.rs with every fault repeated ROUNDS times (kill -9 twice
# as often), in release mode. Two set-ups: one nats-server with SQLite, and cluster mode (a
# JetStream cluster of three nats-servers with R3 streams, PostgreSQL); both with Redis, the
# SMS/webhook gateway and an SMTP server. Prints each set-up's table of faults, repetitions,
# alerts and pages expected/delivered, the longest /readyz lapse and the longest recovery;
# scripts/test runs the same suite once per fault.
# Usage: load-tests/faults.sh
#   Environment (defaults): ROUNDS=5; CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server
ensure_redis_server
ROUNDS=${ROUNDS:-5}
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
OUT=$(mktemp /tmp/vigil-faults.XXXXXX)
KEEP=""
trap '[ -n "$KEEP" ] || rm -f "$OUT"' EXIT
log "fault suite, $ROUNDS rounds per fault (commit $COMMIT)"
(cd "$ROOT" && VIGIL_FAULTS_ROUNDS="$ROUNDS" cargo nextest run --release -p vigil --test faults \
  --no-capture --no-fail-fast --test-threads 1) >"$OUT" 2>&1 ||
  {
    KEEP=1
    grep -A20 'panicked at' "$OUT" >&2 || tail -60 "$OUT" >&2
    die "the fault suite failed; its whole output is in $OUT"
  }
echo "commit $COMMIT; $(nproc) CPUs; 2 instances; $ROUNDS rounds per fault"
grep -E '^(\||One nats-server|Cluster mode)' "$OUT"
