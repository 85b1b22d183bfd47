#!/usr/bin/env bash
# The central audit store (issue 19, guarantee 3, R-CLU-3; R-CLU-4 for the
# store): three nodes (kurafs with [cluster] database set, one state
# directory, a mount, socket and local audit log each) and a private
# PostgreSQL. Every open on every node reaches kura.audit within a bound
# (measured); `kuractl audit` on one node shows the others'; audit verify
# checks each node's chain from the central copy and names the node and
# seq of a row removed or altered there; kill -9 of a node mid-flood loses
# and duplicates nothing; with PostgreSQL killed opens go on, recorded
# locally, and the backlog arrives once it is back; the usage report
# counts the opens of every node.
. "$(dirname "$0")/lib.sh"

ID=JGAD000190
BOUND_MS=1000
make_user kt_alice
make_user kt_bob
require "a private PostgreSQL" start_postgres
require "kuractl init" kura_init
# kuractl itself speaks to the cluster as node "ctl" (it never mounts)
sed -i "s|^database =.*|database = $PG_CONN\nnode = ctl|" "$KCONF"
require "kuractl cluster init" kuractl cluster init
require "dataset of kt_alice" one_file_dataset "$ID" kt_alice a.bin 20000
require "kt_bob listed" kuractl user add "$ID" kt_bob
sql() { psql "$PG_CONN" -qtAX -c "$1"; }
# put_back NODE SEQ LINE: stores a row the test removed, as it was
put_back() { psql "$PG_CONN" -qtAX -v line="$3" <<<"insert into kura.audit (node, seq, line) values ('$1', $2, :'line')"; }

# node_conf N: the config of node nN (its own socket, local log, metrics file)
node_conf() {
  local n=$1 dir=$T/n$1
  mkdir -p "$dir"
  sed -e "s|^socket = .*|socket = $dir/ctl.sock|" -e "s|^audit_log = .*|audit_log = $dir/audit.jsonl|" \
    -e "s|^textfile =.*|textfile = $dir/metrics.prom|" -e "s|^interval_seconds = .*|interval_seconds = 1|" \
    -e '/^node = /d' -e "s|^database =.*|database = $PG_CONN\nnode = n$n|" "$KCONF" >"$dir/kura.conf"
}
declare -A PID KLOG
# start_node N: mounts node nN at $T/mnt$N
start_node() {
  local saved=$KCONF
  KCONF=$T/n$1/kura.conf
  mount_kura "$T/mnt$1"; local rc=$?
  KCONF=$saved
  PID[$1]=${KURAFS_PID:-}
  KLOG[$1]=$KURAFS_LOG
  return $rc
}
nodectl() { local n=$1; shift; "$KURACTL" -c "$T/n$n/kura.conf" "$@"; }
# local_last N: the seq of the last record in node N's local log
local_last() { tail -n 1 "$T/n$1/audit.jsonl" | sed -n 's/^{"seq":\([0-9]*\),.*/\1/p'; }
central_last() { sql "select coalesce(max(seq), 0) from kura.audit where node = 'n$1'"; }
# caught_up N SECONDS: waits until the central store holds node N's last local record
caught_up() {
  local i
  for i in $(seq 1 $(($2 * 20))); do
    [ -n "$(local_last "$1")" ] && [ "$(central_last "$1")" = "$(local_last "$1")" ] && return 0
    sleep 0.05
  done
  diag "node n$1: local log at seq $(local_last "$1"), central store at $(central_last "$1")"
  return 1
}
# same_records N: the central copy of node N's records is its local log, line for line
# A node may append a record of its own (its maintenance, the store's
# return) between two looks: compared again, up to 10 times, each after it
# caught up, until both copies agree line for line at one moment.
same_records() {
  local i
  for i in $(seq 1 10); do
    caught_up "$1" 1 || continue
    cat "$T/n$1"/audit.jsonl.* "$T/n$1/audit.jsonl" 2>/dev/null >"$T/local$1"
    sql "select line from kura.audit where node = 'n$1' order by seq" >"$T/central$1"
    diff -q "$T/local$1" "$T/central$1" >/dev/null && return 0
  done
  diag "node n$1: local and central copies differ:" "$(diff "$T/local$1" "$T/central$1" | head -n 6)"
  return 1
}

