#!/usr/bin/env bash
# Consent withdrawal, destruction and the reports, from the command line
# (issue 6), read back from the store and keystore with kura_read_stored:
# R-REV-1 a withdrawn sample's files can no longer be decrypted; R-REV-3
# after destroy the keystore holds nothing for the dataset and no key opens
# its payloads, with a report bound to the ledger; R-LOG-4 the usage report;
# notifications reach notify_command; an interrupted destroy is finished by
# running it again. (The mount side, open handles stopping, is in
# mount_revocation.sh.)
. "$(dirname "$0")/lib.sh"

READ=$KURA_BUILD/tests/kura_read_stored
for u in kt_alice kt_bob kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
status_of() { "$@" >/dev/null 2>&1; echo $?; }

record_notices "$T/notified.txt"

ID=JGAD400004
mkdir -p "$T/data"
for f in s1a s1b s2 both; do head -c 70000 /dev/urandom >"$T/data/$f.bin"; done
# A name and a title a Markdown renderer would act on: the destruction
# report must show them, not hide the rows after them.
ODD='x <!-- hide | y.bin'
head -c 100 /dev/urandom >"$T/data/$ODD"
printf 's1a.bin\tJGAS1\ns1b.bin\tJGAS1\ns2.bin\tJGAS2\nboth.bin\tJGAS1\nboth.bin\tJGAS3\n' >"$T/samples.tsv"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)" --title 'T <img src=x> [l](http://e)'
require "import with samples" kuractl dataset import "$ID" --encrypt --samples "$T/samples.tsv" "$T/data"
require "user add bob" kuractl user add "$ID" kt_bob
check "the PI is told of root's grant to bob (issue 13)" grep -q "^KURA_EVENT=grant-added" "$T/notified.txt"
: >"$T/notified.txt" # so the checks below see the withdrawal's notice, not the grant's
readable() { "$READ" "$KCONF" "$ID" "$1" 2>/dev/null | cmp -s - "$T/data/$1"; }
require "every file reads before" bash -c "for f in s1a s1b s2 both; do '$READ' '$KCONF' $ID \$f.bin | cmp -s - '$T/data/'\$f.bin || exit 1; done"

# ---- withdraw ----
check_output_fails "withdraw needs --ref" "ref" kuractl withdraw "$ID" JGAS1
"$KURACTL" -c "$KCONF" serve >"$T/serve.log" 2>&1 &
SERVE=$!
on_exit "kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null"
for i in $(seq 1 100); do [ -S "$KROOT/run/ctl.sock" ] && break; sleep 0.1; done
check_output_fails "the PI cannot record a withdrawal" "only (an operator|the PI|operators)" kc kt_alice withdraw "$ID" JGAS1 --ref W-1 --yes
# ---- preview and confirmation (issue 20) ----
hdrs() { local n=0 f; for f in $(grep -P '\tJGAS1' "$KROOT/lib/datasets/$ID/files.tsv" | cut -f2); do
  [ -e "$KROOT/lib/keys/datasets/$ID/$f.hdr" ] && n=$((n + 1)); done; echo "$n"; }
unchanged() { ! grep -q '^\[withdrawn' "$KROOT/lib/datasets/$ID/dataset.ini" && [ "$(hdrs)" = 3 ] &&
  ! kuractl ledger "$ID" | grep -q ' withdraw ' && readable s1a.bin && readable both.bin; }
kc kt_op withdraw "$ID" JGAS1 --ref W-dry --dry-run >"$T/dry.out" 2>&1
check "--dry-run lists the files that would stop being served" \
  bash -c "grep -q '^  s1a.bin\$' '$T/dry.out' && grep -q '^  s1b.bin\$' '$T/dry.out' && grep -q '^  both.bin ' '$T/dry.out'"
