#!/usr/bin/env bash
# Cluster mode (issue 19), restriction first: a change tells the nodes
# what it is about to forbid before its durable steps, so their refusal
# does not wait for the database's disk. The durable step is held here the
# way a stalled disk holds it: a session of the test locks kura.epochs, so
# the change's pending epoch waits. Meanwhile every node refuses exactly
# what the change forbids (user remove: that user, another user of the
# same dataset keeps reading; withdraw: the sample's files only; lockdown:
# everything; set-pi: the old PI), records it (reason "changing") and
# shows it in kuractl status; once the change is over the restriction
# is lifted. A kuractl killed -9 after its restriction and before its
# pending epoch changes nothing, and the user reads again within about a
# renewal period; killed after it (before writing, or after writing and
# before its end) with no change to follow, the node doing the
# maintenance resolves it within about a lease (dropped, or made and
# announced) and the restriction lifts; a change that is refused sends none. With every node's lease thread held
# in a renewal (kura.nodes locked, as a stalled commit holds it), the
# restriction still gets through: it has a connection of its own.
# Only kura's role may connect to its database: cluster init revokes
# PUBLIC's CONNECT, so another login role cannot take the change lock or
# send the nodes a restriction; a role granted CONNECT all the same is
# named by cluster status and init, which then fails.
. "$(dirname "$0")/lib.sh"
# A lease long enough that the lease threads can be held in a renewal
# for a second with the leases still running (f).
CLUSTER_LEASE=${CLUSTER_LEASE:-4}
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000097
install_reader
for u in kt_alice kt_bob kt_carol kt_dave; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup
require "dataset add, import with samples JGAS000301 and JGAS000302" two_sample_dataset "$ID" 8 JGAS000301 JGAS000302
for u in kt_bob kt_carol; do require "user add $u" kuractl user add "$ID" "$u"; done
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3'
for i in 1 2 3; do require "mount node n$i" mount_node "$i"; done
F() { echo "$T/m$1/$ID/${2:-S2/reads.bin}"; }
reads() { as "$1" head -c 4096 "$(F "$2" "${3:-}")" >/dev/null; }
for i in 1 2 3; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done
mkdir -p "$T/r" && chmod 0777 "$T/r"

# stall [TABLE]: a session of the test holds kura.TABLE (default epochs;
# reads pass, writes wait), so a change waits at its pending epoch (a
# node's renewal, for nodes) as on a stalled disk. unstall ends them all.
STALL_PIDS=()
stall() {
  local table=${1:-epochs}
  PGAPPNAME=kt_stall psql "$PG_CONN" -qc \
    "begin; lock table kura.$table in exclusive mode; select pg_sleep(120); commit;" >/dev/null 2>&1 &
  STALL_PIDS+=($!)
  on_exit "kill $! 2>/dev/null"
  wait_for 5 sh -c "test \"\$(psql '$PG_CONN' -tAc \"select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = '$table' and l.mode = 'ExclusiveLock' and l.granted\")\" = 1"
}
unstall() {
  psql "$PG_CONN" -tAc "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'kt_stall'" >/dev/null
  wait "${STALL_PIDS[@]}" 2>/dev/null
  STALL_PIDS=()
  return 0
}
# readers NAME USER [FILE]: an open handle of USER on each node, read every 10 ms until refused
READER_PIDS=()
readers() {
  local i
  for i in 1 2 3; do
    rm -f "$T/r/$1$i"
    # setpriv execs the reader: $! is the reader itself, so it can be stopped before the unmount
    setpriv --reuid="$2" --regid="$(id -g "$2")" --init-groups -- /usr/bin/python3 "$READER" "$(F "$i" "${3:-}")" \
      "$T/r/$1$i" 60 &
    READER_PIDS+=($!)
    on_exit "kill $! 2>/dev/null"
  done
  wait_for 10 grep -q '^first ok' "$T/r/${1}1" "$T/r/${1}2" "$T/r/${1}3"
}
restricts() { nodectl "$1" status 2>/dev/null | grep -q "cluster node n$1 restricts $2"; }
restricts_nothing() { ! nodectl "$1" status 2>/dev/null | grep -q "cluster node n$1 restricts"; }
# The last refusal of readers NAME, in ms after t0.
last_refusal_ms() {
  cat "$T/r/$1"? | awk '/^refused/ {print $3}' | sort -n | tail -n 1 |
    awk -v a="$2" '{printf "%d", ($1 - a) * 1000}'
}
restrict_lines() { cat "${NODE_LOG[1]}" "${NODE_LOG[2]}" "${NODE_LOG[3]}" | grep -c 'restricts' || true; }

