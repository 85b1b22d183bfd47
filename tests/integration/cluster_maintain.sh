#!/usr/bin/env bash
# Cluster mode (issue 19; R-LOG-4, R-LOG-7, R-LOG-9 and R-REV-2 on a
# cluster): the daemons' maintenance over the one shared state directory is
# done by one node at a time, the holder of the maintainer claim in the
# database. With three nodes, each reminder, each expiry notice and the
# weekly audit summary goes out once (counted as notify_command runs);
# kuractl audit summary on any node (the daemon's summary reads the same
# way) counts the opens made on every node; a change of group kura-admin is
# recorded once and the register verifies; after the maintainer is killed
# -9, another node takes over within a bound and sends what fell due
# meanwhile, once; a maintainer stopped cleanly hands over at once.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000111 LATE=JGAD000112 ENDS=JGAD000113 BOTH=JGAD000114 OPR=kt_opclu
for u in kt_alice kt_bob "$OPR"; do make_user "$u"; done
make_group kura-admin
on_exit "gpasswd -d $OPR kura-admin >/dev/null 2>&1"
require "PostgreSQL, kuractl init, cluster init" cluster_setup
NOTES=$T/notices
notice_lines "$NOTES"
sed -i "s|^summary_weekday = .*|summary_weekday = $(TZ=Asia/Tokyo date +%a | tr 'A-Z' 'a-z')|" "$KCONF"
# Ends in 30 days: its 40-day reminder is due at once.
require "a dataset of alice's" one_file_dataset "$ID" kt_alice f.bin 4096
require "bob listed" kuractl user add "$ID" kt_bob
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3'
for i in 1 2 3; do require "mount node n$i" mount_node "$i"; done
reads() { as "$1" head -c 4096 "$T/m$2/$ID/f.bin" >/dev/null; }
for i in 1 2 3; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done

q() { psql "$PG_CONN" -tAc "$1"; }
sent() { grep -c "^$1 " "$NOTES" 2>/dev/null; }
# registered ACTION: how many records of OPR's ACTION (added, removed) the register has
registered() { grep "\"action\":\"operator-$1\"" "$KROOT/lib/operators.jsonl" | grep -c "\"target\":\"$OPR\""; }
has_record() { [ "$(registered "$1")" -ge 1 ]; }
# ticks_pass: the maintainer renewed its claim (for three leases) two
# leases after now, so every node has ticked since (each ticks once a lease).
claimed_until() { [ "$(q "select until >= '$1'::timestamptz from kura.maintainer")" = t ]; }
ticks_pass() {
  local t0
  t0=$(q "select clock_timestamp() + interval '$((CLUSTER_LEASE * 5)) seconds'") &&
    wait_for $((CLUSTER_LEASE * 10)) claimed_until "$t0"
}

check "the weekly summary goes out" wait_for 30 grep -q '^audit-summary ' "$NOTES"
check "the dataset's deadline reminder goes out" wait_for 30 grep -q "^expiry-warning $ID " "$NOTES"
changes_before=$(sent operator-change)
usermod -a -G kura-admin "$OPR"
check "the maintenance records $OPR's addition to kura-admin" wait_for 30 has_record added
check "every node ticked twice more" ticks_pass
check "the summary was sent once, not by each of 3 nodes ($(sent audit-summary))" test "$(sent audit-summary)" = 1
check "the reminder was sent once ($(sent "expiry-warning $ID"))" test "$(sent "expiry-warning $ID")" = 1
check "the addition was recorded once" test "$(registered added)" = 1
check "its notice went out once" test "$(sent operator-change)" = $((changes_before + 1))
check "the summary is marked sent in reminders.tsv" \
  grep -q "^-	-	audit-summary $(TZ=Asia/Tokyo date +%F)	" "$KROOT/lib/reminders.tsv"

# A reminder that falls due while all three run (each node reloads the
# change and ticks at once).
require "dataset $BOTH, its 60-day reminder due now" kuractl dataset add "$BOTH" --pi kt_alice --period "$(day -1)..$(day 50)"
check "its reminder goes out" wait_for 30 grep -q "^expiry-warning $BOTH " "$NOTES"
check "every node ticked twice more" ticks_pass
check "... once, though every node saw it due ($(sent "expiry-warning $BOTH"))" test "$(sent "expiry-warning $BOTH")" = 1
holder=$(q "select holder from kura.maintainer")
check "one node holds the maintenance ($holder)" grep -qx 'n[123]' <<<"$holder"

