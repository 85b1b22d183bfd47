#!/usr/bin/env bash
# Issue 18, R-ACC-9: a grant records the user's institution, e-mail address
# and the day they completed the security training / acknowledged the
# guidelines; user list shows them, the ledger records them, user update
# completes them; bad values are refused with nothing changed. With
# [server] require_training = yes a grant without the date is refused by
# user add and reads nothing through a real mount (the refusal logged)
# until user update gives it.
. "$(dirname "$0")/lib.sh"

ID=JGAD000918
for u in kt_alice kt_bob kt_carol kt_dave kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
require "kuractl init" kura_init
require "dataset of kt_alice" one_file_dataset "$ID" kt_alice x.bin 100000
INI=$KROOT/lib/datasets/$ID/dataset.ini LEDGER=$KROOT/lib/datasets/$ID/ledger.jsonl LOG=$KROOT/log/audit.jsonl
F=$T/mnt/$ID/x.bin
TRAINED=$(day -10)
require "mount" mount_kura "$T/mnt"
reads() { as "$1" cmp -s "$2" "$T/$ID/x.bin"; }
refused_for() { grep '"decision":"deny"' "$LOG" | grep '"uid":'"$1"',' | grep -q '"reason":"'"$2"'"'; }
# unchanged: the state and the ledger are as they were at the last "kept"
kept() { sha256sum "$INI" "$LEDGER" >"$T/kept.sha"; }
unchanged() { sha256sum --quiet -c "$T/kept.sha"; }

# ---- a grant with its records ----
check_output "the PI lists bob with institution, e-mail and training date" "kt_bob may use dataset $ID" \
  kc kt_alice user add "$ID" kt_bob --institution "京都大学 医学研究科" --email bob.o\'neil@med.example.ac.jp \
  --trained "$TRAINED"
check_output "user list shows them" "^kt_bob +$TRAINED +bob.o'neil@med.example.ac.jp +京都大学 医学研究科\$" \
  kuractl user list "$ID"
check_output "user list --json has them" \
  "\"user\":\"kt_bob\",.*\"institution\":\"京都大学 医学研究科\",\"email\":\"bob.o'neil@med.example.ac.jp\",\"trained\":\"$TRAINED\"" \
  kuractl user list "$ID" --json
check "dataset.ini keeps them" grep -qx "trained = $TRAINED" "$INI"
check_output "the usage report's users table has bob's institution and training date (JSON)" \
  "\"user\":\"kt_bob\",.*\"institution\":\"京都大学 医学研究科\",\"trained\":\"$TRAINED\"" kuractl report usage "$ID" --json
check_output "... and its CSV" "^kt_bob,co-investigator,.*,京都大学 医学研究科,$TRAINED\$" kuractl report usage "$ID" --csv
check_output "the ledger records them with the grant" \
  "user-add kt_bob: .*institution=京都大学 医学研究科 email=bob.o'neil@med.example.ac.jp trained=$TRAINED" kuractl ledger "$ID"

# ---- bad values: refused, nothing changed ----
kept
check_output_fails "an address without a domain is refused" "e-mail address needs a domain with a dot" \
  kuractl user add "$ID" kt_carol --email carol@localhost --trained "$TRAINED"
check_output_fails "two @ are refused" "one @" kuractl user add "$ID" kt_carol --email 'a@b@c.jp'
check_output_fails "no such day is refused" "--trained: \"2026-02-30\": no such day" \
  kuractl user add "$ID" kt_carol --trained 2026-02-30
check_output_fails "a time instead of a day is refused" "--trained: expected a date YYYY-MM-DD" \
  kuractl user add "$ID" kt_carol --trained "$(day -1)T10:00:00+09:00"
check_output_fails "a training date in the future is refused" "--trained $(day 1) is in the future" \
  kuractl user add "$ID" kt_carol --trained "$(day 1)"
check_output_fails "an institution with a control character is refused" "control character" \
  kuractl user add "$ID" kt_carol --institution "$(printf 'a\tb')"
