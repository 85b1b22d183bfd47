#!/usr/bin/env bash
# Cluster mode (issue 19), changes a node's daemon runs (docs/cluster.md,
# "The daemon's kept session"): a node's daemon keeps one database session
# for the changes it runs, the PI's and, when it runs, root's revocations
# (user remove, dataset suspend, withdraw, lockdown); each such change
# starts on that session, which holds no lock, no LISTEN and no
# transaction between changes; a session the database dropped is replaced;
# with no daemon, root's revocations run in kuractl; the daemon's reads of
# the central audit store are named for its node ("kura node NAME audit").
# kuractl killed -9 while the daemon runs its change, or the daemon killed
# -9 in the middle of it, leaves nothing half done.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000093
install_reader
for u in kt_alice kt_bob kt_carol kt_dave; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup
require "dataset add, import" one_file_dataset "$ID" kt_alice x.bin 262144
for u in kt_bob kt_carol kt_dave; do require "user add $u" kuractl user add "$ID" "$u"; done
psql "$PG_CONN" -qc "alter system set log_connections = on" -c "select pg_reload_conf()" >/dev/null
logs_connections() { [ "$(psql "$PG_CONN" -tAc "show log_connections")" = on ]; }
require "PostgreSQL logs connections" wait_for 5 logs_connections
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3'
for i in 1 2; do require "mount node n$i" mount_node "$i"; done
F() { echo "$T/m$1/$ID/x.bin"; }
# next_change: a change that always applies (the period extended by a day)
EXT=0
next_change() { EXT=$((EXT + 1)); kuractl dataset extend "$ID" --until "$(day $((30 + EXT)))" --ref "t$EXT" >/dev/null; }
reads() { as "$1" head -c 4096 "$(F "$2")" >/dev/null; }
for i in 1 2; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done

# The database's view of node nI's kept session: sessions authorized for it
# so far (the server's log), and what it holds now.
sessions_of() { grep -c "connection authorized: .*application_name=kura node n$1 changes" "$PG_DIR/server.log"; }
# last_sender I: the database backend of the last change node nI was told of
last_sender() { grep -o 'a change in progress (database backend [0-9]*' "${NODE_LOG[$1]}" | tail -n 1 | grep -o '[0-9]*$'; }
kept() { psql "$PG_CONN" -tAc "select $2 from pg_stat_activity where application_name = 'kura node n$1 changes'"; }
kept_locks() {
  psql "$PG_CONN" -tAc "select count(*) from pg_locks l join pg_stat_activity a using (pid)
    where a.application_name = 'kura node n$1 changes' and l.locktype = 'advisory'"
}

# ---- the daemon keeps a session from its start ----
check "n1 keeps one session for changes from its start ($(sessions_of 1))" test "$(sessions_of 1)" = 1
check "... idle, in no transaction" test "$(kept 1 state)" = idle

# ---- root's user remove goes through n1's daemon, on its kept session ----
mkdir -p "$T/r" && chmod 0777 "$T/r"
pids=()
for i in 1 2; do as kt_bob /usr/bin/python3 "$READER" "$(F "$i")" "$T/r/bob$i" 60 & pids+=($!); done
on_exit "kill ${pids[*]}"
check "kt_bob holds an open handle on each node" wait_for 10 grep -q '^first ok' "$T/r/bob1" "$T/r/bob2"
kp=$(kept 1 pid)
check_output "root's user remove on n1" "kt_bob may no longer use dataset $ID" nodectl 1 user remove "$ID" kt_bob
E=$(latest)
for i in 1 2; do check "when it returned, n$i had applied epoch $E" test "$(applied "$i")" -ge "$E"; done
for i in 1 2; do check_output "kt_bob's open handle on n$i is refused" '^refused (EACCES|ENOENT) ' handle_refused "$T/r/bob$i" "$i" kt_bob; done
for i in 1 2; do check_fails "n$i refuses kt_bob a new open" reads kt_bob "$i"; done
check "it ran in n1's daemon, on its kept session: n2 was told by database backend $kp" \
  grep -q "cluster node n2: a change in progress (database backend $kp," "${NODE_LOG[2]}"
check "... and no new session was opened for it ($(sessions_of 1))" test "$(sessions_of 1)" = 1
check "n1's log records the change as root's" \
  grep -q '"event":"policy-change".*"user":"root".*kt_bob' "$KROOT/log/n1.jsonl"
check "between changes the kept session is idle after DISCARD ALL ($(kept 1 query))" \
  test "$(kept 1 state)/$(kept 1 query)" = "idle/DISCARD ALL"
check "... and holds no advisory lock" test "$(kept_locks 1)" = 0
check "the next change takes the cluster's lock at once" next_change
kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null

# ---- the PI's change through n2, on n2's kept session ----
check_output "the PI removes kt_carol through n2's daemon" "kt_carol may no longer use dataset $ID" \
  as kt_alice "$KURACTL" -c "$T/n2.conf" user remove "$ID" kt_carol
check "... on n2's kept session: none new ($(sessions_of 2))" test "$(sessions_of 2)" = 1
for i in 1 2; do check_fails "n$i refuses kt_carol" reads kt_carol "$i"; done
check_output "the PI reads her dataset's audit records through n2's daemon" "kt_bob" \
  as kt_alice "$KURACTL" -c "$T/n2.conf" audit --dataset "$ID"
