#!/usr/bin/env bash
# Reminders (R-REV-2, R-LOG-4): warn_days (90, 60, 40 by default) before a
# dataset's or a grant's end, and the yearly report on each anniversary of
# the start, each sent once through notify_command: not again after a
# reload or a restart, and sent again (at least once) when kurafs is killed
# -9 while the program runs, before the mark is written. kuractl status
# lists the sent and the next ones to the PI and operators only.
. "$(dirname "$0")/lib.sh"

for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
NOTES=$T/notices
# the test holds the yearly reminder's program running, to kill kurafs meanwhile
notice_lines "$NOTES" 'if [ "$KURA_EVENT" = yearly-report ] && [ -e '"$T"'/hold ]; then
  rm -f '"$T"'/hold; touch '"$T"'/running; sleep 4
fi'

year_ago=$(TZ=Asia/Tokyo date -d "$(day 0) -1 year" +%F)

require "a dataset ending in 50 days" kuractl dataset add JGAD000020 --pi kt_alice --period "$(day -1)..$(day 50)"
require "bob's grant on it ending in 30 days" kuractl user add JGAD000020 kt_bob --until "$(day 30)"
require "a dataset started a year ago today" kuractl dataset add JGAD000021 --pi kt_alice --period "$year_ago..$(day 400)"
touch "$T/hold"
require "mount" mount_kura "$T/mnt"
for i in $(seq 1 100); do [ -e "$T/running" ] && break; sleep 0.1; done
check "the yearly report's program runs" test -e "$T/running"
kill -9 "$KURAFS_PID"
wait "$KURAFS_PID" 2>/dev/null
fusermount3 -u "$T/mnt"
check "the PI is reminded 60 days ahead (50 left), not 90" grep -qx 'expiry-warning JGAD000020 ' "$NOTES"
check "bob is reminded of his grant's end (the 40-day reminder)" grep -qx 'expiry-warning JGAD000020 kt_bob' "$NOTES"
check "the yearly report is due on the anniversary" grep -qx 'yearly-report JGAD000021 ' "$NOTES"
check "killed before the mark: no yearly mark written" sh -c "! grep -q 'yearly' '$KROOT/lib/reminders.tsv'"
check "the end reminders were marked" test "$(grep -c '^JGAD000020' "$KROOT/lib/reminders.tsv")" = 2

require "mount again after kill -9" mount_kura "$T/mnt"
for i in $(seq 1 100); do grep -q 'yearly' "$KROOT/lib/reminders.tsv" 2>/dev/null && break; sleep 0.1; done
check "the unmarked yearly reminder is sent again (at least once)" test "$(grep -c '^yearly-report JGAD000021' "$NOTES")" = 2
check "the marked ones are not" test "$(grep -c '^expiry-warning' "$NOTES")" = 2
kuractl reload >/dev/null 2>&1
sleep 1
stop_kura "$T/mnt"
require "mount a third time" mount_kura "$T/mnt"
sleep 1
check "nothing is sent twice across a reload and a clean restart" test "$(grep -Ec "^(expiry-warning|yearly-report)" "$NOTES")" = 4

check_output "the PI sees the sent reminder" "JGAD000020 +- +end $(day 50) 60d .* sent " as kt_alice "$KURACTL" -c "$KCONF" status
check_output "the PI sees the next one" "JGAD000020 +- +end $(day 50) 40d .* next" as kt_alice "$KURACTL" -c "$KCONF" status
check_output "the PI sees the next yearly report" "JGAD000021 +- +yearly $(TZ=Asia/Tokyo date -d "$(day 0) +1 year" +%F) .* next" as kt_alice "$KURACTL" -c "$KCONF" status
check_output "the operator sees bob's" "JGAD000020 +kt_bob +end $(day 30) 40d .* sent " kuractl status
as kt_bob "$KURACTL" -c "$KCONF" status >"$T/bob.status" 2>&1
check "a user sees no reminders" sh -c "! grep -q REMINDER '$T/bob.status' && grep -q JGAD000020 '$T/bob.status'"
check "kuractl audit verify passes" kuractl audit verify
stop_kura "$T/mnt"
done_testing