# ---- (a) user remove: the user is refused before the durable steps, precisely ----
check "kt_bob holds an open handle on each node" readers bob kt_bob
check "kt_carol holds an open handle on each node" readers carol kt_carol
require "the pending epoch's write is held (a stalled disk)" stall
t0=$EPOCHREALTIME
kuractl user remove "$ID" kt_bob >"$T/remove.out" 2>&1 &
KPID=$!
for i in 1 2 3; do check_output "n$i refuses kt_bob's open handle while the change waits for its pending epoch" \
  '^refused (EACCES|ENOENT) ' handle_refused "$T/r/bob$i" "$i" kt_bob; done
diag "user remove: the last node refused kt_bob's read $(last_refusal_ms bob "$t0") ms after the start, the change still waiting"
check "... and the change has not returned" kill -0 "$KPID"
check "... nor written anything (kt_bob still listed, no epoch pending)" \
  sh -c "grep -q kt_bob '$KROOT/lib/datasets/$ID/dataset.ini' && test \"\$(psql '$PG_CONN' -tAc \"select count(*) from kura.epochs where state = 'pending'\")\" = 0"
for i in 1 2 3; do check_fails "n$i refuses kt_bob a new open meanwhile" reads kt_bob "$i"; done
for i in 1 2 3; do check "kt_carol's open handle on n$i keeps reading (precision)" sh -c "! grep -q '^refused' '$T/r/carol$i'"; done
for i in 1 2 3; do check "n$i serves kt_carol a new open meanwhile" reads kt_carol "$i"; done
for i in 1 2 3; do check "kuractl status on n$i shows the restriction" restricts "$i" "user kt_bob (uid $(id -u kt_bob)) in $ID"; done
for i in 1 2 3; do check "n$i records kt_bob's handle ended (reason changing)" \
  grep -q '"event":"revocation","decision":"deny","reason":"changing","dataset":"'$ID'",.*"user":"kt_bob"' "$KROOT/log/n$i.jsonl"; done
check "n1 records kt_bob's refused open (reason changing)" \
  grep -q '"event":"open","decision":"deny".*"reason":"changing","dataset":"'$ID'",.*"user":"kt_bob"' "$KROOT/log/n1.jsonl"
unstall
wait "$KPID"; rc=$?
check "user remove returns once the write goes through" test "$rc" = 0
for i in 1 2 3; do check "when it returned, n$i had applied it" test "$(applied "$i")" -ge "$(latest)"; done
for i in 1 2 3; do check_fails "n$i refuses kt_bob (removed)" reads kt_bob "$i"; done
for i in 1 2 3; do check "n$i lifted the restriction" wait_for 3 restricts_nothing "$i"; done
for i in 1 2 3; do check "kt_carol's handle on n$i never was refused" sh -c "! grep -q '^refused' '$T/r/carol$i'"; done

# ---- (b) kuractl killed -9 after its restriction, before its pending epoch ----
require "user add kt_bob again" kuractl user add "$ID" kt_bob
require "user add kt_dave" kuractl user add "$ID" kt_dave
# The statement that writes the pending epoch is the K-th sendto of a user
# remove (traced once on kt_dave); the kill comes on entry to it.
trace=$T/sendto.trace
strace -qq -f -o "$trace" -s 400 -e trace=sendto "$KURACTL" -c "$KCONF" user remove "$ID" kt_dave >/dev/null 2>&1
K=$(awk '/sendto\(/ {n++} /INSERT INTO kura.epochs/ {print n; exit}' "$trace")
R=$(awk '/sendto\(/ {n++} /kura_restrict/ {print n; exit}' "$trace")
require "the pending epoch is written by sendto $K" test -n "$K"
check "the restriction (sendto ${R:-none}) comes before it" test -n "$R" -a "${R:-0}" -lt "$K"
before=$(restrict_lines)
strace -qq -o /dev/null -e trace=sendto -e inject=sendto:signal=KILL:when="$K" \
  "$KURACTL" -c "$KCONF" user remove "$ID" kt_bob >/dev/null 2>&1