check "... says which also hold another sample, whose consent stands" grep -q "^  both.bin  (also holds JGAS3, whose consent stands)" "$T/dry.out"
check "... and what the PI should ask the archive for" grep -q "ask the archive for a re-delivery of them without sample JGAS1" "$T/dry.out"
check "... not the other sample's file" test "$(grep -c s2.bin "$T/dry.out")" = 0
check "--dry-run changes nothing (state, ledger, keys, reads)" unchanged
kc kt_op withdraw "$ID" JGAS1 --ref W-noyes >"$T/noyes.out" 2>&1; rc=$?
check "without a terminal and without --yes withdraw is refused (exit 1)" test "$rc" = 1
check "... saying how to confirm" grep -q "cannot be undone; confirm on a terminal or give --yes" "$T/noyes.out"
check "... after the same list" grep -q "^  both.bin  (also holds JGAS3" "$T/noyes.out"
check "... and changes nothing" unchanged
printf 'WRONG\n' | script -qec "'$KURACTL' -c '$KCONF' withdraw $ID JGAS1 --ref W-tty" /dev/null >"$T/tty-no.out" 2>&1
check "on a terminal the list comes before the question" \
  bash -c "grep -n 'also holds JGAS3' '$T/tty-no.out' | cut -d: -f1 | head -1 >'$T/l1'; grep -n 'again to confirm' '$T/tty-no.out' | cut -d: -f1 >'$T/l2';
           [ -s '$T/l1' ] && [ -s '$T/l2' ] && [ \$(cat '$T/l1') -lt \$(cat '$T/l2') ]"
check "... a wrong answer changes nothing" unchanged
check "... and is told the id does not match" grep -q "what you typed is not $ID: nothing was changed" "$T/tty-no.out"
check "... not to confirm on a terminal (it did)" test "$(grep -c "confirm on a terminal" "$T/tty-no.out")" = 0
printf '%s\n' "$ID" | script -qec "'$KURACTL' -c '$KCONF' withdraw $ID JGAS3 --ref W-tty-ok" /dev/null >"$T/tty-yes.out" 2>&1
check "... the dataset id typed again confirms it" grep -q "^\[withdrawn JGAS3\]" "$KROOT/lib/datasets/$ID/dataset.ini"
check_fails "... both.bin (JGAS1 and JGAS3) is no longer served" readable both.bin
check "operator op records the withdrawal of JGAS1" kc kt_op withdraw "$ID" JGAS1 --ref "W-2026-001" --yes
for f in s1a s1b both; do check_fails "$f.bin (sample JGAS1) can no longer be decrypted" readable "$f.bin"; done
check "s2.bin (another sample) still reads" readable s2.bin
n=0; for f in $(grep -P '\tJGAS1' "$KROOT/lib/datasets/$ID/files.tsv" | cut -f2); do
  [ -e "$KROOT/lib/keys/datasets/$ID/$f.hdr" ] && n=$((n + 1)); done
check "their headers are gone from the keystore" test "$n" = 0
check_output "the withdrawal is in dataset.ini" "^\[withdrawn JGAS1\]" cat "$KROOT/lib/datasets/$ID/dataset.ini"
check_output "the ledger records it, by op, with the reference" "kt_op .*withdraw JGAS1: consented -> withdrawn; 3 file.*\[W-2026-001\]" \
  kuractl ledger "$ID"
check_output "the audit log records it" "withdraw .*$ID" kuractl audit --dataset "$ID"
for i in $(seq 1 50); do grep -q KURA_EVENT=withdraw "$T/notified.txt" 2>/dev/null && break; sleep 0.1; done
check "notify_command ran for the withdrawal" grep -q "^KURA_EVENT=withdraw" "$T/notified.txt"
check "... naming the PI, the users, the sample and the reference" bash -c "grep -q '^KURA_PI=kt_alice' '$T/notified.txt' &&
  grep -q '^KURA_USERS=kt_bob' '$T/notified.txt' && grep -q '^KURA_SAMPLE=JGAS1' '$T/notified.txt' &&
  grep -q '^KURA_REF=W-2026-001' '$T/notified.txt'"
check_output "withdrawing again finishes, changes nothing" "withdrawn from dataset $ID already" kuractl withdraw "$ID" JGAS1 --ref W-again
check "... and adds no ledger record (JGAS3's and JGAS1's only)" test "$(kuractl ledger "$ID" | grep -c ' withdraw ')" = 2
check_output "the ledger names the files that also hold other samples, for the archive" \
  "withdraw JGAS1: .*also holding other samples \(ask the archive for a re-delivery without JGAS1\): both.bin" kuractl ledger "$ID"