for n in 1 2 3; do node_conf "$n"; require "node n$n mounted" start_node "$n"; done
# three connections a node: its lease's, its shipper's (a slow shipper never delays a renewal) and its
# restrictions' (restriction first: no renewal's commit delays one); the maintainer thread's own, once it
# has ticked, is named apart ("kura node nN maintenance") and not counted here
node_connections() { sql "select string_agg(application_name || ':' || n, ',' order by application_name) from (select application_name, count(*) as n from pg_stat_activity where application_name ~ '^kura node n[0-9]+\$' group by application_name) c"; }
three_each() { # the shipper connects on its own thread: up to 10 s
  local i; for i in $(seq 1 200); do [ "$(node_connections)" = "kura node n1:3,kura node n2:3,kura node n3:3" ] && return 0; sleep 0.05; done
  diag "connections: $(node_connections)"; return 1
}
check "each node ships on a connection of its own beside its lease's and its restrictions' (application name kura node nN)" three_each

# ---- every open reaches the store within the bound ----
for n in 1 2 3; do
  for i in $(seq 1 10); do as kt_bob cat "$T/mnt$n/$ID/a.bin" >/dev/null; done
done
for n in 1 2 3; do check "node n$n: its records reach the central store" caught_up "$n" 10; done
for n in 1 2 3; do
  check "node n$n: all 10 opens stored" test "$(sql "select count(*) from kura.audit where node = 'n$n' and line like '%\"event\":\"open\"%\"user\":\"kt_bob\"%'")" = 10
done
# From the record's time stamp (taken before it was durable locally) to
# its commit in the central store.
read -r p50 p99 worst < <(sql "select round(percentile_cont(0.5) within group (order by d)), round(percentile_cont(0.99) within group (order by d)), round(max(d)) from (select extract(epoch from received - (line::json->>'time')::timestamptz) * 1000 as d from kura.audit where line like '%\"event\":\"open\"%') x" | tr '|' ' ')
diag "open record to central store, 30 opens on 3 nodes: median ${p50} ms, p99 ${p99} ms, max ${worst} ms (bound ${BOUND_MS} ms)"
check "every open stored within ${BOUND_MS} ms" test "${worst:-99999}" -le "$BOUND_MS"
check_output "kuractl status on n1: the shipper is connected" "central audit store: connected, shipped up to seq [0-9]+" nodectl 1 status
for i in $(seq 1 40); do grep -q '^kura_audit_store_connected 1' "$T/n1/metrics.prom" 2>/dev/null && break; sleep 0.1; done
check "metrics: connected, shipped seq, backlog" grep -q '^kura_audit_store_backlog ' "$T/n1/metrics.prom"

# ---- kuractl audit and verify on any node see every node ----
check_output "kuractl audit on n1 shows n2's and n3's opens" "^n2 .* open .*kt_bob" nodectl 1 audit --dataset "$ID" --user kt_bob
check_output "... with the node in --json" '"node":"n3","seq":[0-9]+' nodectl 1 audit --user kt_bob --json
check_output "paging across nodes: a page says --after NODE:SEQ" "continue with --after n1:5$" nodectl 1 audit --limit 5
check_output "... and the next page starts right after it" '^\{"node":"n1","seq":6,' nodectl 1 audit --json --limit 5 --after n1:5
check_output "... across nodes too" '^\{"node":"n2","seq":1,' nodectl 1 audit --json --limit 1 --after "n1:$(central_last 1)"
check_output_fails "--after without a node in cluster mode is a usage error" "NODE:SEQ" nodectl 1 audit --after 3
check_output "the PI reads the central copy through n2's daemon" "^n1 .*a\.bin" as kt_alice "$KURACTL" -c "$T/n2/kura.conf" audit --dataset "$ID"
check_output "audit verify on n3: each node's chain verified" "node n2: [0-9]+ record\(s\), seq 1\.\.[0-9]+: chain verified" nodectl 3 audit verify
check_output "... and all three nodes" "central audit store verified: 3 node\(s\)" nodectl 3 audit verify
check_output "audit verify --local on n3: its own log" "^audit log verified: [0-9]+ record\(s\) in 1 file\(s\)" nodectl 3 audit verify --local

