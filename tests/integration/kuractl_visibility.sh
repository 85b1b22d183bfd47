#!/usr/bin/env bash
# What the operator and the PI can see of the server (issue 20 section 3):
# dataset files lists each file's state, size, samples and path with the
# file count, to the dataset's PI and operators only; status tells the
# operator each dataset's file count and whether kurafs runs and is mounted,
# with a warning when it is down; a change made while it is down says it
# applies at the next mount; kurafs -f echoes its notices on stderr (syslog
# is absent on many machines). A user's status shows them their own recent
# refusals with the reason and their grants' history (issue 20 section 2):
# a copy tool refused by the guard, an access ended by the PI; an outsider
# learns nothing of datasets they were never listed in; help says truthfully
# who may run audit, and a user is not told to run root's init.
. "$(dirname "$0")/lib.sh"

ID=JGAD000071
for u in kt_alice kt_bob kt_carol kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
mkdir -p "$T/data/S1" "$T/data/S2"
head -c 1000 /dev/urandom >"$T/data/S1/reads.bin"
head -c 2345 /dev/urandom >"$T/data/S2/reads.bin"
head -c 77 /dev/urandom >"$T/data/notes.txt"
chmod -R a+rX "$T/data"
printf 'S1/reads.bin\tJGAS000711\nS2/reads.bin\tJGAS000712\n' >"$T/samples.tsv"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import with samples" kuractl dataset import "$ID" --encrypt --samples "$T/samples.tsv" "$T/data"
kuractl status >"$T/down.out" 2>&1
check "status while kurafs is down warns the operator" \
  grep -q "^daemon: WARNING: kurafs is not running .*changes take effect when it is next mounted" "$T/down.out"
kuractl user add "$ID" kt_bob >"$T/add.out" 2>&1
check "a change while kurafs is down says it applies at the next mount" \
  grep -q "kurafs is not running; the change is saved and takes effect when it is next mounted" "$T/add.out"
require "withdraw JGAS000711" kuractl withdraw "$ID" JGAS000711 --ref "consent withdrawn (test)" --yes

# ---- dataset files ----
kuractl dataset files "$ID" >"$T/files.out" 2>&1
check "dataset files: the withdrawn sample's file, its size and sample" \
  grep -Eq '^withdrawn +1000  JGAS000711  S1/reads.bin$' "$T/files.out"
check "... the other sample's file is served" grep -Eq '^served +2345  JGAS000712  S2/reads.bin$' "$T/files.out"
check "... a file with no sample says so" grep -Eq '^served +77  -  notes.txt$' "$T/files.out"
check "... and the count and total" grep -q "^3 file(s), 3422 bytes in dataset $ID$" "$T/files.out"
kuractl dataset files "$ID" --json >"$T/files.json" 2>&1
check "dataset files --json: one array, parsed as JSON, each object the text row (size in exact bytes)" /usr/bin/python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
text = [l for l in open(sys.argv[2]).read().split("\n")[1:] if l and not l[0].isdigit()]
assert isinstance(rows, list) and len(rows) == len(text) == 3, (rows, text)
for o, l in zip(rows, text):
    samples, path = l[27:].split("  ", 1)
    want = {"state": l[0:10].strip(), "size": int(l[11:25]), "samples": "" if samples == "-" else samples, "path": path}
    assert o == want, (o, want)
assert sum(o["size"] for o in rows) == 3422
assert {o["path"]: o["state"] for o in rows}["S1/reads.bin"] == "withdrawn"
' "$T/files.json" "$T/files.out"
require "mount" mount_kura "$T/mnt"
kuractl status >"$T/up.out" 2>&1
check "status: kurafs running and mounted, with its pid" \
  grep -q "^daemon: kurafs (pid $KURAFS_PID) running, mounted at $T/mnt$" "$T/up.out"
check "... and no warning" test "$(grep -c WARNING "$T/up.out")" = 0
check "... the operator view counts the dataset's files" grep -Eq "^$ID +JGA .* 1 +3  active$" "$T/up.out"
check_output "a kura-admin operator (through the daemon) sees the same" "^daemon: kurafs \\(pid $KURAFS_PID\\) running, mounted at" \
  as kt_op "$KURACTL" -c "$KCONF" status
