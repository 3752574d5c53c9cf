#!/usr/bin/env bash
# Where `vigil replay` spends its time: perf samples (cpu-clock, 1,999 Hz) of a replay of the
# benchmark workload (`vigil-load generate`, 1,000,000 events), and the frames with the most
# time of their own. With CALL_GRAPH=dwarf the report shows each frame's callers too (larger
# samples). Installs Debian's linux-perf when perf is missing.
# Usage: load-tests/bench/profile.sh
#   Environment (defaults): EVENTS=1000000, TOP=25, CALL_GRAPH= (none) or dwarf;
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
EVENTS=${EVENTS:-1000000}
TOP=${TOP:-25}
CALL_GRAPH=${CALL_GRAPH:-}
if ! command -v perf >/dev/null 2>&1; then
  log "installing linux-perf (apt-get) for perf record"
  apt_install linux-perf || die "perf is missing and linux-perf could not be installed"
fi
. "$ROOT/load-tests/bench/build.sh"
WORK=$(mktemp -d /tmp/vigil-profile.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$LOAD" generate --events "$EVENTS" --output "$WORK/events.ndjson"
graph=()
[ "$CALL_GRAPH" = dwarf ] && graph=(--call-graph dwarf,16384)
perf record -q -F 1999 "${graph[@]}" -o "$WORK/perf.data" -- \
  "$VIGIL" replay --input "$WORK/events.ndjson" --output /dev/null 2>"$WORK/summary"
echo "commit $COMMIT; $(nproc) CPUs; vigil replay of $EVENTS events: $(tail -n 1 "$WORK/summary")"
echo "frames with the most time of their own (% of samples):"
perf report -i "$WORK/perf.data" --no-children --stdio --sort symbol 2>/dev/null |
  grep -E '^ +[0-9.]+%' | head -n "$TOP" | awk '{ $2=""; sub(/ +- +- *$/, ""); print }'
