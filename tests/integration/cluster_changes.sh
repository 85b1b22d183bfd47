#!/usr/bin/env bash
# Cluster mode (issue 19, guarantees 1 and 5; R-CLU-1, R-CLU-5) for the changes
# cluster_change.sh does not make: withdraw, suspend/resume, extend, user
# add, set-pi, dataset add and import, key rotate and retire, and destroy
# each reach all three nodes before the command returns. Every check runs the moment the command returned, with no wait
# and no retry: the guarantee is "when it returns". An open handle of a
# withdrawn file is refused on its very next read on every node. The
# daemons' own expiry destroy, raced by three nodes, is made once and
# applied by every node.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000094
EXT=JGAD000095
install -m 0755 "$KURA_TOP/tests/helpers/hold_read.py" "$KURA_USER_BIN/"
for u in kt_alice kt_bob kt_carol kt_dave; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup
require "dataset add, import with samples JGAS000201 and JGAS000202" two_sample_dataset "$ID" 4 JGAS000201 JGAS000202
require "user add kt_bob" kuractl user add "$ID" kt_bob
# $EXT's period ends a few seconds from now, before the extend below.
end=$(date -d '+3 seconds' --iso-8601=seconds)
require "dataset $EXT ending at $end" kuractl dataset add "$EXT" --pi kt_alice --period "$(day -1)..$end"
require "import into $EXT" kuractl dataset import "$EXT" --encrypt --samples "$T/samples.tsv" "$T/data"
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3'
for i in 1 2 3; do require "mount node n$i" mount_node "$i"; done
F() { echo "$T/m$1/$2/${3:-S2/reads.bin}"; }
reads() { as "$1" head -c 4096 "$(F "$2" "${3:-$ID}" "${4:-S2/reads.bin}")" >/dev/null; }
for i in 1 2 3; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done

# ---- withdraw: the sample's file, and its open handles, on every node ----
mkdir -p "$T/h" && chmod 0777 "$T/h"
pids=()
for i in 1 2 3; do
  as kt_bob /usr/bin/python3 "$KURA_USER_BIN/hold_read.py" "$(F "$i" "$ID" S1/reads.bin)" "$T/h/go" >"$T/h/bob$i" 2>&1 &
  pids+=($!)
done
on_exit "kill ${pids[*]}"
check "kt_bob holds S1/reads.bin open on each node" wait_for 10 grep -q '^first ok' "$T/h/bob1" "$T/h/bob2" "$T/h/bob3"
check "withdraw JGAS000201" kuractl withdraw "$ID" JGAS000201 --ref "consent withdrawn (cluster test)" --yes
touch "$T/h/go"
for i in 1 2 3; do check_fails "after withdraw returned, n$i does not open S1/reads.bin" reads kt_bob "$i" "$ID" S1/reads.bin; done
for i in 1 2 3; do check "after withdraw returned, n$i lists no S1/reads.bin" \
  sh -c "! setpriv --reuid=kt_bob --regid=\$(id -g kt_bob) --init-groups ls '$T/m$i/$ID/S1' 2>/dev/null | grep -q reads.bin"; done
wait "${pids[@]}" 2>/dev/null
for i in 1 2 3; do check "kt_bob's open handle on n$i is refused on its next read" grep -q '^second EACCES' "$T/h/bob$i"; done
for i in 1 2 3; do check "n$i still serves the other sample's file" reads kt_bob "$i"; done

# ---- user add: a new user reads on every node right away ----
for i in 1 2 3; do check_fails "before user add, n$i refuses kt_carol" reads kt_carol "$i"; done
check "user add kt_carol" kuractl user add "$ID" kt_carol
for i in 1 2 3; do check "after user add returned, n$i serves kt_carol" reads kt_carol "$i"; done

# ---- set-pi: the PI's rights move on every node ----
check "set-pi kt_dave" kuractl dataset set-pi "$ID" kt_dave
for i in 1 2 3; do check "after set-pi returned, n$i serves the new PI" reads kt_dave "$i"; done
for i in 1 2 3; do check_fails "after set-pi returned, n$i refuses the old PI" reads kt_alice "$i"; done

