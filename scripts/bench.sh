#!/usr/bin/env bash
# Runs kura's benchmarks (already built by `make bench`) and prints one table
# per section; the same text goes to bench/results/<date>-<short commit>.txt.
#   scripts/bench.sh [BUILD_DIR]          (default build/release)
# To add a benchmark, add a `section` line at the end: a title, then the
# command (programs under BUILD_DIR/bench/). Builds nothing itself.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${1:-build/release}
mkdir -p bench/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
results=bench/results/$(date +%F)-$commit.txt
tmp=$(mktemp bench/results/.bench.XXXXXX.tmp)
trap 'rm -f "$tmp"' EXIT
failed=0

log() { printf '%s\n' "$*" | tee -a "$tmp"; }

# section TITLE COMMAND [ARGS...]: runs one benchmark, its output indented.
section() {
  local title=$1
  shift
  log ""
  log "== $title"
  if [ ! -x "$1" ]; then
    log "   skipped: $1 is not built (run: make bench)"
    failed=1
    return
  fi
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  log "$(sed 's/^/   /' <<<"$out")"
  if [ "$rc" -ne 0 ]; then
    log "   FAILED (exit $rc)"
    failed=1
  fi
}

log "kura benchmarks — $(date -Iseconds), commit $commit, host $(uname -n)"
log "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($(nproc) cores), load: $(cut -d' ' -f1-3 /proc/loadavg)"

section "Crypt4GH decryption (engine vs libsodium)" "$build/bench/bench_c4gh"

mv "$tmp" "$results"
trap - EXIT
echo
echo "written to $results"
exit "$failed"
