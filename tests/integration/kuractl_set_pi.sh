#!/usr/bin/env bash
# kuractl dataset set-pi ID USER (issue 20): only an operator changes a
# dataset's PI; the new PI may not be an operator or root (dataset add's
# check) nor hold a grant on the dataset; the change is one transaction in
# the ledger with both names and the actor, both PIs are notified through
# notify_command, and the PI's rights move at once: through a mount the old
# PI reads nothing and their PI-only commands are refused, the new PI's work.
. "$(dirname "$0")/lib.sh"

ID=JGAD000095
for u in kt_alice kt_bob kt_carol kt_dave kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
record_notices "$T/notified.txt"
require "dataset $ID (PI alice)" one_file_dataset "$ID" kt_alice f.bin 5000
require "bob listed" kuractl user add "$ID" kt_bob
require "mount" mount_kura "$T/mnt"
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
require "an operator's grant to themselves waits for the PI" kc kt_op user add "$ID" kt_op
check "alice (PI) reads before" as kt_alice cmp -s "$T/mnt/$ID/f.bin" "$T/$ID/f.bin"
check_fails "dave (not yet PI) reads nothing" as kt_dave cat "$T/mnt/$ID/f.bin"

# ---- refusals, each changing nothing ----
check_output_fails "the PI may not hand the dataset on" "only an operator" kc kt_alice dataset set-pi "$ID" kt_dave
check_output_fails "a listed user may not" "only an operator" kc kt_bob dataset set-pi "$ID" kt_bob
check_output_fails "root may not become the PI" "root is an operator .* a PI may not also be an operator" kuractl dataset set-pi "$ID" root
check_output_fails "nor a kura-admin operator" "kt_op is an operator" kuractl dataset set-pi "$ID" kt_op
check_output_fails "a user holding a grant is refused, told to remove it first" \
  "kt_bob holds a grant on dataset $ID .*kuractl user remove $ID kt_bob" kuractl dataset set-pi "$ID" kt_bob
check_output_fails "the current PI is refused as already PI" "kt_alice is the PI of dataset $ID already" kuractl dataset set-pi "$ID" kt_alice
check_output_fails "an unknown account is refused" "kt_nosuchuser" kuractl dataset set-pi "$ID" kt_nosuchuser
check_output_fails "an unknown dataset is refused" "JGAD999999" kuractl dataset set-pi JGAD999999 kt_dave
check "... nothing changed (ledger, dataset.ini)" \
  bash -c "! '$KURACTL' -c '$KCONF' ledger '$ID' | grep -q set-pi && grep -q '^pi = kt_alice' '$KROOT/lib/datasets/$ID/dataset.ini'"
check_output_fails "user remove of the PI names set-pi for changing the PI" "an operator changes the PI \(kuractl dataset set-pi $ID USER\)" \
  kuractl user remove "$ID" kt_alice

# ---- the change, by a kura-admin operator through the daemon ----
check_output "operator op makes dave the PI" "^the PI of dataset $ID is now kt_dave, no longer kt_alice \(changed by kt_op\)$" \
  kc kt_op dataset set-pi "$ID" kt_dave
check_output "the ledger records both names, with uids, and the actor" \
  "kt_op \(uid $(id -u kt_op)\) +dataset-set-pi $ID: pi=kt_alice uid=$(id -u kt_alice) -> pi=kt_dave uid=$(id -u kt_dave)" kuractl ledger "$ID"
check "the ledger still verifies" bash -c "'$KURACTL' -c '$KCONF' ledger '$ID' | grep -q 'ledger of $ID verified'"
check_output "the audit log has the change" "set-pi" kuractl audit --dataset "$ID"
for i in $(seq 1 50); do [ "$(grep -c KURA_EVENT=pi-change "$T/notified.txt" 2>/dev/null)" = 2 ] && break; sleep 0.1; done
check "notify_command ran twice for the change" test "$(grep -c '^KURA_EVENT=pi-change' "$T/notified.txt")" = 2
check "... once to the old PI, once to the new" \
  bash -c "grep -q '^KURA_PI=kt_alice$' '$T/notified.txt' && grep -q '^KURA_PI=kt_dave$' '$T/notified.txt'"
check "... naming both" grep -q "^KURA_MESSAGE=the PI of dataset $ID is now kt_dave, no longer kt_alice" "$T/notified.txt"
check_output "user list: dave is the PI" "^kt_dave +pi " kuractl user list "$ID"
check "... alice is not listed" bash -c "! '$KURACTL' -c '$KCONF' user list '$ID' | grep -q '^kt_alice '"

# ---- the rights moved at once ----
check_fails "alice (no longer PI) reads nothing" as kt_alice cat "$T/mnt/$ID/f.bin"
check "dave (the PI now) reads byte-exact" as kt_dave cmp -s "$T/mnt/$ID/f.bin" "$T/$ID/f.bin"
check "bob still reads" as kt_bob cmp -s "$T/mnt/$ID/f.bin" "$T/$ID/f.bin"
check_output_fails "alice may no longer approve the pending grant" "only the PI of dataset $ID" kc kt_alice user approve "$ID" kt_op
check_output_fails "... nor add users" "only (an operator|the PI)" kc kt_alice user add "$ID" kt_carol
check_output_fails "... nor read the ledger" "only (an operator|the PI)" kc kt_alice ledger "$ID"
check "dave approves the pending grant" kc kt_dave user approve "$ID" kt_op
check "dave adds carol" kc kt_dave user add "$ID" kt_carol
check "carol reads" as kt_carol cmp -s "$T/mnt/$ID/f.bin" "$T/$ID/f.bin"
check_output "dave's status: $ID as PI" "^$ID +pi " kc kt_dave status
check "alice's status no longer lists it" bash -c "! setpriv --reuid=kt_alice --regid=\$(id -g kt_alice) --init-groups -- '$KURACTL' -c '$KCONF' status | grep -q '^$ID '"

stop_kura "$T/mnt"
done_testing