# ---- rows removed or altered centrally ----
saved=$(sql "select line from kura.audit where node = 'n2' and seq = 4")
sql "delete from kura.audit where node = 'n2' and seq = 4"
check_output_fails "a row removed: verify names node n2 and the gap at seq 4" "BAD node n2 \(seq 5\): seq 5 follows seq 3: 1 record\(s\) missing" nodectl 1 audit verify
put_back n2 4 "$saved"
check_output "the row put back: verify passes" "central audit store verified: 3 node" nodectl 1 audit verify
sql "update kura.audit set line = replace(line, 'kt_bob', 'kt_eve') where node = 'n3' and seq = (select min(seq) from kura.audit where node = 'n3' and line like '%kt_bob%')"
check_output_fails "a row altered: verify names node n3 and says the MAC does not match" "BAD node n3 \(seq [0-9]+\): mac does not match" nodectl 1 audit verify
sql "update kura.audit set line = replace(line, 'kt_eve', 'kt_bob') where node = 'n3'"
last2=$(central_last 2)
saved=$(sql "select line from kura.audit where node = 'n2' and seq = $last2")
sql "delete from kura.audit where node = 'n2' and seq = $last2"
check_output_fails "the last row removed: missing, not merely unshipped" "node n2: .*BAD: seq $last2\.\.$last2 missing" nodectl 1 audit verify
put_back n2 "$last2" "$saved"
check_output "all rows back: verify passes" "central audit store verified: 3 node" nodectl 1 audit verify

# ---- kill -9 of a node mid-flood ----
before_flood=$(central_last 3)
(for i in $(seq 1 300); do as kt_bob cat "$T/mnt3/$ID/a.bin" >/dev/null 2>&1 || true; done) &
flood=$!
for i in $(seq 1 200); do [ "$(central_last 3)" -ge 60 ] 2>/dev/null && break; sleep 0.05; done
kill -9 "${PID[3]}"
stored_before_kill=$(central_last 3)
wait "$flood" 2>/dev/null
# The delay under a flood: the records stored before the kill.
read -r f50 f99 fworst fcount < <(sql "select round(percentile_cont(0.5) within group (order by d)), round(percentile_cont(0.99) within group (order by d)), round(max(d)), count(*) from (select extract(epoch from received - (line::json->>'time')::timestamptz) * 1000 as d from kura.audit where node = 'n3' and seq > $before_flood and seq <= $stored_before_kill) x" | tr '|' ' ')
diag "open and close records to central store during a flood on n3 ($fcount records): median ${f50} ms, p99 ${f99} ms, max ${fworst} ms"
check "during a flood too, every record stored within ${BOUND_MS} ms" test "${fworst:-99999}" -le "$BOUND_MS"
fusermount3 -u "$T/mnt3" 2>/dev/null || umount -l "$T/mnt3"
diag "node n3 killed with its local log at seq $(local_last 3), the central store at $(central_last 3)"
require "node n3 mounted again" start_node 3
as kt_bob cat "$T/mnt3/$ID/a.bin" >/dev/null
check "node n3 after kill -9: caught up" caught_up 3 15
check "node n3: the central copy is its local log, line for line (none lost, none twice)" same_records 3
check "node n3: seqs 1..max, each once" test "$(sql "select count(*) = max(seq) and count(distinct seq) = count(*) from kura.audit where node = 'n3'")" = t