check "... from the central store, on a session named for n2 and the task (kura node n2 audit)" \
  grep -q "connection authorized: .*application_name=kura node n2 audit" "$PG_DIR/server.log"

# ---- a kept session the database dropped is replaced ----
psql "$PG_CONN" -tAc "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'kura node n1 changes'" >/dev/null
check "the database dropped n1's kept session" wait_for 5 test -z "$(kept 1 pid)"
check_output "root's dataset suspend on n1 still works" "suspended" nodectl 1 dataset suspend "$ID" --reason "kept session dropped"
check "... on a new session ($(sessions_of 1) in all)" test "$(sessions_of 1)" = 2
check "... which is kept again" test "$(kept 1 state)" = idle
for i in 1 2; do check "n$i applied the suspension" test "$(applied "$i")" -ge "$(latest)"; done
check_fails "n1 refuses the PI while suspended" reads kt_alice 1
require "resume" kuractl dataset resume "$ID"

# ---- no daemon: root's revocation runs in kuractl ----
check_output "root's user remove with n3's config (no daemon there)" "kt_dave may no longer use dataset $ID" \
  nodectl 3 user remove "$ID" kt_dave
s=$(last_sender 1)
check "... ran in kuractl, on a session of its own (backend $s)" \
  test -n "$s" -a "$s" != "$(kept 1 pid)" -a "$s" != "$(kept 2 pid)"
check "... and the daemons kept theirs ($(sessions_of 1), $(sessions_of 2))" test "$(sessions_of 1)$(sessions_of 2)" = 21
for i in 1 2; do check_fails "n$i refuses kt_dave" reads kt_dave "$i"; done

# ---- kuractl killed -9 while n1's daemon runs its change ----
check "user add kt_bob" kuractl user add "$ID" kt_bob
for n in 1 2 3; do
  kill_within 60 "$KURACTL" -c "$T/n1.conf" dataset suspend "$ID" --reason "kill kuractl $n"
  check "kuractl killed ($n): the change ends, no epoch left pending" wait_for 10 no_pending
  check "kuractl killed ($n): the session is kept again, holding no lock" wait_for 10 test "$(kept_locks 1)" = 0
  for i in 1 2; do check "kuractl killed ($n): n$i applies the latest epoch" wait_for 10 applied_at_least "$i" "$(latest)"; done
  state=$(awk -F' = ' '$1 == "status" {print $2}' "$KROOT/lib/datasets/$ID/dataset.ini")
  if [ "$state" = suspended ]; then
    check "kuractl killed ($n): the change was made whole: n1 refuses" bash -c "! setpriv --reuid=kt_bob --regid=\$(id -g kt_bob) --init-groups head -c 1 '$(F 1)' >/dev/null 2>&1"
    kuractl dataset resume "$ID" >/dev/null
  else
    check "kuractl killed ($n): the change was not made: n1 serves" reads kt_bob 1
  fi
done

# ---- n1's daemon killed -9 in the middle of a change it runs ----
for n in 1 2 3; do
  "$KURACTL" -c "$T/n1.conf" dataset suspend "$ID" --reason "kill n1 $n" >"$T/killed.$n" 2>&1 &
  cpid=$!
  sleep "$(awk -v r="$RANDOM" 'BEGIN {printf "%.3f", 0.08 * r / 32768}')"
  kill -9 "${NODE_PID[1]}"; wait "${NODE_PID[1]}" 2>/dev/null
  wait "$cpid"; rc=$?
  fusermount3 -u "$T/m1" 2>/dev/null || umount -l "$T/m1"
  diag "n1 killed ($n): kuractl exited $rc: $(head -c 300 "$T/killed.$n")"
  # The next change (here, in kuractl) resolves what the killed one left.
  state=$(awk -F' = ' '$1 == "status" {print $2}' "$KROOT/lib/datasets/$ID/dataset.ini")
  if [ "$state" = suspended ]; then check "n1 killed ($n): resume" kuractl dataset resume "$ID"
  else check "n1 killed ($n): a change after it" next_change; fi
  check "n1 killed ($n): no epoch left pending" no_pending
  check "n1 killed ($n): the lock is free (a change takes it at once)" next_change
  require "n1 mounted again" mount_node 1
  check "n1 killed ($n): restarted n1 serves kt_bob" wait_for 10 reads kt_bob 1
  # A restriction the killed change sent is lifted at n2's next check
  # (every lease/3) when the change after it forbids nothing (a resume).
  check "n1 killed ($n): n2 serves kt_bob within lease/3 + 1 s" \
    wait_for "$(awk -v l="$CLUSTER_LEASE" 'BEGIN {printf "%.2f", l / 3 + 1}')" reads kt_bob 2
  for i in 1 2; do check "n1 killed ($n): n$i applied the latest epoch" wait_for 10 applied_at_least "$i" "$(latest)"; done
done

for i in 1 2; do stop_node "$i"; done
check "a stopped daemon's kept session is closed" wait_for 5 test -z "$(kept 1 pid)$(kept 2 pid)"
done_testing
