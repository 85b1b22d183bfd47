# Shared helpers for kura's integration tests (bash, TAP output).
# Source it first thing:  . "$(dirname "$0")/lib.sh"
# Gives: a temp dir ($T) removed on exit, TAP helpers, test users,
# kuractl/kurafs wrappers for a throwaway server under $T, and mounts that
# are always unmounted, also on failure.
set -uo pipefail

KURA_TOP=${KURA_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KURA_BUILD=${KURA_BUILD:-$KURA_TOP/build/asan}
KURAFS=$KURA_BUILD/kurafs
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}

T=$(mktemp -d /tmp/kura-it.XXXXXX)
chmod 0755 "$T"
# Test users inherit the working directory; the checkout may be one they
# cannot enter (root's 0700 home), $T is one they can.
cd "$T" || exit 1
_tap_n=0
_tap_failed=0
_cleanups=()

# ---- TAP ----
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"; }
diag() { printf '# %s\n' "$@"; }
# check NAME CMD...: ok if CMD succeeds
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
# check_fails NAME CMD...: ok if CMD fails as a refusal does: exit 1..125 (a
# command killed by a signal, or not found, has not been refused)
check_fails() {
  local name=$1 rc; shift
  "$@"; rc=$?
  if [ "$rc" -ge 1 ] && [ "$rc" -le 125 ]; then ok "$name"; else not_ok "$name"; diag "wanted exit 1..125, got $rc"; fi
}
# check_output NAME PATTERN CMD...: ok if CMD succeeds (exit 0) and its
# stdout+stderr matches the ERE
check_output() { _check_output success "$@"; }
# check_output_fails NAME PATTERN CMD...: ok if CMD fails as a refusal does
# (exit 1..125, no sanitizer report: a crash is not a refusal) and its
# stdout+stderr matches the ERE
check_output_fails() { _check_output failure "$@"; }
_check_output() {
  local want=$1 name=$2 pattern=$3; shift 3
  local out rc got=success; out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne 0 ]; then got=failure; fi
  if [ "$rc" -gt 125 ] || grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' <<<"$out"; then got=crash; fi
  if [ "$got" = "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then ok "$name"; else
    not_ok "$name"; diag "wanted $want and /$pattern/, got $got (exit $rc):" "$out"; fi
}
# A step whose output is not checked; its TAP line still reaches the log.
quietly() { "$@" >/dev/null; }
done_testing() { echo "1..$_tap_n"; [ "$_tap_failed" -eq 0 ]; }
# Stops the script when a precondition fails (the rest would only add noise).
require() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; diag "required step failed, stopping"; done_testing; exit 1; fi; }

