# Shared set-up of the live benchmarks: a nats-server and `vigil run` (release builds) on free
# ports with a temporary store, rate limits off. Sourced by ws.sh and rest.sh. REPORTS=false
# runs the service without keeping ticket facts (`[reports] enabled = false`).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
ensure_nats_server
VIGIL="$ROOT/target/release/vigil"
LOAD="$ROOT/target/release/vigil-load"
if [ ! -x "$VIGIL" ] || [ ! -x "$LOAD" ]; then
  log "building the release binaries"
  (cd "$ROOT" && cargo build --release -p vigil -p vigil-load)
fi
WORK=$(mktemp -d /tmp/vigil-bench.XXXXXX)
# `vigil run` refuses known and short JWT secrets: a fresh one per benchmark run (also read by
# `vigil token` and `vigil-load ws`).
export VIGIL__AUTH__JWT_SECRET="${VIGIL__AUTH__JWT_SECRET:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NATS_PORT=$(free_port)
HTTP_PORT=$(free_port)
NATS_URL="nats://127.0.0.1:$NATS_PORT"
BASE_URL="http://127.0.0.1:$HTTP_PORT"
cleanup() {
  [ -n "${VIGIL_PID:-}" ] && kill -9 "$VIGIL_PID" 2>/dev/null || true
  [ -n "${NATS_PID:-}" ] && kill "$NATS_PID" 2>/dev/null || true
  # nats-server writes its store until it has exited: removing it before then fails.
  wait 2>/dev/null || true
  rm -rf "$WORK" || true
}
trap cleanup EXIT
"${NATS_SERVER_BIN:-nats-server}" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/js" >"$WORK/nats.log" 2>&1 &
NATS_PID=$!
cat >"$WORK/vigil.toml" <<TOML
[nats]
url = "$NATS_URL"
partitions = 16
[store]
url = "sqlite://$WORK/vigil.db"
[http]
listen = "127.0.0.1:$HTTP_PORT"
rate_limit_per_ip = 0
rate_limit_per_tenant = 0
max_connections = 20000
max_connections_per_ip = 20000
[ws]
max_clients = 20000
[log]
filter = "warn"
[reports]
enabled = ${REPORTS:-true}
TOML
"$VIGIL" run --config "$WORK/vigil.toml" >"$WORK/vigil.log" 2>&1 &
VIGIL_PID=$!
for _ in $(seq 1 100); do
  curl -sf "$BASE_URL/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf "$BASE_URL/readyz" >/dev/null || { cat "$WORK/vigil.log" >&2; echo "vigil run did not become ready" >&2; exit 1; }
