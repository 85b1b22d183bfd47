#!/usr/bin/env bash
# Cluster mode (issue 19), the node side: kuractl cluster init binds the
# shared state directory to the database's cluster and cluster status
# lists the nodes; three nodes serve one state directory, each only while
# its lease holds. A node cut off from the database (its loopback proxy
# stopped) refuses every open and every read through an open handle within
# lease + 1 s, says why in kuractl status, its log and its audit records,
# and serves again once it renewed; PostgreSQL killed -9: every node
# refuses after its lease, and serves again after the restart. Cluster
# binding: a state directory of another cluster, or none, is refused at
# start; the state served without the cluster's database serves nothing.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000019
install_reader
for u in kt_alice kt_bob; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup

# ---- cluster init and the binding ----
DB_ID=$(psql "$PG_CONN" -tAc "select value from kura.meta where key = 'cluster_id'")
check "the state directory records the database's cluster id" \
  test "$(cat "$KROOT/lib/cluster-id")" = "$DB_ID"
check_output "cluster init again: the same cluster" "^cluster $DB_ID: schema ready" kuractl cluster init
check "cluster init again keeps the one id" \
  test "$(psql "$PG_CONN" -tAc "select count(*) from kura.meta where key = 'cluster_id'")" = 1
require "dataset add, import" one_file_dataset "$ID" kt_alice x.bin 524288
require "user add" kuractl user add "$ID" kt_bob
want_host=$(printf 'kura cluster %s' "$DB_ID" | sha256sum | cut -d' ' -f1)
check "a dataset added in cluster mode is bound to the cluster, not to this machine" \
  grep -qx "host_id = $want_host" "$KROOT/lib/datasets/$ID/dataset.ini"

# ---- three nodes, n3 through a proxy the test owns ----
require "proxy" start_proxy n3
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3 "$(proxy_conn n3)"'
# A node loads libpq when it first connects (src/lib/pq.h): one that cannot
# says which package is missing, and does not mount.
mkdir -p "$T/badlib" "$T/m-nopq" && echo "not a library" >"$T/badlib/libpq.so.5"
on_exit "fusermount3 -u '$T/m-nopq' 2>/dev/null"
check_output_fails "a node without a loadable libpq does not start, naming the package" \
  "client library \\(Debian package libpq5\\)" env LD_LIBRARY_PATH="$T/badlib" timeout 20 "$KURAFS" -c "$T/n1.conf" -f "$T/m-nopq"
