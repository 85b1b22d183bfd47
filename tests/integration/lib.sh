# Shared helpers for kura's integration tests (bash, TAP output).
# Source it first thing:  . "$(dirname "$0")/lib.sh"
# Gives: a temp dir ($T) removed on exit, TAP helpers, test users,
# kuractl/kurafs wrappers for a throwaway server under $T, and mounts that
# are always unmounted, also on failure.
set -uo pipefail

KURA_TOP=${KURA_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KURA_BUILD=${KURA_BUILD:-$KURA_TOP/build/asan}
KURACTL=$KURA_BUILD/kuractl
KURAFS=$KURA_BUILD/kurafs
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}

T=$(mktemp -d /tmp/kura-it.XXXXXX)
chmod 0755 "$T"
_tap_n=0
_tap_failed=0
_cleanups=()

# ---- TAP ----
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
diag() { printf '# %s\n' "$@"; }
# check NAME CMD...: ok if CMD succeeds
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
# check_fails NAME CMD...: ok if CMD fails
check_fails() { local name=$1; shift; if "$@"; then not_ok "$name"; else ok "$name"; fi; }
# check_output NAME PATTERN CMD...: ok if CMD's stdout+stderr matches the ERE
check_output() {
  local name=$1 pattern=$2; shift 2
  local out; out=$("$@" 2>&1)
  if grep -Eq -- "$pattern" <<<"$out"; then ok "$name"; else not_ok "$name"; diag "wanted /$pattern/, got:" "$out"; fi
}
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ]; }
# Stops the script when a precondition fails (the rest would only add noise).
require() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; diag "required step failed, stopping"; done_testing; exit 1; fi; }

# ---- cleanup, also on failure and signals ----
on_exit() { _cleanups+=("$*"); }
_run_cleanups() {
  local i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1 || true; done
  rm -rf "$T"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

# ---- users ----
# make_user NAME: a local account without home, for acting as a real user.
make_user() {
  id -u "$1" >/dev/null 2>&1 || useradd -M -N -s /bin/bash "$1" >/dev/null 2>&1 || useradd -M -s /bin/bash "$1"
}
# as USER CMD...: run CMD as USER (real, effective and supplementary ids).
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"; }

# ---- a throwaway kura server under $T/srv ----
KROOT=$T/srv
KCONF=$KROOT/kura.conf
kuractl() { "$KURACTL" -c "$KCONF" "$@"; }
kura_init() { mkdir -p "$KROOT" && chmod 0755 "$KROOT" && "$KURACTL" -c "$KCONF" init --root "$KROOT" >/dev/null; }
# Dates relative to today in the server's zone (Asia/Tokyo by default).
day() { TZ=Asia/Tokyo date -d "$1 days" +%F; }

# mount_kura MOUNTPOINT [kurafs args...]: mounts in the foreground process
# in the background, waits until it serves, and unmounts on exit.
mount_kura() {
  local mnt=$1; shift
  mkdir -p "$mnt"
  KURAFS_LOG=$T/kurafs.$(basename "$mnt").log
  "$KURAFS" -c "$KCONF" -f "$@" "$mnt" >"$KURAFS_LOG" 2>&1 &
  local pid=$!
  on_exit "fusermount3 -u '$mnt' 2>/dev/null || umount -l '$mnt' 2>/dev/null; kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  local i
  for i in $(seq 1 100); do
    grep -qs " $mnt fuse.kurafs" /proc/mounts && { KURAFS_PID=$pid; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  diag "kurafs did not mount:" "$(cat "$T/kurafs.$(basename "$mnt").log")"
  return 1
}
# stop_kura MOUNTPOINT: unmounts, waits for the daemon to exit, and checks
# that it exited cleanly with no sanitizer report (leaks included).
stop_kura() {
  local mnt=$1 i
  check "unmount $mnt" fusermount3 -u "$mnt"
  for i in $(seq 1 100); do kill -0 "$KURAFS_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$KURAFS_PID" 2>/dev/null; local rc=$?
  if [ "$rc" -eq 0 ] && ! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$KURAFS_LOG"; then
    ok "kurafs exited cleanly (no sanitizer report)"
  else
    not_ok "kurafs exited cleanly (status $rc)"; diag "$(tail -n 40 "$KURAFS_LOG")"
  fi
}

# one_file_dataset ID PI FILE BYTES: dataset ID of PI (period from yesterday
# for 30 days) holding one file of random bytes, $T/ID/FILE, imported.
one_file_dataset() {
  local id=$1 pi=$2 file=$3 bytes=$4
  mkdir -p "$T/$id" && head -c "$bytes" /dev/urandom >"$T/$id/$file" && chmod -R a+rX "$T/$id" &&
    kuractl dataset add "$id" --pi "$pi" --period "$(day -1)..$(day 30)" >/dev/null &&
    kuractl dataset import "$id" --encrypt "$T/$id" >/dev/null
}
