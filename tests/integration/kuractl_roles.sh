#!/usr/bin/env bash
# Who may change what (issue 3), as real Unix users through the control
# socket: PI alice, co-investigator bob, outsider carol, another PI dave,
# operator op (group kura-admin, not root) and root (direct mode).
# R-ACC-4 operators manage; R-ACC-5 a PI manages their own dataset only, AGD
# needs the provider's approval; R-ACC-2 a grant never outlives its dataset;
# R-ACC-6 one uid, one grant; R-LOG-3 every change is in the ledger with its
# actor. Also: state changes are all-or-nothing under kill -9, and malformed
# files are refused with FILE:LINE.
. "$(dirname "$0")/lib.sh"

for u in kt_alice kt_bob kt_carol kt_dave kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init

# kc USER ARGS...: kuractl as USER (through the daemon when USER is not root)
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
# status_of CMD...: the exit status of CMD, its output discarded
status_of() { "$@" >/dev/null 2>&1; echo $?; }

D1=JGAD100001 D2=AGDD200002
require "dataset add $D1 (PI alice)" kuractl dataset add "$D1" --pi kt_alice --period "$(day -10)..$(day 60)" --title "alice's"
require "dataset add $D2 (PI dave, AGD)" kuractl dataset add "$D2" --pi kt_dave --period "$(day -10)..$(day 90)" --kind AGD
END1=$(day 60)

# ---- no daemon: users are told so; root works directly ----
check_output_fails "no daemon: a user is told to ask an operator" "kura daemon is not running; ask an operator" kc kt_alice status
check "no daemon: exit status 1" test "$(status_of kc kt_alice status)" = 1
check "root works without a daemon" kuractl user list "$D1"

# ---- the control socket (kuractl serve: the socket without a mount) ----
"$KURACTL" -c "$KCONF" serve >"$T/serve.log" 2>&1 &
SERVE=$!
on_exit "kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null"
for i in $(seq 1 100); do [ -S "$KROOT/run/ctl.sock" ] && break; sleep 0.1; done
require "control socket is up" test -S "$KROOT/run/ctl.sock"
check "socket is 0666 in a 0755 directory" test "$(stat -c %a "$KROOT/run/ctl.sock") $(stat -c %a "$KROOT/run")" = "666 755"

# ---- the PI manages their own dataset (R-ACC-5) ----
check "alice (PI) adds bob" kc kt_alice user add "$D1" kt_bob
check_output "bob is listed" "^kt_bob +co-investigator" kc kt_alice user list "$D1"
# R-ACC-6: a second account name for bob's uid is not a second user (the
# name is this run's own, so that concurrent runs never delete each other's;
# userdel -f, as it refuses a uid that other tests' kt_bob processes use)
ALIAS=kt_roles_alias$$
useradd -M -N -o -u "$(id -u kt_bob)" -s /bin/bash "$ALIAS" && on_exit "userdel -f $ALIAS"
check_output_fails "another name for bob's uid is refused (R-ACC-6)" "already listed" kc kt_alice user add "$D1" "$ALIAS"
check "... and not listed" test "$(kuractl user list "$D1" | grep -c "^$ALIAS ")" = 0
check "alice adds carol as contractor until day+20" kc kt_alice user add "$D1" kt_carol --role contractor --until "$(day 20)"
check "alice removes carol" kc kt_alice user remove "$D1" kt_carol
check "carol is no longer listed (bob still is)" bash -c "out=\$('$KURACTL' -c '$KCONF' user list $D1) && grep -q '^kt_bob ' <<<\"\$out\" && ! grep -q '^kt_carol ' <<<\"\$out\""
# A grant ending at a time shows that time, not only its day (issue 20)
check "alice adds carol until day+20 17:00" kc kt_alice user add "$D1" kt_carol --until "$(day 20)T17:00:00+09:00"
check_output "user list shows the time carol's grant ends" "^kt_carol .* $(day 20)T17:00:00\+09:00 +valid" kc kt_alice user list "$D1"
check_output "carol's status shows the time her grant ends" "^$D1 .* $(day 20)T17:00:00\+09:00 +(19|20) +active" kc kt_carol status
check_output "the ledger's text names the time" "user-add kt_carol: .*until=$(day 20)T17:00:00\+09:00" kc kt_alice ledger "$D1"
check "alice removes carol again" kc kt_alice user remove "$D1" kt_carol
check_output_fails "a grant ending after the dataset is refused, naming its end ($END1)" "ends \($END1\)" \
  kc kt_alice user add "$D1" kt_carol --until "$(day 61)"