check "... and nothing is mounted there" bash -c "! mountpoint -q '$T/m-nopq'"
for i in 1 2 3; do require "mount node n$i" mount_node "$i"; done
F() { echo "$T/m$1/$ID/x.bin"; }
reads() { as kt_bob head -c 4096 "$(F "$1")" >/dev/null; }
for i in 1 2 3; do check "node n$i serves once it holds a lease" wait_for 10 reads "$i"; done
L=$(psql "$PG_CONN" -tAc "select max(epoch) from kura.epochs where state = 'done'")
check_output "cluster status: n1 live, the latest epoch ($L) applied" "^n1 +$L +[0-9.]+ s left" kuractl cluster status
check_output "cluster status: n3 live" "^n3 +$L +[0-9.]+ s left" kuractl cluster status
check "cluster status --json: three live nodes" sh -c "'$KURACTL' -c '$KCONF' cluster status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d[\"cluster\"] == \"$DB_ID\", d
assert [n[\"node\"] for n in d[\"nodes\"]] == [\"n1\", \"n2\", \"n3\"], d
assert all(n[\"lease\"] == \"live\" and n[\"lease_left_ms\"] > 0 for n in d[\"nodes\"]), d'"
check_output "kuractl status on n3: serving, lease left" 'cluster node n3 serving, lease [0-9]+ ms left' nodectl 3 status

# ---- n3 cut off ----
mkdir -p "$T/r" && chmod 0777 "$T/r"
as kt_bob /usr/bin/python3 "$READER" "$(F 3)" "$T/r/n3" 30 &
r3=$!
as kt_bob /usr/bin/python3 "$READER" "$(F 1)" "$T/r/n1" 30 &
r1=$!
on_exit "kill $r1 $r3"
check "readers on n1 and n3 hold open handles" wait_for 10 grep -q '^first ok' "$T/r/n3" "$T/r/n1"
check "n3 keeps the opened keys of the file its reader opened" test "$(file_keys_kept nodectl 3 status)" -ge 1
cut_at=$EPOCHREALTIME
stop_proxy n3
check "n3 refuses a read through its open handle once its lease ends" wait_for $((CLUSTER_LEASE + 3)) grep -q '^refused' "$T/r/n3"
refused_at=$(awk '/^refused/ {print $3}' "$T/r/n3")
late=$(awk -v a="$cut_at" -v b="$refused_at" 'BEGIN {printf "%d", (b - a) * 1000}')
diag "cut to refusal: $late ms (lease ${CLUSTER_LEASE} s); n3's reader: $(tr '\n' ' ' <"$T/r/n3")"
check "... within lease + 1 s of the cut ($late ms)" test "$late" -le $((CLUSTER_LEASE * 1000 + 1000))
# The daemon refuses the read (EACCES); or, when the page cache was dropped
# as the lease ended, the kernel first asks for the file's attributes again
# and the daemon answers that n3 shows nothing now (ENOENT). Either way no
# byte is served; the audit records below say why.
check "... refused (EACCES, or ENOENT from the kernel's attribute check)" grep -Eq '^refused (EACCES|ENOENT) ' "$T/r/n3"
check_fails "n3 refuses a new open" as kt_bob head -c 1 "$(F 3)"
# A change goes on without a node whose lease ended (a destruction erases
# the keys meanwhile): the node keeps no file's keys past its lease.
check "n3 keeps no file's opened keys once its lease ended" test "$(file_keys_kept nodectl 3 status)" = 0
check "n1 still serves its open handle" grep -qx 'first ok' "$T/r/n1"
check "n1 still serves a new open" reads 1
check_output "kuractl status on n3 says it serves nothing, and why" 'cluster node n3 NOT SERVING \(every open and read refused\): the lease ended without renewal \(.*(cluster database|lease)' \
  nodectl 3 status
check "n3's audit log records the lease's end and why" \
  grep -q '"event":"revocation","decision":"deny","reason":"no lease",.*"detail":"the lease ended without renewal (cannot' "$KROOT/log/n3.jsonl"
check "n3's audit log records the handle ended for no lease" \
  grep -q '"event":"revocation","decision":"deny","reason":"no lease","dataset":"'$ID'",.*"user":"kt_bob"' "$KROOT/log/n3.jsonl"
check "n3's refused open is recorded" grep -q '"event":"open","decision":"deny".*"reason":"no lease"' "$KROOT/log/n3.jsonl"
check "n3 said why in its log (syslog)" grep -q 'cluster node n3 stops serving: the lease ended' "${NODE_LOG[3]}"
check_output "cluster status: n3's lease ended" '^n3 +[0-9]+ +ended' kuractl cluster status
require "proxy back on its port" start_proxy n3 "${PROXY_PORT[n3]}"
check "n3 serves again once it renewed" wait_for $((CLUSTER_LEASE * 3)) reads 3
check "n3's audit log records the lease renewed" grep -q '"reason":"lease renewed"' "$KROOT/log/n3.jsonl"
check_output "kuractl status on n3: serving again" 'cluster node n3 serving' nodectl 3 status
kill "$r1" 2>/dev/null
wait "$r1" "$r3" 2>/dev/null

# ---- PostgreSQL killed ----
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
pg_down=$EPOCHREALTIME
for i in 1 2 3; do check "with PostgreSQL down, n$i refuses once its lease ended" \
  wait_for $((CLUSTER_LEASE + 2)) sh -c "! setpriv --reuid=kt_bob --regid=\$(id -g kt_bob) --init-groups head -c 1 '$(F "$i")'"; done
late=$(awk -v a="$pg_down" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}')
check "... all three within lease + 1 s ($late ms)" test "$late" -le $((CLUSTER_LEASE * 1000 + 1000))
check_output "kuractl status on n2 says it serves nothing" 'cluster node n2 NOT SERVING' nodectl 2 status
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "-k $PG_DIR -c listen_addresses=''" -w \
  -l "$PG_DIR/server.log" start >/dev/null 2>&1
for i in 1 2 3; do check "PostgreSQL back: n$i serves again" wait_for $((CLUSTER_LEASE * 5)) reads "$i"; done

# ---- binding ----
# A database of another cluster: init makes its schema, and binding this
# state directory to it is refused; a node configured with it does not start.
psql "$PG_CONN" -qc "create database other" >/dev/null
cp -p "$KCONF" "$T/other.conf" && cluster_section "$T/other.conf" n9 "host=$PG_DIR dbname=other user=kura"
check_output_fails "cluster init of a state directory bound to another cluster is refused" "belongs to cluster $DB_ID, not to this database's cluster" \
  "$KURACTL" -c "$T/other.conf" cluster init
check "the binding is kept" test "$(cat "$KROOT/lib/cluster-id")" = "$DB_ID"
check_output_fails "a node of another cluster refuses to start on this state" "belongs to cluster $DB_ID, but the database is cluster [0-9a-f]+'s: refusing to serve" \
  "$KURAFS" -c "$T/other.conf" -f "$T/m9"
# A state directory bound to no cluster.
mkdir -p "$T/srv2" && chmod 0755 "$T/srv2" && "$KURACTL" -c "$T/srv2/kura.conf" init --root "$T/srv2" >/dev/null
cluster_section "$T/srv2/kura.conf" n8 "$PG_CONN"
check_output_fails "a node on a state directory bound to no cluster refuses to start" "belongs to no cluster: run kuractl cluster init" "$KURAFS" -c "$T/srv2/kura.conf" -f "$T/m8"
# The cluster's state served without its database (copied out of the
# cluster): a single server, whose datasets are bound to another host.
cp -p "$KCONF" "$T/single.conf" && sed -i '/^\[cluster\]/,$d' "$T/single.conf" &&
  sed -i "s|^socket = .*|socket = $KROOT/run/single.sock|; s|^audit_log = .*|audit_log = $KROOT/log/single.jsonl|" "$T/single.conf"
check_output_fails "cluster status on a single server says so" 'this is a single server' "$KURACTL" -c "$T/single.conf" cluster status
require "mount the state as a single server" eval 'KCONF=$T/single.conf mount_kura "$T/m0"'
SINGLE_PID=$KURAFS_PID SINGLE_LOG=$KURAFS_LOG
check_fails "the cluster's state outside the cluster serves nothing" as kt_bob head -c 1 "$T/m0/$ID/x.bin"
check "... refused as the wrong host" grep -q '"reason":"wrong host"' "$KROOT/log/single.jsonl"
KURAFS_PID=$SINGLE_PID KURAFS_LOG=$SINGLE_LOG stop_kura "$T/m0"

for i in 1 2 3; do stop_node "$i"; done
check "a node that stopped left the cluster (its lease ended at once)" \
  test "$(psql "$PG_CONN" -tAc "select count(*) from kura.nodes where lease_until > now()")" = 0
done_testing
