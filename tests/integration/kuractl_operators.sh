#!/usr/bin/env bash
# Issue 18, R-LOG-7: the operator register (作業者一覧). A change of group
# kura-admin's members is recorded with its history by the next kuractl
# state change and by the daemon's maintenance (an audit record and a
# notice, event operator-change, each time); kuractl operators lists the
# members with the time each was first recorded, --history every change;
# operators and PIs may read it, others not; a tampered register does not
# verify.
. "$(dirname "$0")/lib.sh"

ID=JGAD000919 OPR=kt_opreg
for u in kt_alice kt_bob "$OPR"; do make_user "$u"; done
make_group kura-admin
on_exit "gpasswd -d $OPR kura-admin >/dev/null 2>&1"
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
require "kuractl init" kura_init
record_notices "$T/notified.txt"
require "dataset of kt_alice" one_file_dataset "$ID" kt_alice x.bin 1000
REG=$KROOT/lib/operators.jsonl LOG=$KROOT/log/audit.jsonl
# recorded ACTION [HOW]: the register has a record of OPR's ACTION (observed HOW: its detail)
recorded() { grep '"action":"operator-'"$1"'"' "$REG" 2>/dev/null | grep '"target":"'"$OPR"'"' | grep -q "\"detail\":\"${2-}"; }
# within SECONDS CMD...: CMD succeeds before SECONDS pass
within() { local end=$((SECONDS + $1)); shift; until "$@"; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.2; done; }
notified() { grep -q "$1" "$T/notified.txt" 2>/dev/null; }

check_output "operators lists the register, verified" "register of group kura-admin verified" kuractl operators
check_fails "$OPR is not an operator yet" grep -q "\"target\":\"$OPR\"" "$REG"

# ---- a kuractl state change records the change ----
usermod -a -G kura-admin "$OPR"
check "a state change (user add) by root" kuractl user add "$ID" kt_bob
check "it recorded $OPR's addition to kura-admin" recorded added
check_output "operators lists $OPR with the time first recorded" "^$OPR +$(TZ=Asia/Tokyo date +%F)T" kuractl operators
check_output "--history shows the addition and who saw it" " added +$OPR +seen by root" kuractl operators --history
check "the audit log records it" bash -c "grep '\"event\":\"policy-change\"' '$LOG' | grep -q 'operators kura-admin: added $OPR'"
check "a notice went out (operator-change)" within 10 notified "KURA_EVENT=operator-change"
check "... naming $OPR" within 10 notified "added $OPR"
n_before=$(grep -c . "$REG")
check "another state change records nothing new" kuractl user remove "$ID" kt_bob
check "... (the register has as many records)" test "$(grep -c . "$REG")" = "$n_before"

# ---- through the daemon: the PI reads it, others do not; maintenance observes ----
require "mount" mount_kura "$T/mnt"
check_output "the PI reads the register (for the checklist)" "^$OPR " kc kt_alice operators
check_output "--json: one array of members" "^\[\{\"user\":\"$OPR\",\"since\":\"" kc kt_alice operators --json
check_output_fails "a data user who is no PI is refused" "only operators and the PI of a dataset" kc kt_bob operators
# Separation of duties (issue 13): an operator's grant to another operator,
# or to themselves, reads nothing until the PI approves.
check_output "root's grant to operator $OPR waits for the PI" "reads nothing until the PI approves" \
  kuractl user add "$ID" "$OPR"
check "... (pending in dataset.ini)" grep -qx 'pending = yes' "$KROOT/lib/datasets/$ID/dataset.ini"
check "... removed again" kuractl user remove "$ID" "$OPR"
check_output "$OPR's grant to themselves waits for the PI" "reads nothing until the PI approves" \
  kc "$OPR" user add "$ID" "$OPR"
check "... (pending in dataset.ini)" grep -qx 'pending = yes' "$KROOT/lib/datasets/$ID/dataset.ini"
check "... removed again" kuractl user remove "$ID" "$OPR"
gpasswd -d "$OPR" kura-admin >/dev/null
# Nobody changes anything: the daemon's maintenance (every 30 s) looks by itself.
check "the daemon's maintenance records the removal" within 90 recorded removed "kurafs maintenance"
check "operators no longer lists $OPR" bash -c "out=\$(setpriv --reuid=kt_alice --regid=\$(id -g kt_alice) --init-groups '$KURACTL' -c '$KCONF' operators) &&
  grep -q '^OPERATOR ' <<<\"\$out\" && ! grep -q '^$OPR ' <<<\"\$out\""
check "--history: added, then removed by the maintenance" bash -c "'$KURACTL' -c '$KCONF' operators --history |
  grep -A9 ' added  *$OPR ' | grep -q ' removed  *$OPR  *seen by root (kurafs maintenance)'"
check_output "--history --json has both" "\"change\":\"removed\",\"user\":\"$OPR\",\"seen_by\":\"root\",\"how\":\"kurafs maintenance\"" \
  kuractl operators --history --json
check "the register is a verified ledger" bash -c "grep -c . '$REG' | grep -qx '$((n_before + 1))'"
stop_kura "$T/mnt"

# ---- tampering ----
cp "$REG" "$T/register.kept"
sed -i '1s/"target":"[^"]*"/"target":"kt_mallory"/' "$REG"
check_output_fails "an edited register does not verify (exit 1)" "operator register does not verify: .*operators.jsonl:1" \
  kuractl operators
check_output "a state change still happens, with a warning" "warning: the operator register .* was not updated" \
  bash -c "'$KURACTL' -c '$KCONF' user add $ID kt_bob 2>&1"
cp "$T/register.kept" "$REG"
check_output "restored, it verifies again" "register of group kura-admin verified" kuractl operators
done_testing
