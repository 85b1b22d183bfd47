#!/usr/bin/env bash
# Time passing with nobody acting (R-REV-2, R-REV-3, R-ACC-2): a dataset
# whose period ends stops for everyone on time, with open handles; after the
# grace period (0 days here) the daemon destroys its keys and writes a
# destruction report; before the end the PI is warned (warn_days), once.
. "$(dirname "$0")/lib.sh"

for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
NOTES=$T/notices
notice_lines "$NOTES"
sed -i 's|^grace_days = .*|grace_days = 0|' "$KCONF"
mkdir -p "$T/data" && head -c 200000 /dev/urandom >"$T/data/x.bin" && chmod -R a+rX "$T/data"

end=$(date -d '+8 seconds' --iso-8601=seconds)
require "dataset ending at $end" kuractl dataset add JGAD000010 --pi kt_alice --period "$(day -1)..$end"
require "import" kuractl dataset import JGAD000010 --encrypt "$T/data"
require "user add bob" kuractl user add JGAD000010 kt_bob
# A grant ending at a second (no destruction follows it, unlike the
# dataset's end with grace 0): refused within that very second.
end2_s=$(( $(date +%s) + 14 ))
end2=$(date -d "@$end2_s" --iso-8601=seconds)
require "dataset JGAD000012" kuractl dataset add JGAD000012 --pi kt_alice --period "$(day -1)..$(day 30)"
require "import into it" kuractl dataset import JGAD000012 --encrypt "$T/data"
require "bob's grant on it ending at $end2" kuractl user add JGAD000012 kt_bob --until "$end2"
require "dataset ending in 10 days" kuractl dataset add JGAD000011 --pi kt_alice --period "$(day -1)..$(day 10)"
require "bob's grant on it ending in 5 days" kuractl user add JGAD000011 kt_bob --until "$(day 5)"
require "mount" mount_kura "$T/mnt"
F=$T/mnt/JGAD000010/x.bin
mkdir -p "$T/flags" && chmod 0777 "$T/flags"

check "bob reads before the end" as kt_bob cmp -s "$F" "$T/data/x.bin"
as kt_bob /usr/bin/python3 "$KURA_USER_BIN/hold_read.py" "$F" "$T/flags/go" >"$T/hold.out" 2>&1 &
for i in $(seq 1 100); do grep -q '^first' "$T/hold.out" 2>/dev/null && break; sleep 0.05; done
check "an open handle reads before the end" grep -q 'first ok' "$T/hold.out"

stop_at=$(( $(date -d "$end" +%s) ))
while [ "$(date +%s)" -lt "$stop_at" ]; do sleep 0.2; done
touch "$T/flags/go"
for i in $(seq 1 100); do grep -q '^second' "$T/hold.out" 2>/dev/null && break; sleep 0.05; done
check "at the end the open handle is refused (no restart, no new open)" grep -q 'second EACCES' "$T/hold.out"
check_output_fails "at the end the PI cannot open" "No such file|Permission denied" as kt_alice cat "$F"

as kt_bob /usr/bin/python3 "$KURA_USER_BIN/hold_read.py" "$T/mnt/JGAD000012/x.bin" "$T/flags/go2" >"$T/hold2.out" 2>&1 &
for i in $(seq 1 100); do grep -q '^first' "$T/hold2.out" 2>/dev/null && break; sleep 0.05; done
check "bob's handle on JGAD000012 reads before his grant's end" grep -q 'first ok' "$T/hold2.out"
while [ "$(date +%s)" -lt "$end2_s" ]; do sleep 0.05; done
touch "$T/flags/go2"
for i in $(seq 1 100); do grep -q '^second' "$T/hold2.out" 2>/dev/null && break; sleep 0.05; done
check "in the second his grant ends, his open handle is refused" grep -q 'second EACCES' "$T/hold2.out"
diag "refused at $(date +%s.%N) for an end at $end2_s"

# grace 0: the daemon destroys the dataset on its own
# (the state says destroyed before the keys are gone: wait for both)
for i in $(seq 1 100); do
  grep -q '^status = destroyed' "$KROOT/lib/datasets/JGAD000010/dataset.ini" 2>/dev/null &&
    [ ! -e "$KROOT/lib/keys/datasets/JGAD000010" ] && break
  sleep 0.1
done
check "after the grace period the dataset is destroyed by the daemon" grep -q '^status = destroyed' "$KROOT/lib/datasets/JGAD000010/dataset.ini"
check "the keystore holds nothing for it" test ! -e "$KROOT/lib/keys/datasets/JGAD000010"
check_output "a destruction report exists" "JGAD000010" kuractl report destruction JGAD000010
check "the end was recorded in the audit log" grep -q '"event":"revocation".*"reason":"expired".*JGAD000010\|"reason":"expired".*"dataset":"JGAD000010"' "$KROOT/log/audit.jsonl"
check "the end was notified" grep -q '^expired JGAD000010' "$NOTES"

# warnings: the latest warn_days stage (40 days) once, also across a reload
# and a restart (mount_reminders.sh tests the stages and a kill -9)
check "the PI is warned of JGAD000011's end" grep -q '^expiry-warning JGAD000011 $' "$NOTES"
check "bob is warned of his grant's end, before the dataset's" grep -q '^expiry-warning JGAD000011 kt_bob$' "$NOTES"
kuractl reload >/dev/null 2>&1
sleep 1
stop_kura "$T/mnt"
require "mount again" mount_kura "$T/mnt"
sleep 1
check "the warnings went out once today (reload and restart included)" test "$(grep -c '^expiry-warning JGAD000011' "$NOTES")" = 2
check "kuractl audit verify passes" kuractl audit verify
stop_kura "$T/mnt"
done_testing