check_output_fails "alice cannot add a user to dave's dataset" "only (an operator|the PI|operators)" kc kt_alice user add "$D2" kt_bob --approval X
check_output_fails "... and is told why" "only the PI of dataset $D2" kc kt_alice user add "$D2" kt_bob --approval X
check_output_fails "alice cannot remove from dave's dataset" "only (an operator|the PI|operators)" kc kt_alice user remove "$D2" kt_bob
check_output_fails "alice cannot extend her period (operators only)" "only an operator" \
  kc kt_alice dataset extend "$D1" --until "$(day 100)" --ref EXT-1
check_output_fails "alice cannot suspend" "only (an operator|the PI|operators)" kc kt_alice dataset suspend "$D1" --reason x
check_output_fails "alice cannot import" "only (an operator|the PI|operators)" kc kt_alice dataset import "$D1" --encrypt /etc/hostname

# ---- co-investigators and outsiders change nothing ----
check_output_fails "bob cannot add users" "only (an operator|the PI|operators)" kc kt_bob user add "$D1" kt_carol
check_output_fails "bob cannot remove users" "only (an operator|the PI|operators)" kc kt_bob user remove "$D1" kt_bob
check_output_fails "bob cannot read the ledger" "only (an operator|the PI|operators)" kc kt_bob ledger "$D1"
check_output_fails "bob cannot extend" "only (an operator|the PI|operators)" kc kt_bob dataset extend "$D1" --until "$(day 100)" --ref x
check_output_fails "carol cannot add herself" "only (an operator|the PI|operators)" kc kt_carol user add "$D1" kt_carol
check_output_fails "carol cannot list users" "only (an operator|the PI|operators)" kc kt_carol user list "$D1"
check_output_fails "carol cannot suspend" "only (an operator|the PI|operators)" kc kt_carol dataset suspend "$D1" --reason x
check_output_fails "carol cannot add a dataset" "only (an operator|the PI|operators)" kc kt_carol dataset add EVIL1 --pi kt_carol --period "$(day 0)..$(day 9)"
check_output_fails "carol cannot reload the daemon" "only (an operator|the PI|operators)" kc kt_carol reload

# ---- AGD needs the provider's approval ----
check_output_fails "dave: AGD user add without --approval is refused" "approval" kc kt_dave user add "$D2" kt_carol
check "dave: AGD user add with --approval" kc kt_dave user add "$D2" kt_carol --approval "AGD-APPROVAL-77"
check_output "the approval is recorded" "AGD-APPROVAL-77" kc kt_dave user list "$D2"
# user list --json: one array, parsed as JSON, each object the text row's columns
# (fixed widths, as STATE "not yet" holds a space), the PI first
kc kt_dave user list "$D2" >"$T/users2.txt" 2>&1
kc kt_dave user list "$D2" --json >"$T/users2.json" 2>&1
check "user list --json parses as one array and agrees with the text rows" /usr/bin/python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
lines = open(sys.argv[2]).read().split("\n")
head = next(i for i, l in enumerate(lines) if l.startswith("USER "))
text = lines[head + 1:lines.index("", head)]  # the first table; the grant records follow it
assert isinstance(rows, list) and len(rows) == len(text) == 2, (rows, text)
for o, l in zip(rows, text):
    cols = [l[0:32], l[33:49], l[50:60], l[61:71], l[72:80], l[81:]]
    want = [c.strip() for c in cols]
    want[5] = "" if want[5] == "-" else want[5]
    got = [o[k] for k in ("user", "role", "from", "until", "state", "approval")]
    assert got == want, (got, want)
assert rows[0]["user"] == "kt_dave" and rows[0]["role"] == "pi", rows[0]
assert rows[1]["user"] == "kt_carol" and rows[1]["approval"] == "AGD-APPROVAL-77", rows[1]
' "$T/users2.json" "$T/users2.txt"

# ---- operators: group kura-admin through the daemon, root directly ----
check "op (kura-admin) adds carol to alice's dataset" kc kt_op user add "$D1" kt_carol
check "op suspends $D1" kc kt_op dataset suspend "$D1" --reason "audit finding 12"
check_output "status shows suspended" "$D1 .* suspended" kc kt_bob status
check "op resumes $D1" kc kt_op dataset resume "$D1"
check "op extends $D1" kc kt_op dataset extend "$D1" --until "$(day 120)" --ref "EXT-2026-001"
check "root removes carol directly" kuractl user remove "$D1" kt_carol

