#!/usr/bin/env bash
# Audit log retention (R-LOG-8): kurafs removes the rotated files whose last
# record is older than [audit] retention_years, each removal recorded in the
# log first; kuractl audit verify still passes and says what was removed
# under retention; a file deleted by hand makes it fail. The files are aged
# by their records' times (written through the library), not by a clock.
. "$(dirname "$0")/lib.sh"

require "kuractl init" kura_init
LOG=$KROOT/log/audit.jsonl
BACKDATE=$KURA_BUILD/tests/audit_backdate
old_ms=$(( $(date -d '2019-01-10T00:00:00Z' +%s) * 1000 ))
recent_ms=$(( ($(date +%s) - 400 * 86400) * 1000 ))
require "30 records of 2019, 10 of 400 days ago, rotated at 2000 bytes" \
  bash -c "'$BACKDATE' '$KCONF' 2000 $old_ms 30 && '$BACKDATE' '$KCONF' 2000 $recent_ms 10"
files_before=$(ls "$LOG"* | wc -l)
check "several files" test "$files_before" -ge 5
check "verify passes before" kuractl audit verify
# the files holding 2019 records only: their last record is from 2019
only_old=()
for f in "$LOG".*; do
  tail -n 1 "$f" | grep -q '"time":"2019-' && only_old+=("$(basename "$f")")
done
check "some files hold only records of 2019" test "${#only_old[@]}" -ge 2

require "mount" mount_kura "$T/mnt"
for i in $(seq 1 100); do [ "$(grep -c '"event":"retention"' "$LOG" 2>/dev/null)" -ge "${#only_old[@]}" ] && break; sleep 0.1; done
check "one retention record per file of 2019" test "$(grep -c '"event":"retention"' "$LOG")" = "${#only_old[@]}"
gone=0
for f in "${only_old[@]}"; do [ -e "$KROOT/log/$f" ] || gone=$((gone + 1)); done
check "the files of 2019 are removed" test "$gone" = "${#only_old[@]}"
kept_old=0
for f in "$LOG".*; do tail -n 1 "$f" | grep -q '"time":"2019-' && kept_old=$((kept_old + 1)); done
check "no file kept ends with a record of 2019; the recent ones are all kept" \
  bash -c "test $kept_old = 0 && test \$(cat '$LOG'* | grep -c '\"time\":\"202[0-9]-.*\"user\":\"kt_old\"') = 10"
check "each retention record names its file and range" \
  bash -c "grep '\"event\":\"retention\"' '$LOG' | grep -Eq '\"path\":\"audit\.jsonl\.[0-9]+\".*\"detail\":\"seq=1\.\.[0-9]+ last_ms=[0-9]+ last_hash=[0-9a-f]{64} retention_years=5\"'"
check_output "kuractl audit shows the removals" "retention +- .*audit\.jsonl\." kuractl audit
check_output "verify passes and says what was removed" "seq 1\.\.[0-9]+ removed under retention, as the log records" \
  kuractl audit verify
stop_kura "$T/mnt"

oldest=$(ls "$LOG".* | sort -t. -k3 -n | tail -n 1)
check "the oldest file kept, deleted by hand" rm "$oldest"
check_output_fails "verify refuses the gap no retention record accounts for" "no retention record accounts for them" \
  kuractl audit verify
done_testing
