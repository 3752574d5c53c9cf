# The release binaries the benches run, built first: sets TARGET, VIGIL, LOAD and COMMIT (with
# `+dirty` when the engine's sources differ from it).
# Source after ROOT is set and scripts/lib.sh is sourced; CARGO_TARGET_DIR is honoured.
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VIGIL="$TARGET/release/vigil"
LOAD="$TARGET/release/vigil-load"
log "building the release binaries into $TARGET"
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release -q -p vigil -p vigil-load)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src schema engine streams migrations 2>/dev/null || COMMIT="$COMMIT+dirty"
