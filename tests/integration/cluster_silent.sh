#!/usr/bin/env bash
# Cluster mode (issue 19), a database that stops answering without closing
# anything (docs/cluster.md, failure table): a fail-over or a firewall
# that forgot the connection leaves a TCP connection open that passes no
# byte, which TCP alone notices only after many minutes. Simulated by the
# test's own proxy (pg_proxy.py, SIGUSR1: every connection open then goes
# silent, new ones are served).
# - A change whose statement gets no answer fails after answer_seconds,
#   says so, and leaves nothing half done.
# - A node whose connections all went silent gives them up within its
#   lease, connects again and serves again; its restriction thread, which
#   only receives, finds out too and hears the next change's restriction;
#   its daemon's kept session for changes is replaced at the next change;
#   its audit records reach the central store.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000094
ANSWER=3
install_reader
for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup
require "dataset add, import" one_file_dataset "$ID" kt_alice x.bin 262144
for u in kt_bob kt_carol; do require "user add $u" kuractl user add "$ID" "$u"; done
for p in n2 ctl; do require "proxy $p" start_proxy "$p"; done
require "node configs" eval 'node_conf 1 && node_conf 2 "$(proxy_conn n2)"'
cp -p "$KCONF" "$T/ctl.conf" && cluster_section "$T/ctl.conf" ctl "$(proxy_conn ctl)"
for f in "$T/n1.conf" "$T/n2.conf" "$T/ctl.conf"; do echo "answer_seconds = $ANSWER" >>"$f"; done
for i in 1 2; do require "mount node n$i" mount_node "$i"; done
F() { echo "$T/m$1/$ID/x.bin"; }
reads() { as "$1" head -c 4096 "$(F "$2")" >/dev/null; }
for i in 1 2; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}'; }
carol_listed() { kuractl user list "$ID" | grep -qw kt_carol; }

# ---- a change whose statement gets no answer ----
# Another session holds the cluster's lock, so kuractl polls for it; its
# path then goes silent in the middle of that.
# (Its backend sleeps on after its psql is killed: it is ended by name.)
PGAPPNAME=kt_locker psql "$PG_CONN" -qtAc "select pg_advisory_lock(1802859105), pg_sleep(120)" >/dev/null 2>&1 &
LOCKER=$!
on_exit "kill $LOCKER"
unlock() { psql "$PG_CONN" -qtAc "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'kt_locker'" >/dev/null; }
lock_held() { [ "$(psql "$PG_CONN" -tAc "select count(*) from pg_locks where locktype = 'advisory' and objid = 1802859105 and granted")" = 1 ]; }
require "another session holds the cluster's lock" wait_for 5 lock_held
before=$(last_epoch)
"$KURACTL" -c "$T/ctl.conf" user remove "$ID" kt_carol >"$T/remove.out" 2>&1 &
RM=$!
on_exit "kill -9 $RM"
kuractl_waits() { [ "$(psql "$PG_CONN" -tAc "select count(*) from pg_stat_activity where application_name = 'kuractl' and query like '%pg_try_advisory_lock%'")" -ge 1 ]; }
require "kuractl is waiting for the lock" wait_for 10 kuractl_waits
kill -USR1 "${PROXY_PID[ctl]}"
t0=$EPOCHREALTIME
check "user remove said the database did not answer" wait_for $((ANSWER + 10)) grep -q "no answer in $((ANSWER * 1000)) ms" "$T/remove.out" ||
  kill -9 "$RM" # still waiting: end it, or the test would wait with it
took=$(ms_since "$t0")
check "... within answer_seconds ($ANSWER s) + 2 s of the silence ($took ms)" test "$took" -le $((ANSWER * 1000 + 2000))
# kuractl goes on to its operator register (on a new connection), which
# waits for the lock: let it have it.
unlock
wait "$RM"; rc=$?
check "user remove failed (status $rc)" test "$rc" -ne 0
diag "$(cat "$T/remove.out")"
kill "$LOCKER" 2>/dev/null; wait "$LOCKER" 2>/dev/null
check "nothing half done: no new epoch ($before)" test "$(last_epoch)" = "$before"
check "... none pending" no_pending
check "... kt_carol is still listed" carol_listed
for i in 1 2; do check "... and node n$i serves her" wait_for 10 reads kt_carol "$i"; done