# ---- the summary covers every node's records (the central store) ----
since=$(TZ=Asia/Tokyo date +%F)
for i in 1 2 3; do reads kt_bob "$i"; done
# bob's opens allowed in node I's own audit log, counted apart
opens_in() {
  python3 -c 'import json, sys; print(sum(1 for l in open(sys.argv[1]) for r in [json.loads(l)] if r["event"] == "open" and r["decision"] == "allow" and r.get("user") == "kt_bob"))' \
    "$KROOT/log/n$1.jsonl"
}
for i in 1 2 3; do check "node n$i's own log has bob's opens" test "$(opens_in "$i")" -ge 1; done
all=$(($(opens_in 1) + $(opens_in 2) + $(opens_in 3)))
# bob_opens I N: kuractl audit summary on node nI counts N opens of bob's
bob_opens() {
  nodectl "$1" audit summary --since "$since" --json >"$T/summary.json" &&
    python3 -c 'import json, sys; u = [x for x in json.load(open(sys.argv[1]))["users"] if x["user"] == "kt_bob"]; sys.exit(not (u and u[0]["opens"] == int(sys.argv[2])))' \
      "$T/summary.json" "$2"
}
check "audit summary on n2 counts bob's opens on all three nodes ($all)" wait_for 15 bob_opens 2 "$all"
[ -s "$T/summary.json" ] && diag "n2's summary: $(head -c 400 "$T/summary.json")"
check "... and on n3 the same" bob_opens 3 "$all"

# ---- the maintainer killed -9: another node takes over ----
dead=${holder#n}
kill -9 "${NODE_PID[$dead]}"; wait "${NODE_PID[$dead]}" 2>/dev/null
fusermount3 -u "$T/m$dead" 2>/dev/null || umount -l "$T/m$dead"
killed=$EPOCHREALTIME
alive=$((dead % 3 + 1))
end=$(date -d '+10 seconds' --iso-8601=seconds)
require "dataset $ENDS ending at $end (while $holder is dead)" \
  nodectl "$alive" dataset add "$ENDS" --pi kt_alice --period "$(day -1)..$end"
require "dataset $LATE, its 60-day reminder due now" \
  nodectl "$alive" dataset add "$LATE" --pi kt_alice --period "$(day -1)..$(day 50)"
check "another node sends $LATE's reminder" wait_for $((CLUSTER_LEASE * 10)) grep -q "^expiry-warning $LATE " "$NOTES"
diag "taken over and sent $(awk -v a="$killed" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s after the kill (lease $CLUSTER_LEASE s, claim $((CLUSTER_LEASE * 3)) s)"
check "... and the expiry notice of $ENDS" wait_for $((CLUSTER_LEASE * 10)) grep -q "^expired $ENDS " "$NOTES"
now_holder=$(q "select holder from kura.maintainer")
check "the maintenance moved to a live node ($now_holder)" test "$now_holder" != "$holder"
check "every node ticked twice more" ticks_pass
check "$LATE's reminder was sent once" test "$(sent "expiry-warning $LATE")" = 1
check "$ENDS's expiry notice was sent once" test "$(sent "expired $ENDS")" = 1
check "nothing sent before was sent again" \
  test "$(sent audit-summary) $(sent "expiry-warning $ID") $(sent "expiry-warning $BOTH") $(sent operator-change)" = \
  "1 1 1 $((changes_before + 1))"

# ---- the operator register's chain, after all nodes ran ----
gpasswd -d "$OPR" kura-admin >/dev/null
check "the maintenance records $OPR's removal" wait_for 30 has_record removed
for i in 1 2 3; do [ "$i" = "$dead" ] || check_output "the register verifies (kuractl operators on n$i)" \
  "register of group kura-admin verified" nodectl "$i" operators; done
check "the removal was recorded once" test "$(registered removed)" = 1

# ---- the maintainer stopped cleanly: it hands the maintenance over at once ----
holder=$(q "select holder from kura.maintainer")
left=$((6 - dead - ${holder#n})) # the one other live node
require "$holder stops cleanly" stop_node "${holder#n}"
# (ended, or already taken by n$left: a claim is taken only once it ended)
check "its claim ended with its stop, not three leases later" \
  test "$(q "select until <= clock_timestamp() or holder <> '$holder' from kura.maintainer")" = t
holder_is() { [ "$(q "select holder from kura.maintainer where until > clock_timestamp()")" = "$1" ]; }
check "n$left takes the maintenance within two leases (a tick each lease), not after the claim's three" \
  wait_for $((CLUSTER_LEASE * 2)) holder_is "n$left"
for i in 1 2 3; do [ "$i" = "$dead" ] || [ "n$i" = "$holder" ] || stop_node "$i"; done
done_testing
