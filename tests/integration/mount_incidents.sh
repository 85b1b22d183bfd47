#!/usr/bin/env bash
# Incidents reach people (issue 18): lockdown and unlock, a dataset's
# suspension and resumption, a bulk read and a burst of guard refusals each
# run notify_command once, with its fields (KURA_EVENT, KURA_DATASET,
# KURA_USERS, KURA_REASON, KURA_BY, KURA_BYTES), and each has its audit
# record. The daemon's two are not sent again after a restart: kurafs reads
# the alerts it raised back from the log.
. "$(dirname "$0")/lib.sh"

ID=JGAD180001
SIZE=200000
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
NOTES=$T/notices
record_notices "$NOTES"
sed -i 's/^alert_refusals = .*/alert_refusals = 3/' "$KCONF"
require "alert_refusals set to 3" grep -qx 'alert_refusals = 3' "$KCONF"
require "dataset $ID of kt_alice" one_file_dataset "$ID" kt_alice random.bin "$SIZE"
require "bob listed on it" kuractl user add "$ID" kt_bob --until "$(day 20)"
LOG=$KROOT/log/audit.jsonl
M=$T/mnt/$ID/random.bin
W=$T/work
mkdir -p "$W" && chmod 0777 "$W"

# count EVENT: the notices of EVENT so far
count() { grep -cx "KURA_EVENT=$1" "$NOTES" 2>/dev/null; }
# wait_count EVENT N: until N notices of EVENT are in (bounded: 10 s)
wait_count() { local i; for i in $(seq 1 100); do [ "$(count "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
# notice EVENT: the KURA_* lines of EVENT's notices
notice() { awk -v e="KURA_EVENT=$1" '$0 == "---" { if (hit) printf "%s", b; b = ""; hit = 0; next }
  { b = b $0 "\n"; if ($0 == e) hit = 1 }' "$NOTES"; }
# has EVENT LINE: EVENT's notice holds the line LINE exactly
has() { notice "$1" | grep -qxF -- "$2"; }
# alerts REASON: alert records of REASON in the log
alerts() { grep '"event":"alert"' "$LOG" | grep -c "\"reason\":\"$1\""; }

require "mount" mount_kura "$T/mnt"

# ---- a burst of guard refusals: cp run alert_refusals + 1 times by bob ----
for i in 1 2 3; do as kt_bob cp "$M" "$W/cp.$i" 2>/dev/null; done
check "three guard refusals: no alert yet" test "$(alerts 'guard burst')" = 0
check_fails "the fourth cp is refused too" as kt_bob cp "$M" "$W/cp.4"
check "the fourth raised one guard-burst alert record" test "$(alerts 'guard burst')" = 1
check "notify_command ran for the guard burst" wait_count guard-burst 1
check "... naming bob and the dataset" bash -c "$(declare -f notice has); NOTES='$NOTES'; has guard-burst KURA_USERS=kt_bob && has guard-burst KURA_DATASET=$ID"
check "... and saying what happened" bash -c "$(declare -f notice); NOTES='$NOTES'; notice guard-burst | grep -q '^KURA_MESSAGE=more than 3 guard refusals in an hour'"
for i in 5 6; do as kt_bob cp "$M" "$W/cp.$i" 2>/dev/null; done
check "more refusals in the hour raise no second alert record" test "$(alerts 'guard burst')" = 1

# ---- a bulk read: bob reads the whole dataset ----
check "bob reads the dataset once" bash -c "setpriv --reuid=kt_bob --regid=$(id -g kt_bob) --init-groups cat '$M' | cmp -s - '$T/$ID/random.bin'"
check "one bulk-read alert record" test "$(alerts 'bulk read')" = 1
check "notify_command ran for the bulk read" wait_count bulk-read 1
check "... naming bob, the dataset and the bytes" bash -c "$(declare -f notice has); NOTES='$NOTES'; has bulk-read KURA_USERS=kt_bob && has bulk-read KURA_DATASET=$ID && has bulk-read KURA_BYTES=$SIZE"
check "bob reads it again the same day" bash -c "setpriv --reuid=kt_bob --regid=$(id -g kt_bob) --init-groups cat '$M' | cmp -s - '$T/$ID/random.bin'"
check "no second bulk-read alert record that day" test "$(alerts 'bulk read')" = 1

# ---- a restart does not raise them again ----
stop_kura "$T/mnt"
require "mount again" mount_kura "$T/mnt"
check "after the restart bob reads it a third time" bash -c "setpriv --reuid=kt_bob --regid=$(id -g kt_bob) --init-groups cat '$M' | cmp -s - '$T/$ID/random.bin'"
for i in 7 8 9 10; do as kt_bob cp "$M" "$W/cp.$i" 2>/dev/null; done
check "after the restart: no second bulk-read alert record" test "$(alerts 'bulk read')" = 1
check "after the restart: no second guard-burst alert record" test "$(alerts 'guard burst')" = 1

# ---- lockdown and unlock (kuractl waits for notify_command) ----
require "lockdown" kuractl lockdown --reason "laptop stolen (test)"
check "notify_command ran once for the lockdown" test "$(count lockdown)" = 1
check "... with the reason and the operator" bash -c "$(declare -f notice has); NOTES='$NOTES'; has lockdown 'KURA_REASON=laptop stolen (test)' && has lockdown KURA_BY=root"
check "the lockdown has its audit record" grep -q '"event":"lockdown".*laptop stolen (test)' "$LOG"
require "unlock" kuractl unlock
check "notify_command ran once for the unlock" test "$(count unlock)" = 1
check "... with the operator and the lockdown it ended" bash -c "$(declare -f notice has); NOTES='$NOTES'; has unlock KURA_BY=root && has unlock 'KURA_REASON=lockdown was: laptop stolen (test)'"

# ---- suspension and resumption ----
require "suspend" kuractl dataset suspend "$ID" --reason "misuse suspected (test)"
check "notify_command ran once for the suspension" test "$(count suspension)" = 1
check "... with the dataset, its PI, the reason and the operator" bash -c "$(declare -f notice has); NOTES='$NOTES'; has suspension KURA_DATASET=$ID && has suspension KURA_PI=kt_alice && has suspension 'KURA_REASON=misuse suspected (test)' && has suspension KURA_BY=root"
check "the suspension has its audit record" grep -q '"event":"suspend".*misuse suspected (test)' "$LOG"
require "resume" kuractl dataset resume "$ID"
check "notify_command ran once for the resumption" test "$(count resumption)" = 1
check "... with the dataset" bash -c "$(declare -f notice has); NOTES='$NOTES'; has resumption KURA_DATASET=$ID"
check_fails "resuming an active dataset is refused" kuractl dataset resume "$ID"
check "... so still one resumption notice" test "$(count resumption)" = 1

# The daemon's notices went out before the lockdown's (kuractl waited for
# that one): a repeated one would be in by now.
check "the guard burst was notified once, restart included" test "$(count guard-burst)" = 1
check "the bulk read was notified once, restart included" test "$(count bulk-read)" = 1
check "kuractl audit verify passes" kuractl audit verify
stop_kura "$T/mnt"
done_testing