check_output "so does the withdrawal report" "^\| both.bin \| JGAS3 \|$" kc kt_alice report withdrawal "$ID" JGAS1 --lang en
kc kt_alice report withdrawal "$ID" JGAS1 >"$T/wr.md" 2>/dev/null
check_output "the withdrawal report is signed as every report for people" "the signature verifies" \
  kc kt_alice report verify "$T/wr.md"
sed 's/^| both.bin | JGAS3 |$/| both.bin | JGAS4 |/' "$T/wr.md" >"$T/wr-edited.md"
check "(the edit changed the copy)" test "$(cmp -l "$T/wr.md" "$T/wr-edited.md" | wc -l)" = 1
check_output_fails "... a copy with one byte changed does not verify" "does NOT verify" kc kt_alice report verify "$T/wr-edited.md"
head -c 100 /dev/urandom >"$T/late.bin"
printf 'late.bin\tJGAS1\n' >"$T/late.tsv"
check_output "import keeps a withdrawn sample's new file, saying it is not served" "1 of them of withdrawn samples.*late.bin" \
  kuractl dataset import "$ID" --encrypt --samples "$T/late.tsv" "$T/late.bin"
check_fails "... and nobody can decrypt it" "$READ" "$KCONF" "$ID" late.bin

# ---- reports ----
audit_quiet
rep=$(kc kt_alice report usage "$ID" --lang en 2>&1)
check "the PI gets the usage report" grep -q "^# Usage report: $ID" <<<"$rep"
check "... with the users table" grep -Eq "^\| kt_bob \| co-investigator \| " <<<"$rep"
check "... the changes to the list" grep -Eq "\| user-add \| kt_bob \|" <<<"$rep"
check "... and the withdrawal, with its reference" grep -Eq "^\| JGAS1 \| [^|]+ \| W-2026-001 \|$" <<<"$rep"
check_output "CSV has a header and one row per user" "^user,role,from,until,opens,read_throughs,bytes_read,refused,last_access,institution,trained$" \
  kc kt_alice report usage "$ID" --csv
check_output_fails "bob cannot read the usage report" "only (an operator|the PI|operators)" kc kt_bob report usage "$ID"

# ---- destroy ----
check_output_fails "destroy without confirmation is refused (no terminal)" "cannot be undone" kuractl dataset destroy "$ID"
check "... exit 1" test "$(status_of kuractl dataset destroy "$ID")" = 1
check_output_fails "the PI cannot destroy" "only (an operator|the PI|operators)" kc kt_alice dataset destroy "$ID" --yes
check "nothing was destroyed by the refusals" readable s2.bin
# --dry-run (and on a terminal, before the question): what would be destroyed
total=$(kuractl dataset files "$ID" | sed -n 's/^\([0-9]*\) file(s), \([0-9]*\) bytes in dataset .*/\1 file(s), \2 bytes/p')
kc kt_op dataset destroy "$ID" --dry-run >"$T/destroy-dry.out" 2>&1
check "destroy --dry-run: the files and bytes whose keys go ($total)" grep -q "^  the keys of $total (the ciphertext stays" "$T/destroy-dry.out"
check "... each user with their days left" \
  bash -c "grep -Eq '^  kt_alice +pi +[0-9-]{10} +[0-9]+\$' '$T/destroy-dry.out' && grep -Eq '^  kt_bob +co-investigator +[0-9-]{10} +[0-9]+\$' '$T/destroy-dry.out'"
check "... the deliveries whose copies stay decryptable" grep -q "^## Deliveries encrypted to keys that still exist" "$T/destroy-dry.out"
check "... and that nothing was changed" grep -q "^(dry run: nothing was changed)" "$T/destroy-dry.out"
check "--dry-run destroyed nothing" readable s2.bin
check "... and recorded nothing" bash -c "! '$KURACTL' -c '$KCONF' ledger '$ID' | grep -q dataset-destroy"
check_output_fails "the PI cannot dry-run a destroy either" "only (an operator|the PI|operators)" kc kt_alice dataset destroy "$ID" --dry-run
printf 'JGAD999999\n' | script -qec "'$KURACTL' -c '$KCONF' dataset destroy $ID" /dev/null >"$T/destroy-tty.out" 2>&1
check "on a terminal the summary comes before the question" \
  bash -c "grep -n 'the access of these users' '$T/destroy-tty.out' | cut -d: -f1 >'$T/d1'; grep -n 'again to confirm' '$T/destroy-tty.out' | cut -d: -f1 >'$T/d2';
           [ -s '$T/d1' ] && [ -s '$T/d2' ] && [ \$(cat '$T/d1') -lt \$(cat '$T/d2') ]"
