#!/usr/bin/env bash
# Runs kura's tests and prints one closing line: "N passed, N failed".
#   tests/run.sh BUILD_DIR [TEST...]
# Every test is a program that prints TAP lines ("ok N - name" / "not ok N - name").
# Unit tests are BUILD_DIR/tests/test_*, fuzz corpora are replayed by
# BUILD_DIR/tests/replay_fuzz_*, integration tests are tests/integration/*.sh.
# A program that exits non-zero without reporting a failure counts as one failure.
# One that runs longer than KURA_TEST_TIMEOUT seconds (default 900; the
# longest takes about 130) is stopped (TERM: its cleanups run; KILL 60 s
# later) and fails: a defect that hangs a test must not hang the suite.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: tests/run.sh BUILD_DIR [TEST...]}" && pwd)
shift
export KURA_BUILD="$build" KURA_TOP="$top"

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  for t in "$build"/tests/test_*; do [ -x "$t" ] && tests+=("$t"); done
  for t in "$build"/tests/replay_fuzz_*; do [ -x "$t" ] && tests+=("$t"); done
  for t in "$top"/tests/integration/*.sh; do
    [ "$(basename "$t")" = lib.sh ] || tests+=("$t")
  done
fi
# What every integration test needs; stop at once, saying what to do, rather
# than fail each test alike.
stop() { echo "tests/run.sh: $*"; echo "0 passed, 1 failed"; exit 1; }
[ "$(id -u)" -eq 0 ] || stop "run the suite as root (it mounts file systems and acts as other users)"
probe=$(mktemp -d /tmp/kura-probe.XXXXXX) && chmod 0755 "$probe" && install -m 0755 /bin/true "$probe/true"
setpriv --reuid=65534 --regid=65534 --clear-groups "$probe/true" 2>/dev/null; rc=$?
rm -rf "$probe"
[ "$rc" -eq 0 ] || stop "an unprivileged user cannot run programs from /tmp (mounted noexec?); remount it with exec (mount -o remount,exec /tmp) and run again"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

limit() { timeout -k 60 "${KURA_TEST_TIMEOUT:-900}" "$@"; }
passed=0 failed=0 failures=()
logdir=$(mktemp -d /tmp/kura-test-logs.XXXXXX)
for t in "${tests[@]}"; do
  name=$(basename "$t")
  log="$logdir/$name.log"
  start=$(date +%s)
  case "$t" in
    */replay_fuzz_*) corpus="$top/tests/fuzz/corpus/${name#replay_fuzz_}"; limit "$t" "$corpus" >"$log" 2>&1 ;;
    *.sh) limit bash "$t" >"$log" 2>&1 ;;
    *) limit "$t" >"$log" 2>&1 ;;
  esac
  rc=$?
  p=$(grep -cE '^ok [0-9]+' "$log"); f=$(grep -cE '^not ok [0-9]+' "$log")
  if [ "$rc" -eq 124 ]; then
    f=$((f + 1)); echo "not ok - $name was stopped after ${KURA_TEST_TIMEOUT:-900} s" >>"$log"
  elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "not ok - $name exited with status $rc" >>"$log"
  fi
  passed=$((passed + p)); failed=$((failed + f))
  printf '%-40s %4d passed %3d failed  (%ds)\n' "$name" "$p" "$f" "$(( $(date +%s) - start ))"
  if [ "$f" -gt 0 ]; then
    failures+=("$name")
    grep -E '^not ok|^#' "$log" | head -n 40 | sed 's/^/    /'
    tail -n 30 "$log" | grep -vE '^ok ' | sed 's/^/    | /'
  fi
done
[ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]} (logs in $logdir)" || rm -rf "$logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