check_output_fails "the daemon question is the operator's" "operator" as kt_bob "$KURACTL" -c "$KCONF" daemon
kuractl dataset extend "$ID" --until "$(day 40)" --ref "extension (test)" >"$T/rm.out" 2>&1
check "a change while kurafs runs says nothing of a next mount" test "$(grep -c "next mounted" "$T/rm.out")" = 0
check_output "the PI may list the files" "S2/reads.bin" as kt_alice "$KURACTL" -c "$KCONF" dataset files "$ID"
check_output_fails "a listed user may not" "PI" as kt_bob "$KURACTL" -c "$KCONF" dataset files "$ID"
check_fails "an outsider may not" as kt_carol "$KURACTL" -c "$KCONF" dataset files "$ID"
check_output_fails "an unknown dataset is refused" "JGAD999999" kuractl dataset files JGAD999999
# ---- a user's own refusals and grant history ----
M=$T/mnt/$ID
bst() { as kt_bob "$KURACTL" -c "$KCONF" status; }
check "bob reads a served file" as kt_bob cmp -s "$M/S2/reads.bin" "$T/data/S2/reads.bin"
check_fails "bob's cp is refused by the guard" as kt_bob cp "$M/S2/reads.bin" /dev/null
check_output "bob's status: the copy tool refused, with the file" "$ID +S2/reads.bin: copy-out tool refused: cp$" bst
check_output "... and his grant's history (added by an operator: root)" "^$ID .* add +by an operator " bst
check_fails "carol (never listed) is refused" as kt_carol cat "$M/S2/reads.bin"
check_fails "... also for a dataset that does not exist" as kt_carol cat "$T/mnt/JGAD999998/x"
as kt_carol "$KURACTL" -c "$KCONF" status >"$T/carol.out" 2>&1
check "carol's status shows her refusals only as not hers" grep -q "refused (not a dataset of yours)$" "$T/carol.out"
check "... never naming the dataset" test "$(grep -c "$ID" "$T/carol.out")" = 0
check "... nor bob's refusals" test "$(grep -c "copy-out" "$T/carol.out")" = 0
require "the PI removes bob" as kt_alice "$KURACTL" -c "$KCONF" user remove "$ID" kt_bob
check_fails "bob is refused now" as kt_bob cat "$M/S2/reads.bin"
check_output "bob's status: access ended, removed by the PI" "$ID .*: access ended 20[0-9-]+T[^ ]+ \(removed by the PI\)$" bst
check_output "... and the removal in his grant's history" "^$ID .* remove +by the PI " bst
check "... naming no other user" test "$(bst | grep -c 'kt_')" = 0
for i in 1 2 3 4 5; do
  as kt_alice "$KURACTL" -c "$KCONF" user add "$ID" kt_bob >/dev/null 2>&1
  as kt_alice "$KURACTL" -c "$KCONF" user remove "$ID" kt_bob >/dev/null 2>&1
done
check "... all 12 of his grant's changes, in order, after five more adds and removes" \
  test "$(bst | grep -E "^$ID .* (add|remove) +by " | awk '{print $3}' | tr '\n' ' ')" = "add remove add remove add remove add remove add remove add remove "

# ---- help and advice that fit the caller ----
as kt_bob "$KURACTL" -c "$KCONF" --help >"$T/help.out" 2>&1
check "help lists audit and audit summary with the PI's commands, not under Anyone" \
  test "$(sed -n '/^Anyone:/,$p' "$T/help.out" | grep -c 'kuractl audit ')" = 0 -a "$(grep -c '^  kuractl audit \[--dataset ' "$T/help.out")" = 1 -a "$(grep -c '^  kuractl audit summary ' "$T/help.out")" = 1
check_output "audit --help says who may run it" "Who may run it: an operator, or a PI for their own datasets' records" \
  as kt_bob "$KURACTL" -c "$KCONF" audit --help
check_output_fails "a researcher's audit is refused" "only operators and the PI" as kt_bob "$KURACTL" -c "$KCONF" audit
out=$(as kt_bob "$KURACTL" -c "$T/none.conf" status 2>&1)
check "a user without a config is not told to run kuractl init" test "$(grep -c 'kuractl init' <<<"$out")" = 0
check "... but what they can do" grep -q "does not exist: kura is not set up here.*-c FILE" <<<"$out"
check_output_fails "root is still told to run init" "create it with: kuractl init" "$KURACTL" -c "$T/none.conf" status

require "suspend" kuractl dataset suspend "$ID" --reason "audit (test)"
check "a suspended dataset's files say so" grep -Eq '^suspended +2345 ' <(kuractl dataset files "$ID")
check "... a withdrawn file stays withdrawn" grep -Eq '^withdrawn +1000 ' <(kuractl dataset files "$ID")

# ---- kurafs -f: notices on stderr ----
check "kurafs -f says on stderr that it serves" grep -q "^kurafs 0\.[0-9.]* serving $T/mnt$" "$KURAFS_LOG"
cp -p "$KROOT/lib/datasets/$ID/dataset.ini" "$T/dataset.ini.good"
echo "garbage" >>"$KROOT/lib/datasets/$ID/dataset.ini"
kuractl reload >/dev/null 2>&1
for i in $(seq 1 50); do grep -q "reload refused" "$KURAFS_LOG" && break; sleep 0.1; done
check "a refused reload is told on stderr, naming the file" \
  grep -q "^kurafs: reload refused, still serving the last good state: .*dataset.ini" "$KURAFS_LOG"
cp -p "$T/dataset.ini.good" "$KROOT/lib/datasets/$ID/dataset.ini"
stop_kura "$T/mnt"

done_testing
