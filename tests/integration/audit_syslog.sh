#!/usr/bin/env bash
# The audit log's syslog copy (R-LOG-5): every record also goes to syslog,
# facility authpriv, tagged kurafs (the daemon's records) or kuractl (root's
# direct changes), with the record's JSON as the message; `syslog = no`
# turns it off. The machine may run no syslog daemon, so kura gets a /dev/log
# of this test's own: in a private mount namespace, a tmpfs over /dev that
# holds null, zero, urandom, fuse and a datagram socket this test listens
# on (or, to stand for a machine without a syslog daemon, no /dev/log at
# all). Nothing outside the namespace changes.
. "$(dirname "$0")/lib.sh"

ID=JGAD000050
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
check "syslog = yes is the default" grep -qx 'syslog = yes' "$KCONF"
mkdir -p "$T/data" "$T/mnt" "$T/hostdev" && echo "sample text" >"$T/data/a.txt" && chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"

# listen LOG: receives syslog datagrams on $T/log.sock, one a line into LOG
listen() {
  rm -f "$T/log.sock"
  /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")' "$T/log.sock" "$1" &
  LISTENER=$!
  on_exit "kill $LISTENER"
  local i; for i in $(seq 1 50); do [ -S "$T/log.sock" ] && return 0; sleep 0.1; done; return 1
}
# with_dev_log SCRIPT: runs SCRIPT (bash) as root in a private mount
# namespace whose /dev/log is $T/log.sock (none with NO_DEV_LOG=1); the
# namespace's mounts end with it.
with_dev_log() {
  unshare --mount --propagation private bash -c '
    set -e
    T=$1
    mount --bind /dev "$T/hostdev"
    mount -t tmpfs -o mode=0755 tmpfs /dev
    for n in null zero urandom random fuse; do touch "/dev/$n"; mount --bind "$T/hostdev/$n" "/dev/$n"; done
    [ -n "${NO_DEV_LOG:-}" ] || { touch /dev/log && mount --bind "$T/log.sock" /dev/log; }
    umount -l "$T/hostdev"
    set +e
    eval "$2"' _ "$T" "$1"
}
# kuractl as root in direct mode, then kurafs serving one allowed and one refused open
SCRIPT='
  "$KURACTL" -c "$KCONF" user add '"$ID"' kt_bob >/dev/null 2>>"$T/kuractl.ns.err" || echo "user add failed"
  "$KURAFS" -c "$KCONF" -f "$T/mnt" >"$T/kurafs.ns.log" 2>&1 &
  pid=$!
  trap "fusermount3 -u $T/mnt 2>/dev/null; kill $pid 2>/dev/null; wait $pid" EXIT
  for i in $(seq 1 100); do grep -qs " $T/mnt fuse.kurafs" /proc/self/mounts && break; sleep 0.1; done
  setpriv --reuid=kt_bob --regid=$(id -g kt_bob) --init-groups cat "$T/mnt/'"$ID"'/a.txt" >/dev/null 2>&1 || echo "bob could not read"
  cat "$T/mnt/'"$ID"'/a.txt" >/dev/null 2>&1 && echo "root could read"
  fusermount3 -u "$T/mnt"; wait $pid; echo "kurafs exit $?"; trap - EXIT'
export KURACTL KURAFS KCONF T

require "a /dev/log listener" listen "$T/syslog.txt"
out=$(with_dev_log "$SCRIPT" 2>&1)
check "the commands ran in the namespace (kurafs exit 0)" test "$out" = "kurafs exit 0"
[ "$out" = "kurafs exit 0" ] || diag "$out" "$(tail -n 20 "$T/kurafs.ns.log" 2>/dev/null)"
sleep 0.5
msgs=$(cat "$T/syslog.txt" 2>/dev/null)
# <86> is facility authpriv (10) with severity info (6)
check "root's direct change reaches syslog: authpriv, tagged kuractl, the record's JSON" \
  grep -Eq '^<86>.* kuractl(\[[0-9]+\])?: \{.*"event":"policy-change".*"detail":"user-add kt_bob' <<<"$msgs"