# wait_for SECONDS CMD...: runs CMD every 50 ms until it succeeds; fails
# after SECONDS.
wait_for() {
  local limit=$1 t0=$EPOCHREALTIME; shift
  until "$@" >/dev/null 2>&1; do
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v s="$limit" 'BEGIN {exit !(b - a > s)}' && return 1
    sleep 0.05
  done
}

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
# make_user NAME: a local account without home, for acting as a real user;
# removed on exit (with any process it left) if this script created it.
make_user() {
  id -u "$1" >/dev/null 2>&1 && return 0
  useradd -M -N -s /bin/bash "$1" >/dev/null 2>&1 || useradd -M -s /bin/bash "$1" || return 1
  on_exit "pkill -KILL -u '$1'; userdel '$1'"
}
# make_group NAME: a local group, removed on exit if this script created it.
make_group() {
  getent group "$1" >/dev/null && return 0
  groupadd "$1" && on_exit "groupdel '$1'"
}
# ---- programs test users run ----
# A checkout inside a directory only root may enter (root's 0700 home) is out
# of the test users' reach, so they run copies in $T, wherever it lives.
KURA_USER_BIN=$T/bin
mkdir -p "$KURA_USER_BIN"
install -m 0755 "$KURA_BUILD/kuractl" "$KURA_USER_BIN/"
for _f in "$KURA_BUILD/tests/randread" "$KURA_BUILD/tests/soakread" "$KURA_TOP"/tests/helpers/*.py "$KURA_TOP"/tests/helpers/*.java "$KURA_TOP"/tests/helpers/*.R; do
  [ -f "$_f" ] && install -m 0755 "$_f" "$KURA_USER_BIN/"
done
KURACTL=$KURA_USER_BIN/kuractl

# as USER CMD...: run CMD as USER (real, effective and supplementary ids).
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"; }
# lists_nothing USER DIR: ls as USER succeeds and shows nothing (an error is not "nothing")
lists_nothing() { local out; out=$(as "$1" ls -A "$2") && [ -z "$out" ]; }

# ---- a throwaway kura server under $T/srv ----
KROOT=$T/srv
KCONF=$KROOT/kura.conf
kuractl() { "$KURACTL" -c "$KCONF" "$@"; }
kura_init() { mkdir -p "$KROOT" && chmod 0755 "$KROOT" && "$KURACTL" -c "$KCONF" init --root "$KROOT" >/dev/null; }
# record_notices FILE (after kura_init): notify_command appends each
# notification's KURA_* environment, then a line "---", to FILE.
record_notices() {
  printf '#!/bin/sh\nenv | grep "^KURA_" | sort >>"%s"\necho --- >>"%s"\n' "$1" "$1" >"$T/notify.sh"
  chmod 0755 "$T/notify.sh"
  sed -i "s|^notify_command =.*|notify_command = $T/notify.sh|" "$KCONF"
}
# notice_lines FILE [SH] (after kura_init): notify_command appends a line
# "EVENT DATASET USERS" for each notification to FILE, then runs the shell
# text SH (which sees $KURA_EVENT and the rest).
notice_lines() {
  printf '#!/bin/sh\necho "$KURA_EVENT $KURA_DATASET $KURA_USERS" >>"%s"\n%s\n' "$1" "${2:-}" >"$T/notify.sh"
  chmod 0755 "$T/notify.sh"
  sed -i "s|^notify_command =.*|notify_command = $T/notify.sh|" "$KCONF"
}
# Dates relative to today in the server's zone (Asia/Tokyo by default).
day() { TZ=Asia/Tokyo date -d "$1 days" +%F; }
# A close's record reaches the log a little after close(2) returns: FUSE
# releases a handle in the background, and the daemon's close writer lets
# a close wait up to 10 ms for a batch of opens to take it along (design.md
# section 8). closes_logged N PATTERN [LOG] is true once LOG (default the
# server's audit log) holds at least N close records matching PATTERN (for
# wait_for); audit_quiet [LOG] waits (bounded, 5 s) until LOG has not grown
# for 200 ms, for a test that reads the log when all its handles closed.
closes_logged() { [ "$(grep '"event":"close"' "${3:-$KROOT/log/audit.jsonl}" | grep -c -- "$2")" -ge "$1" ]; }
audit_quiet() {
  local f=${1:-$KROOT/log/audit.jsonl} size now i
  size=$(stat -c %s "$f") || return 1
  for i in $(seq 1 25); do
    sleep 0.2
    now=$(stat -c %s "$f") || return 1
    [ "$now" = "$size" ] && return 0
    size=$now
  done
  return 1
}
# Windows bounded by the records' own times (the clock waited on, never
# slept on): last_second [LOG] is the Unix second of the log's last record
# (default the server's audit log) once the log is quiet, next_second S
# waits (bounded) until the clock is past second S, stamp S is S as RFC 3339
# in the server's zone.
last_second() { audit_quiet "$@"; tail -1 "${1:-$KROOT/log/audit.jsonl}" | python3 -c 'import sys, json, datetime
print(int(datetime.datetime.fromisoformat(json.loads(sys.stdin.read())["time"]).timestamp()))'; }
next_second() { local i; for i in $(seq 1 40); do [ "$(date +%s)" -gt "$1" ] && return 0; sleep 0.05; done; return 1; }
stamp() { TZ=Asia/Tokyo date -d "@$1" +%Y-%m-%dT%H:%M:%S%:z; }

# file_keys_kept CMD...: how many files' opened keys a daemon keeps in
# memory (keycache.h), as its status (CMD: kuractl status, nodectl I status) says
file_keys_kept() { "$@" 2>/dev/null | sed -n 's/^file keys kept in memory: \([0-9]*\) .*/\1/p'; }