# ---- every connection of node n2 goes silent ----
restricts() { grep -c 'a change in progress (database backend' "${NODE_LOG[2]}"; }
r0=$(restricts)
s0=$(grep -c 'no answer in' "${NODE_LOG[2]}")
kill -USR1 "${PROXY_PID[n2]}"
t0=$EPOCHREALTIME
gave_up() { [ "$(grep -c "cluster node n2: $1: .*no answer in $((CLUSTER_LEASE * 1000)) ms" "${NODE_LOG[2]}")" -ge 1 ]; }
check "n2's lease thread gave its connection up within lease + 2 s (answer_seconds $ANSWER s is longer than the lease)" \
  wait_for $((CLUSTER_LEASE + 2)) gave_up "cannot renew the lease"
check "n2's restriction thread found out too, within lease + 2 s" \
  wait_for $((CLUSTER_LEASE + 2)) gave_up "cannot check the changes in progress"
check "n2 serves again (new connections) within 2 leases + 3 s ($(ms_since "$t0") ms so far)" \
  wait_for $((2 * CLUSTER_LEASE + 3)) reads kt_bob 2
diag "n2 serves again $(ms_since "$t0") ms after the silence"
check "n2's renewals go on" wait_for $((CLUSTER_LEASE + 2)) sh -c "test \$(psql '$PG_CONN' -tAc \"select count(*) from kura.nodes where name = 'n2' and lease_until > now()\") = 1"

# root's revocation through n2's daemon: its kept session is silent too.
mkdir -p "$T/r" && chmod 0777 "$T/r"
pids=()
for i in 1 2; do as kt_bob /usr/bin/python3 "$READER" "$(F "$i")" "$T/r/bob$i" 60 & pids+=($!); done
on_exit "kill ${pids[*]}"
check "kt_bob holds an open handle on each node" wait_for 10 grep -q '^first ok' "$T/r/bob1" "$T/r/bob2"
t0=$EPOCHREALTIME
check_output "root's user remove through n2's daemon, its kept session silent" \
  "kt_bob may no longer use dataset $ID" timeout 60 "$KURACTL" -c "$T/n2.conf" user remove "$ID" kt_bob
took=$(ms_since "$t0")
check "... returned within lease + 3 s: the kept session was given up after a lease ($took ms)" \
  test "$took" -le $((CLUSTER_LEASE * 1000 + 3000))
check "n2 heard the change's restriction on its new connection" test "$(restricts)" -gt "$r0"
for i in 1 2; do check_output "kt_bob's open handle on n$i is refused" '^refused (EACCES|ENOENT) ' handle_refused "$T/r/bob$i" "$i" kt_bob; done
for i in 1 2; do check_fails "n$i refuses kt_bob a new open" reads kt_bob "$i"; done
check "none pending" no_pending

# n2's audit records, written while and after its path was silent, reach the central store.
local_last() { tail -n 1 "$KROOT/log/n2.jsonl" | sed -n 's/^{"seq":\([0-9]*\),.*/\1/p'; }
central_last() { psql "$PG_CONN" -tAc "select coalesce(max(seq), 0) from kura.audit where node = 'n2'"; }
caught_up() { [ -n "$(local_last)" ] && [ "$(central_last)" = "$(local_last)" ]; }
check "n2's audit records are all in the central store (after answer_seconds + a few s)" wait_for $((ANSWER + 10)) caught_up
check "n2 said each connection it gave up, in its log ($(($(grep -c 'no answer in' "${NODE_LOG[2]}") - s0)) lines)" \
  test "$(grep -c 'no answer in' "${NODE_LOG[2]}")" -gt "$s0"

kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
for i in 1 2; do stop_node "$i"; done
done_testing