# ---- PostgreSQL killed (-9) while opens go on ----
pg_pid=$(head -n 1 "$PG_DIR/data/postmaster.pid")
for child in $(pgrep -P "$pg_pid"); do kill -9 "$child" 2>/dev/null; done
kill -9 "$pg_pid"
for i in $(seq 1 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.05; done
before=$(local_last 1)
ok_opens=0
for i in $(seq 1 15); do as kt_bob cmp -s "$T/mnt1/$ID/a.bin" "$T/$ID/a.bin" && ok_opens=$((ok_opens + 1)); done
check "with the database down, opens on n1 still succeed (15 of 15)" test "$ok_opens" = 15
check "... each recorded in n1's local log" test "$(tail -n +1 "$T/n1/audit.jsonl" | awk -F'"seq":' -v b="$before" '{split($2, a, ","); if (a[1] > b) print}' | grep -c '"event":"open"')" = 15
for i in $(seq 1 100); do nodectl 1 status 2>/dev/null | grep -q "NOT CONNECTED" && break; sleep 0.1; done
check_output "kuractl status on n1: not connected, the backlog waits locally" "central audit store: NOT CONNECTED .*[1-9][0-9]* record\(s\) waiting in the local log" nodectl 1 status
# metrics_show_backlog N: node N's metrics file says the store is away and records wait
metrics_show_backlog() { grep -q '^kura_audit_store_connected 0' "$T/n$1/metrics.prom" && grep -Eq '^kura_audit_store_backlog [1-9]' "$T/n$1/metrics.prom"; }
for i in $(seq 1 50); do metrics_show_backlog 1 && break; sleep 0.1; done
check "metrics: not connected, a backlog" metrics_show_backlog 1
rm -f "$PG_DIR/data/postmaster.pid"
require "PostgreSQL back" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -o "-k $PG_DIR -c listen_addresses=''" -w \
  -l "$PG_DIR/server.log" start
for n in 1 2 3; do check "node n$n: the backlog arrives once the database is back" caught_up "$n" 15; done
for n in 1 2; do check "node n$n: the central copy is its local log, line for line" same_records "$n"; done
check_output "kuractl status on n1: connected again, nothing waiting" "central audit store: connected, shipped up to seq [0-9]+, 0 record\(s\) waiting" nodectl 1 status

# ---- the usage report covers every node ----
allowed=$(sql "select count(*) from kura.audit where line like '%\"event\":\"open\"%\"decision\":\"allow\"%\"user\":\"kt_bob\"%'")
local_allowed=$(cat "$T"/n[123]/audit.jsonl* | grep '"event":"open"' | grep '"decision":"allow"' | grep -c '"user":"kt_bob"')
check "the central store holds every node's allowed opens of kt_bob ($local_allowed)" test "$allowed" = "$local_allowed"
check_output "report usage on n2 counts kt_bob's opens on all nodes ($allowed)" "kt_bob.*[^0-9]$allowed[^0-9]" nodectl 2 report usage "$ID" --csv
seqs=$(for n in 1 2 3; do central_last "$n"; done | tr '\n' ' ')
nodectl 2 report usage "$ID" --json >"$T/usage.json" 2>&1
check "... and says which records it read of each node, named (each node numbers its own; at least $seqs)" python3 -c '
import json, re, sys
h = json.load(open(sys.argv[1]))["report"]
m = re.fullmatch(r"n1: (\d+), n2: (\d+), n3: (\d+)", h["audit_log_seq"])
f = re.fullmatch(r"n1: 1, n2: 1, n3: 1", h["audit_log_first_seq"])
print("# audit_log_seq:", h["audit_log_seq"], "first:", h["audit_log_first_seq"], "missing within:", h["audit_log_missing_within"])
sys.exit(0 if m and f and all(int(a) >= int(b) for a, b in zip(m.groups(), sys.argv[2:])) else 1)' "$T/usage.json" $seqs
require "the dataset destroyed from n2" nodectl 2 dataset destroy "$ID" --yes
check_output "the destruction report (read on n3) counts kt_bob's opens on every node ($allowed)" \
  "\| kt_bob \| co-investigator \| [0-9]+ \| [^|]* \| [^|]* \| $allowed \|" nodectl 3 report destruction "$ID"
check_output "... and names the node of the last record it read" "^Last record before the destruction: seq [0-9]+ of node n[123], mac [0-9a-f]{64}$" \
  nodectl 3 report destruction "$ID"

for n in 1 2 3; do KURAFS_PID=${PID[$n]}; KURAFS_LOG=${KLOG[$n]}; stop_kura "$T/mnt$n"; done
check "each node's stop record reached the store" test "$(sql "select count(distinct node) from kura.audit where line like '%\"event\":\"stop\"%'")" = 3
# A node that said it wrote more than it stored: its backlog, not a gap.
sql "update kura.audit_nodes set written_seq = written_seq + 5 where node = 'n2'"
check_output "audit verify: records a node has not shipped yet are a note, not a failure" \
  "node n2: .*chain verified; seq [0-9]+\.\.[0-9]+ not shipped yet" nodectl 1 audit verify
done_testing
