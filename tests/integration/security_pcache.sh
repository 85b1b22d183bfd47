#!/usr/bin/env bash
# The cache of the callers' process facts (issue 17) is exact: as a listed
# real user through a real mount, a process that was allowed and cached is
# judged anew in the same pid once it renames itself to a denied tool
# (prctl), execs into one (through a renamed loader: the same executable,
# only the mapped program changes), or its parent execs into one while the
# child's chain is cached. The daemon has its cache (the kernel's
# connector); without the connector it says so once and reads /proc.
. "$(dirname "$0")/lib.sh"

ID=JGAD170401
guard_setup "$ID"
install -m 0755 "$KURA_TOP/tests/helpers/exec_after_open.py" "$KURA_USER_BIN/"
HELPER=$KURA_USER_BIN/exec_after_open.py
LDSO=/lib64/ld-linux-x86-64.so.2
cp "$(readlink -f "$LDSO")" "$W/myld" && chmod 0755 "$W/myld"

require "strace is installed" command -v strace

# words CMD...: CMD's output lines joined by spaces ("allowed refused")
words() { "$@" 2>&1 | paste -sd' '; }

# The same process opens three times: the daemon reads its memory map (a
# fact read only on a miss) once, and records every open with its facts.
# (strace -y names the /proc directory each file is opened in.)
strace -f -qq -y -e trace=openat -o "$W/strace.out" -p "$KURAFS_PID" &
STRACE=$!
on_exit "kill $STRACE"
attached() {
  local i
  for i in $(seq 1 200); do
    grep -qs '^TracerPid:[[:space:]]*0$' /proc/"$KURAFS_PID"/task/*/status || return 0
    sleep 0.05
  done
  return 1
}
require "strace attached to every kurafs thread" attached
n_open=$(grep -c '"event":"open"' "$LOG")
check "a process opens three times: allowed three times" test "$(words as kt_alice /usr/bin/python3 -c "
import os
open('$W/pid', 'w').write(str(os.getpid()))
for _ in range(3):
    open('$M','rb').read(1); print('allowed')")" = "allowed allowed allowed"
kill "$STRACE"; wait "$STRACE" 2>/dev/null
check "... its memory map read once, not per open (the cache is used)" \
  test "$(grep -c "</proc/$(cat "$W/pid")>, \"maps\"" "$W/strace.out")" -eq 1
check "... all three opens recorded with python3 as the program" \
  test "$(tail -n +"$((n_open + 1))" "$LOG" | grep '"event":"open"' | grep -c '"exe":"/usr/bin/python3')" -eq 3

# prctl(PR_SET_NAME, "cp") after an allowed open.
check "renamed to cp after an allowed open: refused" \
  test "$(words as kt_alice "$HELPER" rename "$M")" = "allowed refused"
check "... the refusal names cp" bash -c "grep '\"reason\":\"guard\"' '$LOG' | tail -1 | grep -q 'cp (pid'"

# exec in the same pid from a renamed loader running python to the same
# loader running cp: the executable stays the same file (its link reads
# the same), only what it maps tells cp.
rm -f "$W/exec.out"
check "exec into a loader running cp after an allowed open: the first open allowed" \
  test "$(as kt_alice "$W/myld" /usr/bin/python3 "$HELPER" exec "$M" "$W/myld" "$W/exec.out" 2>/dev/null)" = allowed
check "... cp is refused: nothing copied" test ! -s "$W/exec.out"
check "... the refusal names cp" bash -c "grep '\"reason\":\"guard\"' '$LOG' | tail -1 | grep -q 'cp (pid'"

# The parent execs into cp after its child's chain was cached.
mkfifo "$W/fifo" && chmod 0666 "$W/fifo"
check "a child's first open, its parent python: allowed" \
  test "$(words as kt_alice "$HELPER" parent "$M" "$W/fifo" "$W/parent.out" "$W/parent.result")" = allowed
check "the same child's next open, its parent exec'd into cp: refused" \
  test "$(cat "$W/parent.result" 2>/dev/null)" = "allowed refused"

stop_kura "$T/mnt"

# ---- without the connector: no cache, said once, and every open judged
# on /proc as before. The connector lives in the initial network
# namespace only; a daemon in a new one has none (as one without
# CAP_NET_ADMIN on kernels before 6.6). ----
printf '#!/bin/sh\nexec unshare --net -- "%s" "$@"\n' "$KURAFS" >"$T/kurafs-no-connector"
chmod 0755 "$T/kurafs-no-connector"
KURAFS=$T/kurafs-no-connector require "mount (kurafs without the connector)" mount_kura "$T/mnt2"
check "kurafs says once that it has no cache of process facts" \
  test "$(grep -c 'no cache of process facts, every open reads /proc' "$KURAFS_LOG")" -eq 1
check "renamed to cp after an allowed open, without the cache: refused" \
  test "$(words as kt_alice "$HELPER" rename "$T/mnt2/$ID/random.bin")" = "allowed refused"
stop_kura "$T/mnt2"
done_testing