check_output_fails "update: a bad address is refused" "e-mail address" kuractl user update "$ID" kt_bob --email 'bob@'
check_output_fails "update: a future date is refused" "in the future" kuractl user update "$ID" kt_bob --trained "$(day 2)"
check "... and nothing changed (state, ledger)" unchanged
check_fails "carol was not listed" grep -q '^\[user kt_carol\]' "$INI"

# ---- user update ----
check_output_fails "update needs something to change" "at least one of" kuractl user update "$ID" kt_bob
check_output_fails "a user cannot change their own grant's records" "only the PI of dataset $ID or an operator" \
  kc kt_bob user update "$ID" kt_bob --trained "$(day -1)"
check "the PI lists the operator op" kc kt_alice user add "$ID" kt_op
check_output_fails "an operator cannot vouch for their own training" "the records of your own grant are the PI's" \
  kc kt_op user update "$ID" kt_op --trained "$(day -1)"
check "... the PI can" kc kt_alice user update "$ID" kt_op --trained "$(day -1)"
check_output_fails "update of someone not listed" "kt_dave is not listed in dataset $ID" \
  kuractl user update "$ID" kt_dave --trained "$(day -1)"
check "the PI corrects bob's e-mail" kc kt_alice user update "$ID" kt_bob --email bob@kyoto-u.ac.jp
check_output "the ledger records the update, before and after" \
  "user-update kt_bob: uid=$(id -u kt_bob) institution=京都大学 医学研究科 email=bob.o'neil@med.example.ac.jp trained=$TRAINED -> uid=$(id -u kt_bob) institution=京都大学 医学研究科 email=bob@kyoto-u.ac.jp trained=$TRAINED" \
  kuractl ledger "$ID"
check "an empty value clears the institution" kuractl user update "$ID" kt_bob --institution ""
check_output "user list shows the change" "^kt_bob +$TRAINED +bob@kyoto-u.ac.jp +-\$" kuractl user list "$ID"
kept
check_output "the same values again change nothing" "up to date" kuractl user update "$ID" kt_bob --email bob@kyoto-u.ac.jp
check "... no ledger record" unchanged

# ---- require_training = yes ----
check "carol is listed without a training date (not required yet)" kc kt_alice user add "$ID" kt_carol
check "require_training = no is the default" grep -qx 'require_training = no' "$KCONF"
# The daemon reads kura.conf when it starts (and makes the PI's changes).
stop_kura "$T/mnt"
sed -i 's/^require_training = no$/require_training = yes/' "$KCONF"
require "mount again" mount_kura "$T/mnt"
kept
check_output_fails "with require_training = yes, user add without --trained is refused" \
  "require_training = yes: give the day kt_dave completed the security training .*--trained YYYY-MM-DD" \
  kc kt_alice user add "$ID" kt_dave
check "... and nothing changed" unchanged
check_output "user list shows carol untrained, needing the PI" "^kt_carol +co-investigator .* untrained " \
  kuractl user list "$ID"
check "bob (trained) reads" reads kt_bob "$F"
check "the PI (no grant) reads" reads kt_alice "$F"
check_fails "carol (no training date) reads nothing" reads kt_carol "$F"
check_output "her status says why" "^$ID .* no training\$" kc kt_carol status
check "her refusal is logged with the reason" refused_for "$(id -u kt_carol)" "no training"
check "the PI gives carol's training date" kc kt_alice user update "$ID" kt_carol --trained "$(day -1)"
check "now carol reads" reads kt_carol "$F"
check_output "her status says active again" "^$ID .* active\$" kc kt_carol status
check "dave is listed with --trained" kc kt_alice user add "$ID" kt_dave --trained "$(day 0)" --email dave@example.jp
check "dave reads" reads kt_dave "$F"
check_output "the ledger verifies" "ledger of $ID verified" kuractl ledger "$ID"
stop_kura "$T/mnt"
done_testing