tk=$EPOCHREALTIME
check "killed: every node held the restriction" test "$(restrict_lines)" -ge $((before + 3))
# served_again LABEL SECONDS: after a user remove of kt_bob killed at $tk
# that made nothing, every node serves kt_bob again within SECONDS, kt_bob
# is still listed, nothing is pending and no node holds a restriction.
served_again() {
  local i
  for i in 1 2 3; do check "$1: n$i serves kt_bob again within $2 s" wait_for "$2" reads kt_bob "$i"; done
  diag "$1: every node served kt_bob again $(awk -v a="$tk" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}') ms after the kill"
  check "$1: nothing changed (kt_bob listed, nothing pending)" \
    sh -c "grep -q kt_bob '$KROOT/lib/datasets/$ID/dataset.ini' && test \"\$(psql '$PG_CONN' -tAc \"select count(*) from kura.epochs where state = 'pending'\")\" = 0"
  for i in 1 2 3; do check "$1: n$i holds no restriction" restricts_nothing "$i"; done
}
# checked every lease/3
served_again killed "$(awk -v l="$CLUSTER_LEASE" 'BEGIN {printf "%.2f", l / 3 + 1}')"

# ---- (b2) killed -9 after its pending epoch, before writing anything ----
# Nobody makes another change: the node doing the maintenance resolves the
# pending epoch under the cluster's lock at its next tick (once a lease),
# from the shared state: not written, so dropped, and the restriction lifts.
# maintainer_said E WANT: a node's log says the maintenance resolved epoch E as WANT
maintainer_said() { cat "${NODE_LOG[1]}" "${NODE_LOG[2]}" "${NODE_LOG[3]}" | grep -q "cluster node n[123]: maintenance: an interrupted change (epoch $1, dataset $ID) $2"; }
require "user add kt_dave again" kuractl user add "$ID" kt_dave
first=$(name_steps "$KURACTL" -c "$KCONF" user remove "$ID" kt_dave | head -n 1)
require "user remove's first renaming step is known (${first:-none})" test -n "$first"
before=$(restrict_lines)
e0=$(last_epoch)
kill_at "before $first" "$KURACTL" -c "$KCONF" user remove "$ID" kt_bob
tk=$EPOCHREALTIME
e=$(last_epoch)
# (pending, or already resolved if the maintenance's tick came at once)
require "killed before $first: it had recorded its pending epoch ($e, after $e0)" test "$e" -gt "$e0"
check "killed before $first: every node held the restriction" test "$(restrict_lines)" -ge $((before + 3))
within=$((2 * CLUSTER_LEASE + 2))
served_again "killed before $first, no change since" "$within"
# (its node logs the resolution just after committing it: the nodes may apply it first)
check "... the maintenance dropped it, its node's log says" wait_for 2 maintainer_said "$e" "was not made: dropped"

# ---- (b3) killed -9 after writing, before its end ----
# The state is written (kt_bob removed), the end not sent: the maintainer
# finds the stamp, ends the epoch as made and announces it; every node
# applies it, refuses kt_bob for good and lifts the restriction.
U=$(awk '/sendto\(/ {n++} /INSERT INTO kura.epochs/ {ins = 1} ins && /UPDATE kura.epochs/ {print n; exit}' "$trace")
require "the end's statement is sendto ${U:-none}" test -n "$U"
check "kt_bob holds an open handle on each node" readers bob3 kt_bob
e0=$(last_epoch)
strace -qq -o /dev/null -e trace=sendto -e inject=sendto:signal=KILL:when="$U" \
  "$KURACTL" -c "$KCONF" user remove "$ID" kt_bob >/dev/null 2>&1
tk=$EPOCHREALTIME
e=$(last_epoch)
require "killed before its end: written (kt_bob not listed), its epoch recorded ($e, after $e0)" \
  sh -c "! grep -q kt_bob '$KROOT/lib/datasets/$ID/dataset.ini' && test '$e' -gt '$e0'"
for i in 1 2 3; do check_output "killed before its end: n$i refuses kt_bob's open handle" '^refused (EACCES|ENOENT) ' handle_refused "$T/r/bob3$i" "$i" kt_bob; done
caught_up_all() { no_pending && for i in 1 2 3; do [ "$(applied "$i")" -ge "$(latest)" ] || return 1; done; }
check "killed before its end, no change since: within $within s nothing is pending and every node applied the latest epoch" \
  wait_for "$within" caught_up_all