check "... a mistyped id is told it does not match" grep -q "what you typed is not $ID: nothing was changed" "$T/destroy-tty.out"
check "... and destroys nothing" readable s2.bin
kc kt_op dataset destroy "$ID" --yes >"$T/destroy.out" 2>&1
check "operator op destroys the dataset" grep -q "^# Destruction report: dataset $ID" "$T/destroy.out"
check "the report lists every file" test "$(grep -cE '^\| (s1a|s1b|s2|both)\.bin \| ' "$T/destroy.out")" = 4
check "... marks the withdrawn files' keys as destroyed earlier" test "$(grep -c 'destroyed earlier (withdrawn)' "$T/destroy.out")" = 4
check "... and gives each user's last access" grep -q '^| kt_bob | co-investigator |' "$T/destroy.out"
check "the report says the keystore holds nothing" grep -q "keystore holds nothing for dataset $ID" "$T/destroy.out"
check "... the odd file's name escaped, as Markdown shows it" grep -qF '| x \<!-- hide \| y.bin | ' "$T/destroy.out"
check "... and the title" grep -qF 'T \<img src=x\> \[l\](http://e)' "$T/destroy.out"
check "... neither raw" bash -c "! grep -qP '(?<!\\\\)<(!-- hide|img)' '$T/destroy.out'"
check "... and where the report is kept" \
  grep -q "^This report is kept in $KROOT/lib/datasets/$ID/destruction-report.txt (kuractl report destruction $ID" "$T/destroy.out"
check "... a file that holds it" cmp -s <(sed -n '1,/^Verified after destruction/p' "$T/destroy.out" | head -n -2) "$KROOT/lib/datasets/$ID/destruction-report.txt"
check "the keystore holds nothing for the dataset" test ! -e "$KROOT/lib/keys/datasets/$ID"
check_fails "no file can be decrypted any more (payloads kept)" readable s2.bin
check "the payloads are still there, as ciphertext" test "$(ls "$KROOT/lib/store/$ID" | wc -l)" = 6
check_output "the ledger records the destruction with the report's hash" "dataset-destroy $ID: active -> destroyed +\[report sha256=[0-9a-f]{64}\]" \
  kuractl ledger "$ID"
check_output "the PI reads the report again, checked against the ledger" "matches ledger record" kc kt_alice report destruction "$ID"
check_output_fails "bob cannot read it" "only (an operator|the PI|operators)" kc kt_bob report destruction "$ID"
kc kt_alice report withdrawal "$ID" JGAS1 --lang en >"$T/wr-destroyed.out" 2>&1
check "the withdrawal report still works after the destruction" \
  bash -c "grep -q '^# Withdrawal report: $ID$' '$T/wr-destroyed.out' && grep -q '^- Sample: JGAS1$' '$T/wr-destroyed.out'"
check "... and says no key is left" test "$(grep -c '| dataset destroyed, no key left |' "$T/wr-destroyed.out")" = 4
check_output_fails "a destroyed dataset takes no users" "destroyed" kuractl user add "$ID" kt_op
check_output_fails "nor imports" "destroyed" kuractl dataset import "$ID" --encrypt "$T/late.bin"
check_output "status shows it destroyed" "^$ID .* destroyed" kuractl status
check_output "user list shows the PI and every grant as destroyed, none valid" "destroyed" kuractl user list "$ID"
check "... no row says valid" bash -c "! '$KURACTL' -c '$KCONF' user list '$ID' | grep -qw valid"
sed -i 's/^Destroyed by: .*/Destroyed by:     somebody else/' "$KROOT/lib/datasets/$ID/destruction-report.txt"
check_output_fails "an edited report no longer matches the ledger" "does not match its ledger record" kuractl report destruction "$ID"
for i in $(seq 1 50); do grep -q KURA_EVENT=destroy "$T/notified.txt" 2>/dev/null && break; sleep 0.1; done
check "notify_command ran for the destruction" grep -q "^KURA_EVENT=destroy" "$T/notified.txt"

