#!/usr/bin/env bash
# Issue 13, through a real mount as real Unix users.
# Separation of duties: system accounts are never listed; an operator's
# grant to themselves or to root reads nothing until the PI (and only the
# PI) approves it; the PI is notified of grants others make; the ledger
# names both actors.
# Accounts cannot be inherited: a grant and the PI are bound to the account
# (uid and name) they had when listed; a new account given a deleted
# account's uid reads nothing, the refusal is logged as "account changed",
# and user list shows the grant as changed.
. "$(dirname "$0")/lib.sh"

ID=JGAD000013 ID2=JGAD000014
for u in kt_alice kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
# This test's own accounts: deleted and re-created below, removed on exit.
A=kt_gr_a B=kt_gr_b P=kt_gr_p Q=kt_gr_q S=kt_gr_s
for u in $A $B $P $Q $S; do id -u "$u" >/dev/null 2>&1 && userdel "$u"; done
on_exit "for u in $A $B $P $Q $S; do userdel \$u; done"
require "accounts $A, $P and $S" bash -c "useradd -M -N -s /bin/bash $A && useradd -M -N -s /bin/bash $P &&
  useradd -M -N -s /bin/bash $S"

kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
require "kuractl init" kura_init
record_notices "$T/notified.txt"
mkdir -p "$T/data" && head -c 100000 /dev/urandom >"$T/data/x.bin" && chmod -R a+rX "$T/data"
require "dataset add (PI alice)" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "dataset add (PI $P)" kuractl dataset add "$ID2" --pi "$P" --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
require "import 2" kuractl dataset import "$ID2" --encrypt "$T/data"
require "mount" mount_kura "$T/mnt"
F=$T/mnt/$ID/x.bin F2=$T/mnt/$ID2/x.bin
LOG=$KROOT/log/audit.jsonl LEDGER=$KROOT/lib/datasets/$ID/ledger.jsonl
reads() { as "$1" cmp -s "$2" "$T/data/x.bin"; }
# refused_for UID REASON: the audit log has a refused open by UID with REASON
refused_for() { grep '"decision":"deny"' "$LOG" | grep '"uid":'"$1"',' | grep -q '"reason":"'"$2"'"'; }
# lists USER DIR NAME: USER's listing of DIR shows NAME
lists() { as "$1" ls "$2" 2>/dev/null | grep -qx "$3"; }
# in_acl UID: the dataset's getfacl (read by its PI) names UID
in_acl() { as kt_alice getfacl -n "$T/mnt/$ID" 2>/dev/null | grep -q "^user:$1:"; }
notified() { local i; for i in $(seq 1 50); do grep -q "$1" "$T/notified.txt" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# ---- system accounts ----
check_output_fails "system account nobody is refused" "nobody \(uid 65534\) is a system account" kuractl user add "$ID" nobody
check_output_fails "system account daemon is refused" "daemon \(uid 1\) is a system account" kuractl user add "$ID" daemon
check_output_fails "the PI cannot list a system account either" "system account" kc kt_alice user add "$ID" bin
check_fails "nobody reads nothing" reads nobody "$F"
check_fails "the ledger has no grant to a system account" grep -Eq '"target":"(nobody|daemon|bin)"' "$LEDGER"
# A system account listed before kuractl refused it (a state file of an
# older version): the mount serves it nothing.
INI=$KROOT/lib/datasets/$ID/dataset.ini
cp "$INI" "$T/dataset.ini.kept"
{ printf '\n[user nobody]\nuid = 65534\nrole = co-investigator\n'; grep -m2 -E '^(from|until) = ' "$T/dataset.ini.kept"
  printf 'approval =\nadded_at = 2026-01-01T00:00:00+09:00\nadded_by = root\n'; } >>"$INI"
require "reload with nobody listed by hand" kuractl reload "$ID"
check "the PI still reads (the state loaded)" reads kt_alice "$F"
check_fails "nobody, listed by hand, reads nothing" reads nobody "$F"
check "its refusal is logged as system account" refused_for 65534 "system account"
check_fails "... and getfacl does not name it" in_acl 65534
check_output "user list shows it as a system account, needing the PI" "^nobody +co-investigator .* system " \
  kuractl user list "$ID"
cp "$T/dataset.ini.kept" "$INI"
require "reload without it" kuractl reload "$ID"

# ---- an operator's grant to themselves waits for the PI ----
check_output "op lists themselves: pending" "reads nothing until the PI approves" kc kt_op user add "$ID" kt_op
check_fails "pending: op reads nothing" reads kt_op "$F"
check "pending: op's refusal is logged as pending approval" refused_for "$(id -u kt_op)" "pending approval"
check_output "pending: user list shows it as needing the PI" "^kt_op +co-investigator .* pending " kuractl user list "$ID"
check_output "pending: op's status says so" "$ID .*pending approval" kc kt_op status
check_fails "pending: not in getfacl" in_acl "$(id -u kt_op)"
check_fails "pending: op does not see the dataset" lists kt_op "$T/mnt" "$ID"
check "the PI is notified of the pending grant" notified "KURA_USERS=kt_op"
check "... as a pending grant, naming the PI" bash -c "grep -q KURA_EVENT=grant-pending '$T/notified.txt' && grep -q KURA_PI=kt_alice '$T/notified.txt'"
check_output_fails "op cannot approve their own grant" "only the PI of dataset $ID" kc kt_op user approve "$ID" kt_op
check_output_fails "root cannot approve it" "only the PI of dataset $ID" kuractl user approve "$ID" kt_op
check_fails "still pending: op reads nothing" reads kt_op "$F"
check "the PI approves" kc kt_alice user approve "$ID" kt_op
check "approved: op reads" reads kt_op "$F"
check "approved: in getfacl" in_acl "$(id -u kt_op)"
check "ledger: user-add by op names the PI whose approval it awaits" \
  bash -c "grep '\"action\":\"user-add\"' '$LEDGER' | grep '\"actor\":\"kt_op\"' | grep -q 'pending=approval-by-pi-kt_alice'"
check "ledger: user-approve by the PI names the adder" \
  bash -c "grep '\"action\":\"user-approve\"' '$LEDGER' | grep '\"actor\":\"kt_alice\"' | grep -q 'added by kt_op'"

# ---- a grant to root waits for the PI ----
check_output "root is listed by an operator: pending" "reads nothing until the PI approves" kuractl user add "$ID" root
check_fails "pending: root reads nothing" cmp -s "$F" "$T/data/x.bin"
check "pending: root's refusal is logged as pending approval" refused_for 0 "pending approval"
check "the PI approves root" kc kt_alice user approve "$ID" root
check "approved: root reads" cmp -s "$F" "$T/data/x.bin"

# ---- root acting for a logged-in person (sudo) who lists themselves ----
check_output "root (login $S) lists $S: pending" "reads nothing until the PI approves" \
  bash -c "echo $(id -u $S) >/proc/self/loginuid && exec '$KURACTL' -c '$KCONF' user add $ID $S"
check_fails "pending: $S reads nothing" reads "$S" "$F"

# ---- the PI's own grant needs no approval and sends no notice ----
: >"$T/notified.txt"
check "the PI lists $A" kc kt_alice user add "$ID" "$A"
check "$A reads" reads "$A" "$F"
check "$A sees the dataset" lists "$A" "$T/mnt" "$ID"
sleep 0.5
check_fails "no notice for the PI's own grant" grep -Eq "KURA_EVENT=grant-(pending|added)" "$T/notified.txt"

# ---- an account cannot be inherited: a grant ----
uid_a=$(id -u "$A")
require "userdel $A; useradd $B with $A's uid $uid_a" bash -c "userdel $A && useradd -M -N -s /bin/bash -u $uid_a $B"
check_fails "$B (inherited uid) reads nothing" reads "$B" "$F"
check_fails "$B does not see the dataset" lists "$B" "$T/mnt" "$ID"
check_fails "$B is not in getfacl under the inherited uid" in_acl "$uid_a"
check "the refusal is logged as account changed, naming $B" \
  bash -c "grep '\"reason\":\"account changed\"' '$LOG' | grep '\"uid\":$uid_a,' | grep -q '\"user\":\"$B\"'"
check_output "user list shows $A's grant as changed, needing the PI" "^$A +co-investigator .* changed .*" kuractl user list "$ID"
check_output "... and says what to do" "needs the PI" kuractl user list "$ID"
check_output "$B's status lists no dataset" "not listed in any dataset" kc "$B" status

# ---- an account cannot be inherited: the PI ----
check "$P (PI) reads" reads "$P" "$F2"
uid_p=$(id -u "$P")
require "userdel $P; useradd $Q with $P's uid $uid_p" bash -c "userdel $P && useradd -M -N -s /bin/bash -u $uid_p $Q"
check_fails "$Q (the PI's uid) reads nothing" reads "$Q" "$F2"
check "the refusal is logged as account changed" \
  bash -c "grep '\"reason\":\"account changed\"' '$LOG' | grep '\"uid\":$uid_p,' | grep -q '\"dataset\":\"$ID2\"'"
check_output_fails "$Q cannot manage the PI's dataset" "only the PI of dataset $ID2" kc "$Q" user add "$ID2" kt_alice
check_output "user list shows the PI as changed" "^$P +pi .* changed " kuractl user list "$ID2"

# ---- an operator is never a PI: nobody could confirm their reading ----
check_output_fails "an operator cannot be named PI" "kt_op is an operator .* a PI may not also be an operator" \
  kuractl dataset add JGAD000019 --pi kt_op --period "$(day -1)..$(day 30)"
check_output_fails "nor can root" "root is an operator" kuractl dataset add JGAD000019 --pi root --period "$(day -1)..$(day 30)"
check "... and nothing was created" test ! -e "$KROOT/lib/datasets/JGAD000019"

stop_kura "$T/mnt"
done_testing