diag "killed before its end: every node applied it $(awk -v a="$tk" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}') ms after the kill"
check "... the maintainer announced it, and its node's log says so" wait_for 2 maintainer_said "$e" "was made: announced to the nodes now"
for i in 1 2 3; do check "... n$i lifted the restriction" wait_for 3 restricts_nothing "$i"; done
for i in 1 2 3; do check_fails "... n$i refuses kt_bob a new open (removed)" reads kt_bob "$i"; done
require "user add kt_bob again" kuractl user add "$ID" kt_bob

# ---- (c) a refused change sends no restriction ----
check "kt_carol holds an open handle on each node" readers carol kt_carol
before=$(restrict_lines)
check_fails "user remove of a user not listed is refused" kuractl user remove "$ID" kt_nobody_listed
check_fails "withdraw without --yes is refused" kuractl withdraw "$ID" JGAS000301 --ref "not confirmed"
sleep 0.5
check "no node was told of a restriction" test "$(restrict_lines)" = "$before"
for i in 1 2 3; do check "kt_carol's handle on n$i was not disturbed" sh -c "! grep -q '^refused' '$T/r/carol$i'"; done

# ---- (d) withdraw restricts the sample's files only ----
check "kt_bob holds S1/reads.bin open on each node" readers s1 kt_bob S1/reads.bin
check "kt_bob holds S2/reads.bin open on each node" readers s2 kt_bob S2/reads.bin
require "the pending epoch's write is held" stall
kuractl withdraw "$ID" JGAS000301 --ref "consent withdrawn (restriction test)" --yes >/dev/null 2>&1 &
KPID=$!
for i in 1 2 3; do check_output "withdraw: n$i refuses S1/reads.bin's open handle while the change waits" '^refused (EACCES|ENOENT) ' handle_refused "$T/r/s1$i" "$i" kt_bob; done
for i in 1 2 3; do check_fails "withdraw: n$i refuses a new open of S1/reads.bin meanwhile" reads kt_bob "$i" S1/reads.bin; done
for i in 1 2 3; do check "withdraw: S2/reads.bin's handle on n$i keeps reading" sh -c "! grep -q '^refused' '$T/r/s2$i'"; done
for i in 1 2 3; do check "withdraw: n$i serves S2/reads.bin meanwhile" reads kt_bob "$i" S2/reads.bin; done
check "withdraw: kuractl status on n2 shows the restriction" restricts 2 "sample JGAS000301 in $ID"
unstall
wait "$KPID"
check "withdraw returned" test $? = 0
for i in 1 2 3; do check "withdraw: n$i lifted the restriction" wait_for 3 restricts_nothing "$i"; done
for i in 1 2 3; do check "withdraw: n$i still serves S2/reads.bin" reads kt_bob "$i" S2/reads.bin; done

# ---- (e) lockdown restricts everything; unlock lifts ----
check "kt_alice holds an open handle on each node" readers alice kt_alice
require "the pending epoch's write is held" stall
kuractl lockdown --reason "restriction test" >/dev/null 2>&1 &
KPID=$!
for i in 1 2 3; do check_output "lockdown: n$i refuses the PI's open handle while the change waits" '^refused (EACCES|ENOENT) ' handle_refused "$T/r/alice$i" "$i" kt_alice; done
for i in 1 2 3; do check_fails "lockdown: n$i refuses kt_carol a new open meanwhile" reads kt_carol "$i"; done
check "lockdown: kuractl status on n3 shows the restriction" restricts 3 everything
unstall
wait "$KPID"
check "lockdown returned" test $? = 0
check "unlock" kuractl unlock
for i in 1 2 3; do check "after unlock returned, n$i serves kt_carol" reads kt_carol "$i"; done
for i in 1 2 3; do check "after unlock, n$i holds no restriction" restricts_nothing "$i"; done