check "an allowed open reaches syslog: authpriv, tagged kurafs" \
  grep -Eq '^<86>.* kurafs(\[[0-9]+\])?: \{.*"event":"open".*"decision":"allow".*"user":"kt_bob"' <<<"$msgs"
check "a refused open reaches syslog, with its reason" \
  grep -Eq '^<86>.* kurafs(\[[0-9]+\])?: \{.*"event":"open".*"decision":"deny".*"reason":"not listed"' <<<"$msgs"
n_log=$(grep -c '"event":"open"' "$KROOT/log/audit.jsonl")
n_sys=$(grep -c '"event":"open"' <<<"$msgs")
check "every open record of the log is in syslog ($n_log in the log, $n_sys in syslog)" test "$n_log" -ge 2 -a "$n_sys" = "$n_log"

# syslog = no: nothing reaches syslog
sed -i 's/^syslog = yes$/syslog = no/' "$KCONF"
kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null
require "a new /dev/log listener" listen "$T/syslog-off.txt"
SCRIPT=${SCRIPT//user add/user remove}
out=$(with_dev_log "$SCRIPT" 2>&1)
check "syslog = no: the commands ran (kt_bob now refused)" test "$out" = "$(printf 'bob could not read\nkurafs exit 0')"
sleep 0.5
# (the daemon's own messages, such as "serving", still go to syslog: they are not records)
check "syslog = no: no audit record reaches syslog" test "$(grep -c '"event":' "$T/syslog-off.txt")" = 0
check "... while the listener did hear the daemon (control)" grep -q 'kurafs.* serving ' "$T/syslog-off.txt"
check "... while the local log has the records" test "$(grep -c '"event":"open"' "$KROOT/log/audit.jsonl")" -gt "$n_log"
check "the audit log verifies" kuractl audit verify

# the local log full: a record it cannot keep still reaches syslog, marked
# (kurafs with its log on a full 256 KiB tmpfs, no reserve)
sed -i 's/^syslog = no$/syslog = yes/' "$KCONF"
mkdir -p "$T/full"
require "a 256 KiB tmpfs for the log" mount -t tmpfs -o size=256k tmpfs "$T/full"
on_exit "umount -l '$T/full'"
sed -e "s|^audit_log = .*|audit_log = $T/full/audit.jsonl|" -e 's|^reserve_mb = .*|reserve_mb = 0|' "$KCONF" >"$T/full.conf"
kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null
require "a new /dev/log listener" listen "$T/syslog-full.txt"
SCRIPT='
  "$KURAFS" -c "$T/full.conf" -f "$T/mnt" >"$T/kurafs.ns.log" 2>&1 &
  pid=$!
  trap "fusermount3 -u $T/mnt 2>/dev/null; kill $pid 2>/dev/null; wait $pid" EXIT
  for i in $(seq 1 100); do grep -qs " $T/mnt fuse.kurafs" /proc/self/mounts && break; sleep 0.1; done
  dd if=/dev/zero of="$T/full/filler" bs=4k status=none 2>/dev/null
  dd if=/dev/zero of="$T/full/filler2" bs=512 status=none 2>/dev/null
  for i in $(seq 1 40); do
    setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups cat "$T/mnt/'"$ID"'/a.txt" >/dev/null 2>&1 || { echo "refused"; break; }
  done
  rm -f "$T/full/filler" "$T/full/filler2"
  fusermount3 -u "$T/mnt"; wait $pid; echo "kurafs exit $?"; trap - EXIT'
out=$(with_dev_log "$SCRIPT" 2>&1)
check "log full: an open was refused, kurafs exited cleanly" test "$out" = "$(printf 'refused\nkurafs exit 0')"
sleep 0.5
# <84> is authpriv with severity warning
check "log full: the refused open's record still reaches syslog, marked not in the local log" \
  grep -Eq '^<84>.* kurafs(\[[0-9]+\])?: not in the local log \(.*No space left on device.*\): \{.*"event":"open".*"decision":"allow".*"user":"kt_alice"' "$T/syslog-full.txt"
check "log full: the local log verifies" "$KURACTL" -c "$T/full.conf" audit verify

# No syslog daemon (no /dev/log): the opens are served, every copy is
# counted in the metrics, kurafs says so once among its notices; when a
# daemon comes, syslog first hears how many copies it missed.
mkdir -p "$T/prom"
sed -i -e "s|^textfile =.*|textfile = $T/prom/kura.prom|" -e 's|^interval_seconds = .*|interval_seconds = 1|' "$KCONF"
kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null
require "a new /dev/log listener (not reachable at first)" listen "$T/syslog-late.txt"
n0=$(wc -l <"$KROOT/log/audit.jsonl")
SCRIPT='
  "$KURAFS" -c "$KCONF" -f "$T/mnt" >"$T/kurafs.ns.log" 2>&1 &
  pid=$!
  trap "fusermount3 -u $T/mnt 2>/dev/null; kill $pid 2>/dev/null; wait $pid" EXIT
  for i in $(seq 1 100); do grep -qs " $T/mnt fuse.kurafs" /proc/self/mounts && break; sleep 0.1; done
  for i in 1 2 3; do
    setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups cat "$T/mnt/'"$ID"'/a.txt" >/dev/null 2>&1 || echo "alice refused"
  done
  sleep 1.5
  wc -l <"$KROOT/log/audit.jsonl" >"$T/records.nodaemon"
  cp "$T/prom/kura.prom" "$T/prom.nodaemon"
  touch /dev/log && mount --bind "$T/log.sock" /dev/log
  sleep 1.2
  setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups cat "$T/mnt/'"$ID"'/a.txt" >/dev/null 2>&1 || echo "alice refused"
  fusermount3 -u "$T/mnt"; wait $pid; echo "kurafs exit $?"; trap - EXIT'
export KROOT
out=$(NO_DEV_LOG=1 with_dev_log "$SCRIPT" 2>&1)
check "no syslog daemon: alice read 4 times, kurafs exited cleanly" test "$out" = "kurafs exit 0"
sleep 0.5
lost=$(sed -n 's/^kura_audit_syslog_undelivered_total //p' "$T/prom.nodaemon")
n1=$(cat "$T/records.nodaemon" 2>/dev/null)
check "no syslog daemon: every record's copy counted as not delivered ($lost counted, $((n1 - n0)) records)" \
  test -n "$lost" -a "$lost" = "$((n1 - n0))" -a "$((n1 - n0))" -ge 6
check "no syslog daemon: kurafs says so once, naming /dev/log" \
  test "$(grep -c 'audit: copies of the records to syslog are not delivered: no syslog daemon takes messages at /dev/log' "$T/kurafs.ns.log")" = 1
gap_at=$(grep -n -m 1 'audit record copies were not delivered' "$T/syslog-late.txt" | cut -d: -f1)
first_at=$(grep -n -m 1 '"event":' "$T/syslog-late.txt" | cut -d: -f1)
first=$(sed -n "${first_at:-0}p" "$T/syslog-late.txt")
check "a daemon comes: syslog first hears how many copies it missed (warning, tagged kurafs)" \
  grep -Eq "^<84>.* kurafs\[[0-9]+\]: kura: $lost audit record copies were not delivered to syslog \(no syslog daemon takes messages at /dev/log" "$T/syslog-late.txt"
check "... then the records again, from the next open on (line ${first_at:-none} after line ${gap_at:-none})" \
  test -n "$gap_at" -a -n "$first_at" -a "${first_at:-0}" -gt "${gap_at:-0}" -a -n "$(grep '"event":"open".*"user":"kt_alice"' <<<"$first")"
check "the audit log verifies" kuractl audit verify
done_testing
