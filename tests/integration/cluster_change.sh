#!/usr/bin/env bash
# Cluster mode (issue 19), changes across nodes (R-CLU-1): a change returns only when
# every live node has applied it (or that node's lease ended), and from
# then on no node serves what it forbids, open handles included; a change
# made while a node is cut off returns once that node's lease ended, and
# the node catches up before it serves again; a node killed -9 misses a
# change and applies it when restarted; kuractl killed -9 at each
# step of a change leaves no half-done epoch: the next change resolves it.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000091
install_reader
for u in kt_alice kt_bob kt_carol kt_dave; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup
require "dataset add, import" one_file_dataset "$ID" kt_alice x.bin 524288

# ---- a change looks at the operators (R-LOG-7) under its own lock, on its one connection ----
make_user kt_opchg && make_group kura-admin
on_exit "gpasswd -d kt_opchg kura-admin >/dev/null 2>&1"
usermod -a -G kura-admin kt_opchg
psql "$PG_CONN" -qc "alter system set log_connections = on" -c "select pg_reload_conf()" >/dev/null
logs_connections() { [ "$(psql "$PG_CONN" -tAc "show log_connections")" = on ]; }
require "PostgreSQL logs connections" wait_for 5 logs_connections
kuractl_sessions() { grep -c 'connection authorized: .*application_name=kuractl' "$PG_DIR/server.log"; }
before=$(kuractl_sessions)
require "user add kt_bob" kuractl user add "$ID" kt_bob
check "the change recorded kt_opchg's addition to kura-admin" \
  grep -q '"action":"operator-added".*"target":"kt_opchg"' "$KROOT/lib/operators.jsonl"
check "... on its one database session, not a second one after it ($(($(kuractl_sessions) - before)))" \
  test "$(($(kuractl_sessions) - before))" = 1
for u in kt_carol kt_dave; do require "user add $u" kuractl user add "$ID" "$u"; done
require "proxy" start_proxy n3
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3 "$(proxy_conn n3)"'
for i in 1 2 3; do require "mount node n$i" mount_node "$i"; done
F() { echo "$T/m$1/$ID/x.bin"; }
reads() { as "$1" head -c 4096 "$(F "$2")" >/dev/null; }
for i in 1 2 3; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done

# ---- user remove reaches every node before it returns ----
mkdir -p "$T/r" && chmod 0777 "$T/r"
pids=()
for i in 1 2 3; do as kt_bob /usr/bin/python3 "$READER" "$(F "$i")" "$T/r/bob$i" 60 & pids+=($!); done
on_exit "kill ${pids[*]}"
check "kt_bob holds an open handle on each node" wait_for 10 grep -q '^first ok' "$T/r/bob1" "$T/r/bob2" "$T/r/bob3"
t0=$EPOCHREALTIME
check "user remove (the change)" kuractl user remove "$ID" kt_bob
t1=$EPOCHREALTIME
E=$(latest)
check "the change is stamped into dataset.ini (epoch $E)" grep -qx "epoch = $E" "$KROOT/lib/datasets/$ID/dataset.ini"
for i in 1 2 3; do check "when it returned, n$i had applied epoch $E" test "$(applied "$i")" -ge "$E"; done
for i in 1 2 3; do check_fails "after it returned, n$i refuses kt_bob a new open" reads kt_bob "$i"; done
for i in 1 2 3; do check_output "kt_bob's open handle on n$i is refused" '^refused (EACCES|ENOENT) ' handle_refused "$T/r/bob$i" "$i" kt_bob; done
# Ended by the change's restriction, sent before its durable steps
# (restriction first); the opens refused after it returned, as not listed.
for i in 1 2 3; do check "n$i records the handle ended (changing)" \
  grep -q '"event":"revocation","decision":"deny","reason":"changing","dataset":"'$ID'",.*"user":"kt_bob"' "$KROOT/log/n$i.jsonl"; done
for i in 1 2 3; do check "n$i records the open refused after it returned (not listed)" \
  grep -q '"event":"open","decision":"deny".*"reason":"not listed","dataset":"'$ID'",.*"user":"kt_bob"' "$KROOT/log/n$i.jsonl"; done
last=$(cat "$T"/r/bob? | awk '/^refused/ {print $3}' | sort -n | tail -n 1)
diag "user remove: returned after $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", (b - a) * 1000}') ms; last node refused a read $(awk -v a="$t0" -v b="$last" 'BEGIN {printf "%d", (b - a) * 1000}') ms after the start"
for i in 1 2 3; do check "n$i still serves kt_carol" reads kt_carol "$i"; done
kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null