# ---- (f) every node's lease thread held in a renewal: the restriction gets through ----
require "user add kt_dave again" kuractl user add "$ID" kt_dave
check "kt_dave holds an open handle on each node" readers dave kt_dave
held_renewals() {
  test "$(psql "$PG_CONN" -tAc "select count(*) from pg_stat_activity where application_name like 'kura node %' and wait_event_type = 'Lock' and query like '%INSERT INTO kura.nodes%'")" -ge 3
}
require "kura.nodes held" stall nodes
tn=$EPOCHREALTIME
check "every node's lease thread is held in a renewal" wait_for $((CLUSTER_LEASE / 3 + 1)) held_renewals
require "the pending epoch's write is held" stall
t0=$EPOCHREALTIME
kuractl user remove "$ID" kt_dave >/dev/null 2>&1 &
KPID=$!
for i in 1 2 3; do check_output "held renewals: n$i refuses kt_dave's open handle (the restriction's own connection)" \
  '^refused (EACCES|ENOENT) ' handle_refused "$T/r/dave$i" "$i" kt_dave 2; done
diag "held renewals: the last node refused $(last_refusal_ms dave "$t0") ms after the change's start, the lease threads held for $(awk -v a="$tn" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}') ms"
check "... still held meanwhile (the refusal did not come through them)" held_renewals
for i in 1 2 3; do check "held renewals: n$i records it as changing, not as a lease's end" \
  grep -q '"event":"revocation","decision":"deny","reason":"changing","dataset":"'$ID'",.*"user":"kt_dave"' "$KROOT/log/n$i.jsonl"; done
unstall
wait "$KPID"
check "held renewals: user remove returned" test $? = 0
for i in 1 2 3; do check "held renewals: n$i serves kt_carol after" wait_for "$CLUSTER_LEASE" reads kt_carol "$i"; done

# ---- (g) set-pi: the old PI is restricted, nobody else ----
check "kt_alice (the PI) holds an open handle on each node" readers pi kt_alice
check "kt_carol holds an open handle on each node" readers carol2 kt_carol
require "the pending epoch's write is held" stall
kuractl dataset set-pi "$ID" kt_dave >/dev/null 2>&1 &
KPID=$!
for i in 1 2 3; do check_output "set-pi: n$i refuses the old PI's open handle while the change waits" '^refused (EACCES|ENOENT) ' handle_refused "$T/r/pi$i" "$i" kt_alice; done
for i in 1 2 3; do check "set-pi: kt_carol's handle on n$i keeps reading" sh -c "! grep -q '^refused' '$T/r/carol2$i'"; done
check "set-pi: kuractl status on n1 shows the restriction" restricts 1 "user kt_alice (uid $(id -u kt_alice)) in $ID"
unstall
wait "$KPID"
check "set-pi returned" test $? = 0
for i in 1 2 3; do check "set-pi: n$i lifted the restriction" wait_for 3 restricts_nothing "$i"; done
for i in 1 2 3; do check "set-pi: n$i serves the new PI" reads kt_dave "$i"; done

# ---- another login role of the same PostgreSQL ----
require "a login role kt_mallory" psql "$PG_CONN" -qc "CREATE ROLE kt_mallory LOGIN"
MALLORY="host=$PG_DIR dbname=postgres user=kt_mallory"
check_output_fails "kt_mallory cannot connect to kura's database (init revoked PUBLIC's CONNECT)" \
  'permission denied for database' psql "$MALLORY" -c 'SELECT pg_advisory_lock(1802859105)'
check "so every node serves kt_bob (no restriction of hers)" sh -c "for i in 1 2 3; do setpriv --reuid=kt_bob --regid=\$(id -g kt_bob) --init-groups head -c 1 '$T/m'\$i'/$ID/S2/reads.bin' >/dev/null || exit 1; done"
check "cluster status names no other role" sh -c "! '$KURACTL' -c '$KCONF' cluster status 2>&1 | grep -q 'may connect'"
require "CONNECT granted to kt_mallory by hand" psql "$PG_CONN" -qc "GRANT CONNECT ON DATABASE postgres TO kt_mallory"
check_output "cluster status names her, and how to keep her out" \
  "warning: kt_mallory may connect to the cluster's database: .*REVOKE ALL ON DATABASE" kuractl cluster status
check_output_fails "cluster init then fails, naming her" "warning: kt_mallory may connect" kuractl cluster init
require "CONNECT revoked again" psql "$PG_CONN" -qc "REVOKE ALL ON DATABASE postgres FROM kt_mallory"
check_output "cluster init succeeds again" "schema ready" kuractl cluster init

kill "${READER_PIDS[@]}" 2>/dev/null; wait "${READER_PIDS[@]}" 2>/dev/null
for i in 1 2 3; do stop_node "$i"; done
done_testing