# ---- lockdown / unlock (the state and its record; the mount's side is kurafs') ----
check_output_fails "the PI cannot lock the server down" "only (an operator|the PI|operators)" kc kt_alice lockdown --reason x
check "operator op locks the server down" kc kt_op lockdown --reason "incident 42"
check_output "everyone's status says so" "^LOCKDOWN since .*incident 42" kc kt_bob status
check_output_fails "a second lockdown is refused, naming the first" "locked down already .*incident 42" kuractl lockdown --reason again
check_output "the audit log records it" "lockdown .*reason: incident 42" kuractl audit
check "root unlocks" kuractl unlock
check "status no longer says lockdown" bash -c "out=\$('$KURACTL' -c '$KCONF' status) && ! grep -q LOCKDOWN <<<\"\$out\""
check_output_fails "unlock when not locked down is refused" "not locked down" kuractl unlock
echo 'not json' >"$KROOT/lib/lockdown"
check_output "an unreadable lockdown file counts as lockdown (fail closed)" "LOCKDOWN: every dataset is refused" kuractl status
check "unlock clears it" kuractl unlock
check "the audit log still verifies" kuractl audit verify
kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null

# --payloads
require "second dataset" kuractl dataset add DESTROY2 --pi kt_alice --period "$(day 0)..$(day 9)"
require "import" kuractl dataset import DESTROY2 --encrypt "$T/data"
check "destroy --payloads" kuractl dataset destroy DESTROY2 --yes --payloads
check "the store holds nothing of it either" test ! -e "$KROOT/lib/store/DESTROY2"

# ---- kill -9 during destroy: running it again finishes ----
N=${KILL_ITERATIONS:-10}
bad=0
# after_kill K WHAT: the ledger verifies, a re-run finishes, no key is left
# (nor one whose erasure a kill cut short), the report matches the ledger
after_kill() {
  kuractl ledger "$1" >/dev/null 2>&1 || { bad=$((bad + 1)); diag "$2: ledger does not verify"; return; }
  kuractl dataset destroy "$1" --yes >/dev/null 2>&1 || { bad=$((bad + 1)); diag "$2: re-run failed"; return; }
  [ ! -e "$KROOT/lib/keys/datasets/$1" ] || { bad=$((bad + 1)); diag "$2: keys left"; }
  [ -z "$(ls -A "$KROOT/lib/keys/.destroying" 2>/dev/null)" ] || { bad=$((bad + 1)); diag "$2: an erasure left unfinished"; }
  kuractl report destruction "$1" >/dev/null 2>&1 || { bad=$((bad + 1)); diag "$2: report does not match"; }
}
for i in $(seq 1 "$N"); do
  K=DKILL$i
  kuractl dataset add "$K" --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
  kuractl dataset import "$K" --encrypt "$T/data" >/dev/null
  "$KURACTL" -c "$KCONF" dataset destroy "$K" --yes >/dev/null 2>&1 &
  pid=$!
  sleep "0.0$((RANDOM % 6))$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  after_kill "$K" "iteration $i"
done
check "kill -9 during destroy, $N times: a second run finishes, report matches the ledger" test "$bad" = 0
# The same before each of destroy's system calls that change a name
kuractl dataset add DSTEP0 --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
kuractl dataset import DSTEP0 --encrypt "$T/data" >/dev/null
steps=$(name_steps "$KURACTL" -c "$KCONF" dataset destroy DSTEP0 --yes)
nsteps=$(grep -c . <<<"$steps")
check "destroy's steps are seen (control)" test "$nsteps" -ge 4
bad=0 i=0
while read -r -u 3 point; do
  i=$((i + 1))
  kuractl dataset add "DSTEP$i" --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
  kuractl dataset import "DSTEP$i" --encrypt "$T/data" >/dev/null
  kill_at "$point" "$KURACTL" -c "$KCONF" dataset destroy "DSTEP$i" --yes
  after_kill "DSTEP$i" "killed $point"
done 3< <(kill_points 0 0 "$steps")
check "kill -9 before each of destroy's $nsteps steps: a second run finishes, report matches the ledger" test "$bad" = 0
done_testing