# ---- faults ----
# ms_of CMD...: runs CMD, prints its run time in ms
ms_of() { local s=$EPOCHREALTIME; "$@" >/dev/null 2>&1; awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}'; }
# kill_within MS CMD...: starts CMD, kills it -9 at a random moment in [0, 1.3 MS] ms
kill_within() {
  local ms=$1; shift
  "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$(awk -v m="$ms" -v r="$RANDOM" 'BEGIN {printf "%.3f", m * 1.3 * r / 32768 / 1000}')"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
# Kill points. Random moments find what timing finds; "before CALL N" kills
# on entry to the N-th CALL (counted per kind, as strace counts) among the
# system calls that change a name, so every state between two of them is
# reached, however short the window.
NAME_CALLS=link,linkat,unlink,unlinkat,rename,renameat,renameat2,mkdir,mkdirat,rmdir
# name_steps CMD...: runs CMD once, traced, and prints its steps ("CALL N" a line)
name_steps() {
  local trace
  trace=$(mktemp "$T/trace.XXXXXX")
  strace -qq -o "$trace" -e trace="$NAME_CALLS" "$@" >/dev/null 2>&1
  awk '/^[a-z]/ { split($1, a, "("); n[a[1]]++; print a[1], n[a[1]] }' "$trace"
  rm -f "$trace"
}
# kill_points MS N STEPS: N random moments of a run of MS ms ("at MS"), then
# each step of STEPS (name_steps' output) as "before CALL N"
kill_points() {
  local i
  for i in $(seq 1 "$2"); do echo "at $1"; done
  [ -n "$3" ] && sed 's/^/before /' <<<"$3"
}
# kill_at POINT CMD...: runs CMD and kills it -9 at POINT (of kill_points)
kill_at() {
  local how call nth
  read -r how call nth <<<"$1"; shift
  if [ "$how" = at ]; then kill_within "$call" "$@"
  else strace -qq -o /dev/null -e trace="$NAME_CALLS" -e inject="$call":signal=KILL:when="$nth" "$@" >/dev/null 2>&1; fi
}

# start_postgres: a private PostgreSQL for this test: initdb in $T/pg, its
# socket there, no TCP, run by the postgres account (it refuses root), and
# stopped on exit. Sets PG_BIN, PG_DIR and PG_CONN (a libpq connection string).
start_postgres() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$PG_BIN/initdb" ] || { diag "PostgreSQL is not installed (scripts/install-deps.sh installs it)"; return 1; }
  PG_DIR=$T/pg
  mkdir -p "$PG_DIR" && chown postgres: "$PG_DIR" && chmod 0700 "$PG_DIR"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U kura --no-sync >"$T/initdb.log" 2>&1 ||
    { diag "initdb failed:" "$(cat "$T/initdb.log")"; return 1; }
  on_exit "runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m immediate -w stop >/dev/null 2>&1"
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "-k $PG_DIR -c listen_addresses=''" -w \
    -l "$PG_DIR/server.log" start >/dev/null 2>&1 || { diag "PostgreSQL did not start:" "$(cat "$PG_DIR/server.log")"; return 1; }
  PG_CONN="host=$PG_DIR dbname=postgres user=kura"
}

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
  # Still running (the unmount failed): stopped, never waited for forever.
  if kill -0 "$KURAFS_PID" 2>/dev/null; then
    diag "kurafs $KURAFS_PID still runs 10 s after the unmount: stopped (TERM, then KILL), $mnt detached"
    kill "$KURAFS_PID" 2>/dev/null; sleep 2; kill -9 "$KURAFS_PID" 2>/dev/null
    umount -l "$mnt" 2>/dev/null
  fi
  wait "$KURAFS_PID" 2>/dev/null; local rc=$?
  if [ "$rc" -eq 0 ] && ! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$KURAFS_LOG"; then
    ok "kurafs exited cleanly (no sanitizer report)"
  else
    not_ok "kurafs exited cleanly (status $rc)"; diag "$(tail -n 40 "$KURAFS_LOG")"
  fi
}

# flip_byte FILE OFFSET: inverts the byte at OFFSET in place (writing a
# fixed value would leave a byte that already had it unchanged).
flip_byte() {
  /usr/bin/python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# one_file_dataset ID PI FILE BYTES: dataset ID of PI (period from yesterday
# for 30 days) holding one file of random bytes, $T/ID/FILE, imported.
one_file_dataset() {
  local id=$1 pi=$2 file=$3 bytes=$4
  mkdir -p "$T/$id" && head -c "$bytes" /dev/urandom >"$T/$id/$file" && chmod -R a+rX "$T/$id" &&
    kuractl dataset add "$id" --pi "$pi" --period "$(day -1)..$(day 30)" >/dev/null &&
    kuractl dataset import "$id" --encrypt "$T/$id" >/dev/null
}

# guard_setup ID: the copy-out guard's tests' server: kt_alice, kura init,
# dataset ID of hers with one file random.bin, mounted at $T/mnt. Sets M
# (the file), LOG (the audit log) and W (a directory anyone may write to).
guard_setup() {
  local id=$1
  make_user kt_alice
  require "kuractl init" kura_init
  require "dataset $id of kt_alice" one_file_dataset "$id" kt_alice random.bin 200000
  require "mount" mount_kura "$T/mnt"
  M=$T/mnt/$id/random.bin
  LOG=$KROOT/log/audit.jsonl
  W=$T/work
  mkdir -p "$W" && chmod 0777 "$W"
}
