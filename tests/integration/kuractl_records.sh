#!/usr/bin/env bash
# The records an auditor asks to see (issue 18): a dataset's ethics
# approval (R-REV-5: reference and end) is recorded at add and extend, in the state
# and the ledger; the period may not run past the approval's end without a
# new approval; an AGD dataset's extension records the data provider's
# permission (R-ACC-5); refusals change nothing. kurafs reminds the PI
# before the approval ends; kuractl status shows the approvals to the PI.
. "$(dirname "$0")/lib.sh"

make_user kt_alice
require "kuractl init" kura_init
NOTES=$T/notices
notice_lines "$NOTES"
D=JGAD000030 A=AGDD000031
INI=$KROOT/lib/datasets/$D/dataset.ini

check_output_fails "--ethics without its end is a usage error" "go together" \
  kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 100)" --ethics IRB-1
check_output_fails "a period past the approval's end is refused" "after the ethics approval IRB-1 ends \\($(day 50)\\)" \
  kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 100)" --ethics IRB-1 --ethics-until "$(day 50)"
check "... and nothing was added" test ! -e "$INI"
require "add with the approval" kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 100)" \
  --ethics "IRB 2026-1" --ethics-until "$(day 120)"
check "the state records the approval" grep -q '^ethics = IRB 2026-1$' "$INI"
check_output "the ledger records it" "dataset-add $D: .*ethics=IRB 2026-1\\.\\.$(day 120)" kuractl ledger "$D"

before=$(sha256sum <"$INI")
check_output_fails "an extension past the approval is refused without a new one" \
  "would end $(day 150), after the ethics approval IRB 2026-1 ends \\($(day 120)\\)" \
  kuractl dataset extend "$D" --until "$(day 150)" --ref EXT-1
check "... and changes nothing" test "$(sha256sum <"$INI")" = "$before"
check "an extension within the approval needs none" kuractl dataset extend "$D" --until "$(day 110)" --ref EXT-1
check "an extension with a new approval passes" kuractl dataset extend "$D" --until "$(day 150)" --ref EXT-2 \
  --ethics IRB-2027-9 --ethics-until "$(day 200)"
check "the new approval replaces the old in the state" grep -q '^ethics = IRB-2027-9$' "$INI"
check_output "the ledger records the extension with it" "dataset-extend $D: $(day 110) -> $(day 150) .*EXT-2 ethics=IRB-2027-9\\.\\.$(day 200)" \
  kuractl ledger "$D"

require "an AGD dataset" kuractl dataset add "$A" --pi kt_alice --period "$(day -1)..$(day 100)" --kind AGD
check_output_fails "its extension needs the provider's permission" "is AGD: an extension needs the data provider's permission" \
  kuractl dataset extend "$A" --until "$(day 150)" --ref EXT-A
check "... refused unchanged" grep -q "^until = $(day 101)T" "$KROOT/lib/datasets/$A/dataset.ini"
check "with it the extension passes" kuractl dataset extend "$A" --until "$(day 150)" --ref EXT-A \
  --provider-permission "PP-2026-4"
check_output "the ledger records the permission" "dataset-extend $A: .*EXT-A provider-permission=PP-2026-4" kuractl ledger "$A"

require "a dataset whose approval ends in 45 days" kuractl dataset add JGAD000032 --pi kt_alice \
  --period "$(day -1)..$(day 30)" --ethics IRB-3 --ethics-until "$(day 45)"
require "mount" mount_kura "$T/mnt"
for i in $(seq 1 100); do grep -q '^ethics-warning' "$NOTES" 2>/dev/null && break; sleep 0.1; done
check "the PI is reminded of the approval's end (60 days ahead, 45 left)" grep -qx 'ethics-warning JGAD000032 ' "$NOTES"
check_output "status lists it as sent, the 40-day one next" "JGAD000032 +- +ethics $(day 45) 40d .* next" \
  as kt_alice "$KURACTL" -c "$KCONF" status
check_output "the PI's status shows the approvals" "$D +$(day 200) +IRB-2027-9" as kt_alice "$KURACTL" -c "$KCONF" status
check_output "... and a dataset without one" "$A +- +\\(none recorded" as kt_alice "$KURACTL" -c "$KCONF" status
stop_kura "$T/mnt"
done_testing
