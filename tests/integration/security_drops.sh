#!/usr/bin/env bash
# A listed user cannot hang the mount through its page-cache drops (a
# hostile review's finding). Dropping a file's cached pages makes the
# kernel wait for every page of it that is locked, and a page stays locked
# until its READ is answered, which only a FUSE worker can do. When the
# workers dropped pages themselves at a last close (or a refused open),
# one user's loops of refused opens (dd, refused by the guard) and of
# opens and closes, beside a reader of a large file, while access ended
# (a revocation drops every file's pages) left every worker waiting for a
# drop that waited for a READ no worker was left to answer: the mount hung
# for every user, and so did the revocation; even kill -9 of the daemon
# could not end it (a thread stuck in the kernel). Now workers hand drops
# to a thread of their own: revocations keep returning, the mount keeps
# serving, and the daemon stops cleanly after the storm. TAP output.
. "$(dirname "$0")/lib.sh"

ID=JGAD000777
SMALL=64 DD_FROM=25 ROUNDS=${DROPS_ROUNDS:-100}
make_user kt_alice
make_user kt_bob
require "kuractl init" kura_init
mkdir -p "$T/$ID" "$T/flags" && chmod 0777 "$T/flags"
head -c $((64 << 20)) /dev/urandom >"$T/$ID/big.bin"
for i in $(seq 1 $SMALL); do head -c 4096 /dev/urandom >"$T/$ID/s$i.bin"; done
chmod -R a+rX "$T/$ID"
require "dataset add" quietly kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" quietly kuractl dataset import "$ID" --encrypt "$T/$ID"
require "mount" mount_kura "$T/mnt"
M=$T/mnt/$ID
# The kernel's FUSE control files: a hung connection is aborted through
# them, so that the test can end and clean up.
FUSECTL=/sys/fs/fuse/connections
if ! mountpoint -q "$FUSECTL"; then
  require "the FUSE control file system" mount -t fusectl none "$FUSECTL"
  on_exit "umount '$FUSECTL'"
fi
CONN=$FUSECTL/$(mountpoint -d "$T/mnt" | cut -d: -f2)
require "the mount's FUSE connection ($CONN)" test -e "$CONN/abort"

LOAD=()
stop_load() { touch "$T/flags/stop"; kill "${LOAD[@]}" 2>/dev/null; wait "${LOAD[@]}" 2>/dev/null; }
on_exit "touch '$T/flags/stop'"
# a reader of the large file, its readahead always in flight
as kt_alice bash -c "while [ ! -e '$T/flags/stop' ]; do cat '$M/big.bin' >/dev/null; done" 2>/dev/null &
LOAD+=($!)
# opens and closes, each close a file's last
for i in $(seq 1 $((DD_FROM - 1))); do
  as kt_alice /usr/bin/python3 -c '
import os, sys
while not os.path.exists(sys.argv[2]):
    os.close(os.open(sys.argv[1], os.O_RDONLY))' "$M/s$i.bin" "$T/flags/stop" 2>/dev/null &
  LOAD+=($!)
done
# opens the guard refuses (dd), each dropping its file's pages too
for i in $(seq $DD_FROM $SMALL); do
  as kt_alice bash -c "while [ ! -e '$T/flags/stop' ]; do dd if='$M/s$i.bin' of=/dev/null status=none; done" \
    2>/dev/null &
  LOAD+=($!)
done
on_exit "kill ${LOAD[*]}"
opens() { grep -c '"event":"open"' "$KROOT/log/audit.jsonl"; }
wait_for 10 test "$(opens)" -gt 1000
check "the load runs ($(opens) opens recorded in 10 s)" test "$(opens)" -gt 1000

# Each revocation drops the cached pages of every file opened since mount.
hung=
for r in $(seq 1 "$ROUNDS"); do
  timeout 20 "$KURACTL" -c "$KCONF" user add "$ID" kt_bob >/dev/null 2>&1 || { hung="user add, round $r"; break; }
  timeout 20 "$KURACTL" -c "$KCONF" user remove "$ID" kt_bob >/dev/null 2>&1 || { hung="user remove, round $r"; break; }
done
if [ -n "$hung" ]; then
  diag "hung at $hung; the daemon's threads (state, where they wait):" \
    "$(for t in /proc/"$KURAFS_PID"/task/*; do echo "$(cut -d' ' -f3 "$t/stat") $(cat "$t/wchan")"; done | sort | uniq -c)"
  echo 1 >"$CONN/abort"
fi
check "$ROUNDS revocations under the load each returned within 20 s${hung:+ (hung at $hung)}" test -z "$hung"
diag "opens and refusals recorded during the storm: $(opens)"
stop_load
# reads FILE: alice reads it whole through the mount, within 60 s
reads() { timeout 60 bash -c "$(declare -f as); as kt_alice cat '$M/$1' | cmp -s - '$T/$ID/$1'"; }
check "the mount still serves: alice reads a small file whole" reads s1.bin
check "... and the big one" reads big.bin
check_output "kuractl status answers" "$ID" timeout 10 "$KURACTL" -c "$KCONF" status
stop_kura "$T/mnt"
done_testing