# ---- suspend and resume ----
check "dataset suspend" kuractl dataset suspend "$ID" --reason "cluster test"
for i in 1 2 3; do check_fails "after suspend returned, n$i refuses" reads kt_bob "$i"; done
check "dataset resume" kuractl dataset resume "$ID"
for i in 1 2 3; do check "after resume returned, n$i serves" reads kt_bob "$i"; done

# ---- extend: a period that ended serves again on every node ----
for i in 1 2 3; do check "n$i refuses $EXT once its period ended" wait_for 15 sh -c "! setpriv --reuid=kt_alice --regid=\$(id -g kt_alice) --init-groups head -c 1 '$(F "$i" "$EXT")' >/dev/null 2>&1"; done
check "dataset extend" kuractl dataset extend "$EXT" --until "$(day 30)" --ref "EXT-1"
for i in 1 2 3; do check "after extend returned, n$i serves $EXT" reads kt_alice "$i" "$EXT"; done

# ---- a change waiting for one dataset holds up no change of another: a
# change waiting for $ID's lock (held here for 10 s, as a long change of
# it would) holds no cluster lock while it waits ----
flock "$KROOT/lib/datasets/$ID/.lock" sleep 10 &
holder=$!
on_exit "kill $holder"
sleep 0.5
kuractl dataset suspend "$ID" --reason "after the report" >"$T/waiter.out" 2>&1 &
waiter=$!
sleep 1
s=$EPOCHREALTIME
check "while a change of $ID waits for $ID's lock, user add on $EXT goes through" kuractl user add "$EXT" kt_carol
took=$(awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.1f", e - s}')
check "... at once ($took s; $ID's lock is held for 10 s)" awk -v t="$took" 'BEGIN {exit !(t < 5)}'
wait "$waiter"
rc=$?
check "the change of $ID went through once the lock was let go (exit $rc: $(tr '\n' ' ' <"$T/waiter.out"))" test "$rc" = 0
wait "$holder"
check "dataset resume after it" kuractl dataset resume "$ID"
for i in 1 2 3; do check "n$i serves $ID again" reads kt_bob "$i"; done

# ---- report checklist appends to the shared ledger under the cluster's
# lock, as a change does: the dataset's lock does not reach other nodes,
# and two appends at once would fork the ledger's hash chain ----
PGAPPNAME=kt_locker psql "$PG_CONN" -qtAc "select pg_advisory_lock(1802859105), pg_sleep(4)" >/dev/null 2>&1 &
locker=$!
on_exit "kill $locker"
lock_held() { [ "$(psql "$PG_CONN" -tAc "select count(*) from pg_locks where locktype = 'advisory' and objid = 1802859105 and granted")" = 1 ]; }
require "the test holds the cluster's lock" wait_for 10 lock_held
s=$EPOCHREALTIME
check "report checklist while the test holds the cluster's lock" quietly kuractl report checklist "$EXT" --json
took=$(awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.1f", e - s}')
check "... waited for it ($took s; held 4 s)" awk -v t="$took" 'BEGIN {exit !(t >= 2)}'
wait "$locker"
check_output "the ledger of $EXT records it and verifies" "checklist-report $EXT" kuractl ledger "$EXT"

# ---- dataset add and import: a dataset added now is served on every node ----
NEW=JGAD000096
check "dataset add $NEW" kuractl dataset add "$NEW" --pi kt_carol --period "$(day -1)..$(day 30)"
for i in 1 2 3; do check "after dataset add returned, n$i shows $NEW to its PI" as kt_carol test -d "$T/m$i/$NEW"; done
check "import into $NEW" kuractl dataset import "$NEW" --encrypt --samples "$T/samples.tsv" "$T/data"
for i in 1 2 3; do check "after import returned, n$i serves $NEW to its PI" reads kt_carol "$i" "$NEW"; done

# ---- key rotate and retire: every node still serves (docs/cluster.md: a
# node reopens its keys when an unwrap fails) ----
old=$(kuractl key list | awk '$1 == "current" {print $2}')
# rename_calls TRACE: how many rename(2)s of a strace TRACE come up to and
# including the one that puts server.pub in place
rename_calls() { awk '/^[0-9]+ +rename\(/ { n++ } /^[0-9]+ +rename\(.*server\.pub"/ { print n; exit }' "$1"; }
check "key rotate (traced: its renames counted)" \
  env ASAN_OPTIONS=detect_leaks=0 strace -qq -f -o "$T/rotate.trace" -e trace=rename "$KURACTL" -c "$KCONF" key rotate
for i in 1 2 3; do check "after key rotate returned, n$i serves $NEW" reads kt_carol "$i" "$NEW"; done
# A rotation that fails between its new server.sec and its server.pub
# (the rename that puts server.pub in place fails, injected with strace)
# has switched keys all the same: it goes on as a rotation, announced and
# recorded, instead of leaving a new current key nobody was told of.
nth=$(rename_calls "$T/rotate.trace")
diag "server.pub is rename number ${nth:-?} of a rotation"
failed_at_pub() {
  env ASAN_OPTIONS=detect_leaks=0 strace -qq -f -o /dev/null -e trace=rename \
    -e inject=rename:error=EIO:when="$nth" "$KURACTL" -c "$KCONF" key rotate
}
before=$(kuractl key list | awk '$1 == "current" {print $2}')
check_output "key rotate with server.pub's rename failing (EIO) says so and goes on" \
  "server.pub is now written again from it: the rotation goes on" failed_at_pub
now=$(kuractl key list | awk '$1 == "current" {print $2}')
check "key list shows the new key as current ($now, was $before)" test -n "$now" -a "$now" != "$before"
check "the change is done in the database, not dropped" \
  test "$(psql "$PG_CONN" -tAc "select state from kura.epochs where fingerprint = '$now'")" = done
for i in 1 2 3; do check "after it returned, n$i holds the new key as current" \
  sh -c "'$KURACTL' -c '$T/n$i.conf' status | grep -q '$now (current)'"; done
for i in 1 2 3; do check "after it returned, n$i serves $NEW" reads kt_carol "$i" "$NEW"; done
check "the audit log records the rotation to $now" grep -q "key-rotate server key: $before -> $now" "$KROOT/log/audit.jsonl"
check "key retire of the old server key" kuractl key retire "$old" --yes
for i in 1 2 3; do check "after key retire returned, n$i serves $ID" reads kt_bob "$i"; done

# ---- destroy: no node serves the dataset once it returned ----
check "dataset destroy" kuractl dataset destroy "$ID" --yes
for i in 1 2 3; do check_fails "after destroy returned, n$i refuses kt_bob" reads kt_bob "$i"; done
for i in 1 2 3; do check_fails "after destroy returned, n$i refuses the PI" reads kt_dave "$i"; done

# ---- the daemons' own expiry destroy (grace 0), with three nodes racing ----
EXP=JGAD000098
for i in 1 2 3; do stop_node "$i"; done
for i in 1 2 3; do sed -i 's|^grace_days = .*|grace_days = 0|' "$T/n$i.conf"; done
end=$(date -d '+3 seconds' --iso-8601=seconds)
require "dataset $EXP ending at $end" kuractl dataset add "$EXP" --pi kt_alice --period "$(day -1)..$end"
require "import into $EXP" kuractl dataset import "$EXP" --encrypt --samples "$T/samples.tsv" "$T/data"
for i in 1 2 3; do require "mount node n$i (grace 0)" mount_node "$i"; done
check "a node's daemon destroys $EXP once its period ended" wait_for 30 sh -c \
  "grep -q '^status = destroyed' '$KROOT/lib/datasets/$EXP/dataset.ini' && [ ! -e '$KROOT/lib/keys/datasets/$EXP' ]"
check "one destroy, though three daemons saw the end" \
  test "$(grep -c '"action":"dataset-destroy"' "$KROOT/lib/datasets/$EXP/ledger.jsonl")" = 1
E=$(psql "$PG_CONN" -tAc "select max(epoch) from kura.epochs where dataset = '$EXP' and change = 'dataset-destroy' and state = 'done'")
check "the destroy was announced as an epoch ($E)" test -n "$E"
for i in 1 2 3; do check "n$i applied the destroy's epoch" wait_for 10 sh -c \
  "test \"\$(psql '$PG_CONN' -tAc \"select applied_epoch from kura.nodes where name = 'n$i'\")\" -ge '$E'"; done
for i in 1 2 3; do check_fails "n$i refuses the PI of the destroyed $EXP" reads kt_alice "$i" "$EXP"; done

for i in 1 2 3; do stop_node "$i"; done
done_testing