# ---- a change while n3 is cut off ----
stop_proxy n3
t0=$EPOCHREALTIME
check "user remove kt_carol while n3 is cut off" kuractl user remove "$ID" kt_carol
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}')
diag "the change waited $took ms for n3's lease (lease ${CLUSTER_LEASE} s)"
check "when it returned, n3's lease had ended" \
  test "$(psql "$PG_CONN" -tAc "select lease_until <= now() from kura.nodes where name = 'n3'")" = t
check_fails "n3 refuses (no lease)" reads kt_carol 3
for i in 1 2; do check_fails "n$i refuses kt_carol" reads kt_carol "$i"; done
require "proxy back" start_proxy n3 "${PROXY_PORT[n3]}"
check "n3 serves again once caught up" wait_for $((CLUSTER_LEASE * 5)) reads kt_alice 3
check "n3 applied the change it missed" test "$(applied 3)" -ge "$(latest)"
check_fails "n3 refuses kt_carol after catching up" reads kt_carol 3

# ---- a node killed -9 misses a change, and applies it before it serves ----
kill -9 "${NODE_PID[2]}"; wait "${NODE_PID[2]}" 2>/dev/null
fusermount3 -u "$T/m2" 2>/dev/null || umount -l "$T/m2"
check "user add kt_bob again while n2 is dead" kuractl user add "$ID" kt_bob
check "when it returned, n2's lease had ended" \
  test "$(psql "$PG_CONN" -tAc "select lease_until <= now() from kura.nodes where name = 'n2'")" = t
require "n2 mounted again" mount_node 2
check "restarted n2 serves kt_bob (the change it missed)" wait_for 10 reads kt_bob 2
check "... having applied the latest epoch" test "$(applied 2)" -ge "$(latest)"

# ---- lockdown (server-wide, no dataset) ----
check "lockdown" kuractl lockdown --reason "cluster test"
for i in 1 2 3; do check "when lockdown returned, n$i had applied it" test "$(applied "$i")" -ge "$(latest)"; done
for i in 1 2 3; do check_fails "n$i refuses the PI during the lockdown" reads kt_alice "$i"; done
check "unlock" kuractl unlock
for i in 1 2 3; do check "when unlock returned, n$i serves the PI again" reads kt_alice "$i"; done

# ---- kuractl killed -9 at each step of a change ----
steps=$(name_steps "$KURACTL" -c "$KCONF" dataset suspend "$ID" --reason probe)
kuractl dataset resume "$ID" >/dev/null
n=0
while read -r point <&3; do
  n=$((n + 1))
  kill_at "$point" "$KURACTL" -c "$KCONF" dataset suspend "$ID" --reason "k$n"
  # A listing that finds its journal takes the cluster's lock and finishes it first.
  check "killed $point: a listing leaves no journal behind it" \
    sh -c "'$KURACTL' -c '$KCONF' user list '$ID' >/dev/null && test ! -e '$KROOT/lib/datasets/$ID/.pending'"
  # The next change resolves what the killed one left, then makes its own.
  state=$(awk -F' = ' '$1 == "status" {print $2}' "$KROOT/lib/datasets/$ID/dataset.ini")
  if [ "$state" = suspended ]; then kuractl dataset resume "$ID" >/dev/null 2>&1; else
    kuractl dataset suspend "$ID" --reason "n$n" >/dev/null 2>&1 && kuractl dataset resume "$ID" >/dev/null 2>&1; fi
  check "killed $point: no pending epoch after the next change" no_pending
  for i in 1 2 3; do
    check "killed $point: n$i applied the latest epoch" test "$(applied "$i")" -ge "$(latest)"
  done
  # The killed change's restriction is lifted at a lift notice or at the
  # node's next check, every lease/3 (docs/cluster.md, "Lifted"); a next
  # change that forbids nothing (the resume) sends no lift notice.
  check "killed $point: every node serves kt_dave again within lease/3 + 1 s" \
    wait_for "$(awk -v l="$CLUSTER_LEASE" 'BEGIN {printf "%.2f", l / 3 + 1}')" \
    sh -c "for i in 1 2 3; do setpriv --reuid=kt_dave --regid=\$(id -g kt_dave) --init-groups head -c 1 '$T/m'\$i'/$ID/x.bin' >/dev/null || exit 1; done"
done 3< <(kill_points 0 0 "$steps")
check "kill points were tried" test "$n" -ge 2

for i in 1 2 3; do stop_node "$i"; done
done_testing