# ---- every change in the ledger, with its actor (R-LOG-3) ----
ledger=$(kc kt_alice ledger "$D1" 2>&1)
check "alice reads her ledger; it verifies" grep -q "ledger of $D1 verified" <<<"$ledger"
check "ledger: dataset-add by root" grep -Eq "root \(uid 0\) +dataset-add $D1" <<<"$ledger"
check "ledger: user-add bob by alice" grep -Eq "kt_alice \(uid [0-9]+\) +user-add kt_bob" <<<"$ledger"
check "ledger: user-remove carol by alice" grep -Eq "kt_alice .*user-remove kt_carol" <<<"$ledger"
check "ledger: user-add carol by op" grep -Eq "kt_op \(uid [0-9]+\) +user-add kt_carol" <<<"$ledger"
check "ledger: suspend and resume by op, with the reason" grep -Eq "kt_op .*dataset-suspend.*audit finding 12" <<<"$ledger"
check "ledger: extend by op, before -> after, with the reference" \
  grep -Eq "kt_op .*dataset-extend $D1: $END1 -> $(day 120) +\[EXT-2026-001\]" <<<"$ledger"
check "ledger: the last user-remove carol by root" grep -Eq "root \(uid 0\) +user-remove kt_carol" <<<"$ledger"
check "ledger: refused attempts left no record" test "$(grep -c 'kt_bob (uid\|kt_carol (uid' <<<"$ledger")" = 0
check_output_fails "alice cannot read dave's ledger" "only (an operator|the PI|operators)" kc kt_alice ledger "$D2"
check_output_fails "dave cannot read alice's ledger" "only (an operator|the PI|operators)" kc kt_dave ledger "$D1"
check "dave reads his own ledger" kc kt_dave ledger "$D2"
check "--json gives one object per record" bash -c "'$KURACTL' -c '$KCONF' ledger $D1 --json | python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin]
sys.exit(0 if recs and all(r[\"seq\"] == i + 1 for i, r in enumerate(recs)) else 1)'"

# ---- the audit log: operators all, a PI their datasets, others nothing (R-LOG-1) ----
check_output "alice reads the audit records of her dataset" "policy-change .*kt_alice\([0-9]+\) +$D1 +user-add kt_bob" kc kt_alice audit
check_output_fails "alice cannot read dave's dataset's records" "only (an operator|the PI|operators)" kc kt_alice audit --dataset "$D2"
json=$(kc kt_alice audit --json); rc=$?
check "alice sees no record of dave's dataset (exit $rc; her own are there)" \
  test "$rc" = 0 -a "$(grep -c "\"dataset\":\"$D1\"" <<<"$json")" -gt 0 -a "$(grep -c "\"dataset\":\"$D2\"" <<<"$json")" = 0
check_output_fails "bob (no PI) reads nothing" "only operators and the PI" kc kt_bob audit
check_output "op sees every dataset's records" "suspend .*kt_op\([0-9]+\) +$D1" kc kt_op audit --user kt_op
check_output "audit verify passes" "audit log verified: [0-9]+ record" kc kt_op audit verify
check_output_fails "only operators verify" "only (an operator|the PI|operators)" kc kt_alice audit verify

# ---- status: mine only, nothing about other users ----
st=$(kc kt_carol status 2>&1)
check "carol's status lists her AGD grant" grep -Eq "^$D2 +co-investigator" <<<"$st"
# (alice's dataset, which carol was removed from, is only in her grants' history)
check "carol's status does not list alice's dataset" test "$(sed '/^$/q' <<<"$st" | grep -c "$D1")" = 0
check "... whose removal is in her grants' history, by role" grep -Eq "^$D1 .* remove +by an operator +removed$" <<<"$st"
check "carol's status names no other user" test "$(grep -c 'kt_' <<<"$st")" = 0
check_output "alice's status: PI, days left" "^$D1 +pi +[0-9-]+ +[0-9-]+ +120 +active" kc kt_alice status

# ---- usage, help and version ----
check "kuractl --help exits 0" kc kt_carol --help
check_output "kuractl user add --help explains the command" "AGD datasets need --approval" kc kt_carol user add --help
check_output "--version" "^kuractl [0-9]" kuractl --version
check "unknown command: exit 2" test "$(status_of kc kt_carol frobnicate)" = 2
check "unknown option: exit 2" test "$(status_of kuractl user add "$D1" kt_bob --colour red)" = 2
check "missing argument: exit 2" test "$(status_of kuractl user add "$D1")" = 2
check "refusal: exit 1" test "$(status_of kc kt_bob user add "$D1" kt_carol)" = 1
check_output_fails "errors are one line naming the command" "^kuractl user add: " kc kt_bob user add "$D1" kt_carol
check_output_fails "init does not go through the daemon" "run it as root on the server" kc kt_op init

# ---- malformed state and config: refused with FILE:LINE ----
cp -a "$KROOT/lib/datasets/$D1" "$KROOT/lib/datasets/BAD1"
sed -i 's/^id = .*/id = BAD1/; s/^level = .*/level = type9/' "$KROOT/lib/datasets/BAD1/dataset.ini"
line=$(grep -n '^level' "$KROOT/lib/datasets/BAD1/dataset.ini" | cut -d: -f1)
check_output_fails "malformed dataset.ini refused with file:line" "BAD1/dataset.ini:$line:" kuractl user list BAD1
check_output_fails "status reports it to operators, with file:line (exit 1)" "dataset.ini:$line:" kuractl status
st=$(kc kt_alice status 2>&1)
check "status still shows alice her dataset" grep -Eq "^$D1 +pi" <<<"$st"
check "... and says one dataset could not be read (exit 1)" grep -q "1 dataset(s) could not be read; ask an operator" <<<"$st"
sed -i 's/^level = .*/level = type1/' "$KROOT/lib/datasets/BAD1/dataset.ini"
printf 'this is not ini\n' >>"$KROOT/lib/datasets/BAD1/dataset.ini"
line=$(wc -l <"$KROOT/lib/datasets/BAD1/dataset.ini")
check_output_fails "a garbage line is refused with its line number" "BAD1/dataset.ini:$line:" kuractl user list BAD1
rm -rf "$KROOT/lib/datasets/BAD1"
cp "$KCONF" "$T/bad.conf"
printf 'no_such_key = 1\n' >>"$T/bad.conf"
line=$(wc -l <"$T/bad.conf")
check_output_fails "malformed kura.conf refused with file:line" "bad.conf:$line:" "$KURACTL" -c "$T/bad.conf" status
check "exit status 1" test "$(status_of "$KURACTL" -c "$T/bad.conf" status)" = 1

# ---- kill -9 at random points of user add: all or nothing ----
# After each kill: the state loads, the ledger verifies, and carol is listed
# exactly when the ledger's last word on her is a user-add.
N=${KILL_ITERATIONS:-30}
bad=0 applied=0
# after_kill WHAT: the ledger verifies, the state loads, carol is listed
# exactly when the ledger's last word on her is a user-add (then removed)
after_kill() {
  if ! kuractl ledger "$D1" >"$T/ledger.txt" 2>&1; then bad=$((bad + 1)); diag "$1: ledger does not verify"; head -3 "$T/ledger.txt" | sed 's/^/# /'; return; fi
  if ! kuractl user list "$D1" >"$T/users.txt" 2>&1; then bad=$((bad + 1)); diag "$1: state does not load:" "$(cat "$T/users.txt")"; return; fi
  local listed last
  listed=$(grep -cE '^kt_carol +co-investigator ' "$T/users.txt") # her row in the grants table
  last=$(grep -E 'user-(add|remove) kt_carol' "$T/ledger.txt" | tail -n 1 | grep -c 'user-add kt_carol')
  if [ "$listed" != "$last" ]; then bad=$((bad + 1)); diag "$1: listed=$listed but ledger says $last"; fi
  [ "$listed" = 1 ] && applied=$((applied + 1)) && kuractl user remove "$D1" kt_carol >/dev/null
}
for i in $(seq 1 "$N"); do
  "$KURACTL" -c "$KCONF" user add "$D1" kt_carol --until "$(day 30)" >/dev/null 2>&1 &
  pid=$!
  # user add takes some 20 ms: kill anywhere from its start to just after
  sleep "0.0$((RANDOM % 3))$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  after_kill "iteration $i"
done
diag "user add completed before the kill in $applied of $N iterations"
check "kill -9 during user add, $N times: state loads, ledger verifies, all or nothing" test "$bad" = 0
steps=$(name_steps "$KURACTL" -c "$KCONF" user add "$D1" kt_carol --until "$(day 30)")
kuractl user remove "$D1" kt_carol >/dev/null
nsteps=$(grep -c . <<<"$steps")
bad=0 applied=0
while read -r -u 3 point; do
  kill_at "$point" "$KURACTL" -c "$KCONF" user add "$D1" kt_carol --until "$(day 30)"
  after_kill "killed $point"
done 3< <(kill_points 0 0 "$steps")
check "kill -9 before each of user add's $nsteps steps (at least one): all or nothing" test "$bad" = 0 -a "$nsteps" -ge 1
check "no journal or temporary file is left behind" test -z "$(ls -A "$KROOT/lib/datasets/$D1" | grep -E '^\.(pending|.*\.tmp-)')"

kill "$SERVE" 2>/dev/null
wait "$SERVE" 2>/dev/null
check "the control socket is removed when the server stops" test ! -e "$KROOT/run/ctl.sock"
sed -i '3s/"dataset":"[^"]*"/"dataset":"EDITED1"/' "$KROOT/log/audit.jsonl"
check_output_fails "audit verify finds an edited record and exits 1" "BAD .*audit.jsonl:3 " kuractl audit verify
done_testing
