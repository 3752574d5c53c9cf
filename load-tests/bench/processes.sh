# Process and figure helpers shared by the benches. Source after setting WORK
# (the temporary directory) and PIDS=() (processes to stop on exit), and after defining `log`.
stop_pid() { # pid [signal]: stops one process this script started, waiting up to 20 s
  local pid=$1
  kill -"${2:-TERM}" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
cleanup() { # stops every process in PIDS; copies the figures to FIGURES_TO (all.sh sets it); removes WORK unless KEEP=1
  for pid in "${PIDS[@]}"; do stop_pid "$pid" KILL; done
  if [ -n "${FIGURES_TO:-}" ]; then
    mkdir -p "$FIGURES_TO"
    (cd "$WORK" && find . -name figures -exec cp --parents {} "$FIGURES_TO/" \;) || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
# `vigil run` refuses known and short JWT secrets: a fresh one per benchmark run (also read by
# `vigil token` and `vigil-load ws`).
export VIGIL__AUTH__JWT_SECRET="${VIGIL__AUTH__JWT_SECRET:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on port $1" >&2; return 1
}
cpu_seconds() { # utime + stime of a live process, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}
fig() { sed -n "s/^$2=//p" "$1" | tail -n 1; }
# Starts a nats-server with JetStream storing into DIR/js, logging to DIR/nats.log (sets
# NATS_PORT and NATS_PID; stopped on exit with the rest).
start_nats() { # dir
  NATS_PORT=$(free_port)
  "${NATS_SERVER_BIN:-nats-server}" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$1/js" >"$1/nats.log" 2>&1 &
  NATS_PID=$!
  PIDS+=("$NATS_PID")
  wait_port "$NATS_PORT"
}
# Starts `vigil run --config $1` logging to $2 (its pid in VIGIL_PID and PIDS); the seconds
# until /readyz on HTTP_PORT answers 200 go into READY_SECS. Gives up after 20 minutes.
start_until_ready() { # config log
  local started now
  started=$(date +%s.%N)
  "$VIGIL" run --config "$1" >>"$2" 2>&1 &
  VIGIL_PID=$!
  PIDS+=("$VIGIL_PID")
  for _ in $(seq 1 24000); do
    if curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then
      now=$(date +%s.%N)
      READY_SECS=$(awk -v a="$started" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
      return 0
    fi
    kill -0 "$VIGIL_PID" 2>/dev/null || { tail -20 "$2" >&2; die "vigil run exited"; }
    sleep 0.05
  done
  die "vigil run was not ready within 20 minutes"
}
# Starts PostgreSQL (sets PG_BASE, PG_PORT, PG_BIN; stopped on exit with the rest) and a
# nats-server with JetStream in WORK (sets NATS_PORT) for a bench that runs instances itself.
start_store_and_nats() {
  unset VIGIL_TEST_POSTGRES_URL
  start_postgres
  [ -n "${VIGIL_TEST_POSTGRES_URL:-}" ] || die "no PostgreSQL server for the store"
  trap 'cleanup; stop_postgres' EXIT
  PG_BASE=${VIGIL_TEST_POSTGRES_URL%/*}
  PG_PORT=${PG_BASE##*:}
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  start_nats "$WORK"
}
