#!/usr/bin/env bash
# Revocation reaches files that are already open (R-REV-4, R-ACC-2, R-ACC-7):
# an open handle stops within one read after `user remove`, after a grant's
# RFC 3339 end passes (no restart, no new open), after `suspend` and
# lockdown; a lockdown file that cannot be read or parsed refuses like one.
. "$(dirname "$0")/lib.sh"

ID=JGAD000002
HOLD=$KURA_USER_BIN/hold_read.py
for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
mkdir -p "$T/data" && head -c $((4 * 65536)) /dev/urandom >"$T/data/x.bin" && chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
require "user add bob" kuractl user add "$ID" kt_bob
require "mount" mount_kura "$T/mnt"
F=$T/mnt/$ID/x.bin
mkdir -p "$T/flags" && chmod 0777 "$T/flags"

# hold USER NAME: starts a holder in the background; its output in $T/NAME.out
hold() { as "$1" /usr/bin/python3 "$HOLD" "$F" "$T/flags/$2" >"$T/$2.out" 2>&1 & }
wait_first() { local i; for i in $(seq 1 100); do grep -q '^first' "$T/$1.out" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# second NAME: lets the holder read again and prints what its read got.
second() {
  touch "$T/flags/$1"
  local i; for i in $(seq 1 200); do grep -q '^second' "$T/$1.out" 2>/dev/null && break; sleep 0.05; done
  grep '^second' "$T/$1.out"
}

# user remove
hold kt_bob removed
check "bob's handle reads before removal" wait_first removed
require "user remove bob" kuractl user remove "$ID" kt_bob
check "bob's open handle is refused at the next read after user remove" test "$(second removed)" = "second EACCES"

# a grant whose end is an RFC 3339 time a few seconds ahead: no restart, no new open
end=$(date -d '+5 seconds' --iso-8601=seconds)
require "user add carol until $end" kuractl user add "$ID" kt_carol --until "$end"
hold kt_carol expiring
check "carol's handle reads before her end" wait_first expiring
sleep_until=$(( $(date -d "$end" +%s) + 1 ))
while [ "$(date +%s)" -lt "$sleep_until" ]; do sleep 0.2; done
check "carol's open handle is refused once her grant ended" test "$(second expiring)" = "second EACCES"
check_output_fails "carol cannot open again after her end" "No such file|Permission denied" as kt_carol cat "$F"

# suspend and resume
hold kt_alice suspended
check "alice's handle reads before suspension" wait_first suspended
require "dataset suspend" kuractl dataset suspend "$ID" --reason "suspected misuse (test)"
check "alice's open handle is refused at the next read after suspend" test "$(second suspended)" = "second EACCES"
check_output_fails "nobody opens a suspended dataset" "No such file|Permission denied" as kt_alice cat "$F"
require "dataset resume" kuractl dataset resume "$ID"
check "after resume, alice reads again" as kt_alice cmp -s "$F" "$T/data/x.bin"

# lockdown and unlock (R-ACC-7): every dataset refused at once, keys out of memory
hold kt_alice locked
check "alice's handle reads before lockdown" wait_first locked
require "lockdown" kuractl lockdown --reason "incident drill (test)"
check "alice's open handle is refused at the next read after lockdown" test "$(second locked)" = "second EACCES"
check_output_fails "nobody opens anything during lockdown" "No such file|Permission denied" as kt_alice cat "$F"
require "unlock" kuractl unlock
check "after unlock, alice reads again" as kt_alice cmp -s "$F" "$T/data/x.bin"

revs=$(grep -c '"event":"revocation"' "$KROOT/log/audit.jsonl")
check "each stopped handle is in the audit log ($revs)" test "$revs" -ge 4

# A lockdown file that cannot be read or parsed counts as lockdown (fail
# closed), in the running daemon and at its start.
LOCKFILE=$KROOT/lib/lockdown
lockdown_refusals() { grep '"event":"open"' "$KROOT/log/audit.jsonl" | grep '"decision":"deny"' | grep -c '"reason":"lockdown"'; }
echo 'not json' >"$LOCKFILE"
before=$(lockdown_refusals)
hold kt_alice garbled
check "alice's handle reads before the lockdown file is garbled" wait_first garbled
require "reload with a malformed lockdown file" kuractl reload
check "a malformed lockdown file: alice's open handle is refused at its next read" test "$(second garbled)" = "second EACCES"
check_output_fails "a malformed lockdown file: alice's open is refused" "Permission denied|No such file" as kt_alice cat "$F"
check "... logged with reason lockdown" test "$(lockdown_refusals)" -gt "$before"
rm -f "$LOCKFILE"
require "reload without it" kuractl reload
check "the file removed: alice reads again" as kt_alice cmp -s "$F" "$T/data/x.bin"
stop_kura "$T/mnt"

# A lockdown survives a restart of the daemon.
require "lockdown while the daemon is down" kuractl lockdown --reason "restart drill (test)"
require "mount again" mount_kura "$T/mnt"
check_output_fails "a lockdown survives a restart: alice's open is refused" "Permission denied|No such file" as kt_alice cat "$F"
require "unlock" kuractl unlock
check "after unlock, alice reads again (restarted daemon)" as kt_alice cmp -s "$F" "$T/data/x.bin"
stop_kura "$T/mnt"

mkdir "$LOCKFILE" # a lockdown "file" that cannot be read
before=$(lockdown_refusals)
require "mount with an unreadable lockdown file" mount_kura "$T/mnt"
check_output_fails "an unreadable lockdown file at start: alice's open is refused" "Permission denied|No such file" as kt_alice cat "$F"
check "... logged with reason lockdown" test "$(lockdown_refusals)" -gt "$before"
rmdir "$LOCKFILE"
require "reload without it" kuractl reload
check "the file removed: alice reads again" as kt_alice cmp -s "$F" "$T/data/x.bin"
stop_kura "$T/mnt"
done_testing
