# Cluster tests' helpers (issue 19), sourced after lib.sh: nodes n1..nN on
# this machine, each with its own config, mount, control socket and audit
# log, all serving the one state directory under $KROOT, with the private
# PostgreSQL of start_postgres as the authority.
CLUSTER_LEASE=${CLUSTER_LEASE:-2}

# cluster_section FILE NODE CONN: FILE's [cluster] (its last section) set to
# database CONN, node NODE and lease $CLUSTER_LEASE.
cluster_section() {
  sed -i '/^\[cluster\]/,$d' "$1" &&
    printf '[cluster]\ndatabase = %s\nnode = %s\nlease_seconds = %s\n' "$3" "$2" "$CLUSTER_LEASE" >>"$1"
}

# cluster_setup: PostgreSQL, kuractl init, $KCONF in cluster mode (node
# "ctl", which never mounts), kuractl cluster init.
cluster_setup() {
  start_postgres && kura_init && cluster_section "$KCONF" ctl "$PG_CONN" && kuractl cluster init >/dev/null
}

# node_conf I [CONN]: $T/nI.conf, $KCONF as node nI (database CONN,
# default $PG_CONN) with its own socket and audit log.
node_conf() {
  local f=$T/n$1.conf
  cp -p "$KCONF" "$f" &&
    sed -i "s|^socket = .*|socket = $KROOT/run/n$1.sock|; s|^audit_log = .*|audit_log = $KROOT/log/n$1.jsonl|" "$f" &&
    cluster_section "$f" "n$1" "${2:-$PG_CONN}"
}
# nodectl I ARGS...: kuractl on node nI
nodectl() { local i=$1; shift; "$KURACTL" -c "$T/n$i.conf" "$@"; }

# mount_node I: mounts node nI at $T/mI (unmounted on exit); NODE_PID[I],
# NODE_LOG[I].
declare -A NODE_PID NODE_LOG
mount_node() {
  KCONF=$T/n$1.conf mount_kura "$T/m$1" || return 1
  NODE_PID[$1]=$KURAFS_PID
  NODE_LOG[$1]=$KURAFS_LOG
}
# stop_node I: stop_kura for node nI.
stop_node() { KURAFS_PID=${NODE_PID[$1]} KURAFS_LOG=${NODE_LOG[$1]} stop_kura "$T/m$1"; }

# The database's view: the latest done epoch; the epoch node nI has
# applied; no epoch left pending; how long ago node nI's lease ended (ms,
# negative while it runs).
latest() { psql "$PG_CONN" -tAc "select coalesce(max(epoch) filter (where state = 'done'), 0) from kura.epochs"; }
applied() { psql "$PG_CONN" -tAc "select applied_epoch from kura.nodes where name = 'n$1'"; }
# applied_at_least I E: node nI has applied epoch E (read each time: for wait_for)
applied_at_least() { test "$(applied "$1")" -ge "$2"; }
no_pending() { test "$(psql "$PG_CONN" -tAc "select count(*) from kura.epochs where state = 'pending'")" = 0; }
# last_epoch: the newest epoch, whatever its state (a killed change's, pending or resolved since)
last_epoch() { psql "$PG_CONN" -tAc "select coalesce(max(epoch), 0) from kura.epochs"; }
# resolution_said E OUT WANT: epoch E, left pending by a killed kuractl, was
# resolved as WANT ("was made: announced", "was not made: dropped"), said by
# the next change (its output OUT) or, when the node doing the maintenance
# took the cluster's lock first, in that node's log.
resolution_said() {
  grep -q "interrupted change (epoch $1, [^)]*) $3" <<<"$2" ||
    cat "${NODE_LOG[@]}" 2>/dev/null | grep -q "maintenance: an interrupted change (epoch $1, [^)]*) $3"
}
lease_ended_ms() {
  psql "$PG_CONN" -tAc "select (extract(epoch from clock_timestamp() - lease_until) * 1000)::int from kura.nodes where name = 'n$1'"
}

# made_while_n3_lags NAME CMD...: CMD, made while n3 reads an older copy
# (lagging_copy), makes a new epoch $E and returns once n3's lease has
# ended: not before (n3 does not acknowledge it) and less than a second
# after; n1 and n2 have applied it.
made_while_n3_lags() {
  local name=$1 before t0 took ended
  shift
  before=$(latest)
  t0=$EPOCHREALTIME
  check "$name (n3's copy older)" "$@"
  took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}')
  ended=$(lease_ended_ms 3)
  E=$(latest)
  check "$name: a new epoch ($E)" test "$E" -gt "$before"
  check "$name returned within 1 s of n3's lease ending (${ended} ms after; $took ms in all)" \
    test "$ended" -ge 0 -a "$ended" -le 1000
  check "$name returned within lease + 3 s ($took ms)" test "$took" -le $((CLUSTER_LEASE * 1000 + 3000))
  check "$name: n3 did not acknowledge it (applied $(applied 3) < $E)" test "$(applied 3)" -lt "$E"
  for i in 1 2; do check "$name: n$i applied it" test "$(applied "$i")" -ge "$E"; done
}

# lagging_copy SUB SRC [RSYNC_ARGS...]: a client cache of the shared file
# system, simulated: a fresh copy of SRC at $T/n3view/SUB (SUB "": at
# $T/n3view), swapped in by one rename of the link $T/n3view, so that a
# node reading through it sees the copy change at once and only when the
# test says.
LAGGING_COPIES=0
lagging_copy() {
  local sub=$1 src=$2 next
  shift 2
  LAGGING_COPIES=$((LAGGING_COPIES + 1))
  next=$T/n3copy.$LAGGING_COPIES
  mkdir -p -m 0700 "$next/$sub" && rsync -a "$@" "$src" "$next/$sub/" &&
    ln -sfn "$next" "$T/n3view.new" && mv -T "$T/n3view.new" "$T/n3view"
}

# start_proxy NAME [PORT]: a loopback TCP proxy to PostgreSQL's socket
# (tests/helpers/pg_proxy.py), stopped on exit; PROXY_PORT[NAME] its port,
# PROXY_PID[NAME] its pid. A node cut off is one whose proxy is stopped.
declare -A PROXY_PORT PROXY_PID
start_proxy() {
  local name=$1 port=${2:-0} pf=$T/proxy.$1.port
  rm -f "$pf"
  /usr/bin/python3 "$KURA_TOP/tests/helpers/pg_proxy.py" "$PG_DIR/.s.PGSQL.5432" "$port" "$pf" >"$T/proxy.$name.log" 2>&1 &
  PROXY_PID[$name]=$!
  on_exit "kill -9 ${PROXY_PID[$name]}"
  wait_for 10 test -s "$pf" || return 1
  PROXY_PORT[$name]=$(cat "$pf")
}
stop_proxy() { kill -9 "${PROXY_PID[$1]}" && wait "${PROXY_PID[$1]}" 2>/dev/null; return 0; }
proxy_conn() { echo "host=127.0.0.1 port=${PROXY_PORT[$1]} dbname=postgres user=kura connect_timeout=2"; }

# handle_refused FILE NODE USER [SECONDS]: waits up to SECONDS (5) for a
# refusal in FILE (the output of read_until_refused.py) and prints its
# lines; if the refusal is neither EACCES nor ENOENT (the kernel asking for
# the attributes of a file whose pages were dropped as access ended, see
# kurafs.8), also NODE's last audit records of USER and the end of its
# log, and fails (check_output then shows what the reader saw and what the
# node decided).
handle_refused() {
  wait_for "${4:-5}" grep -q '^refused' "$1"
  cat "$1"
  grep -Eq '^refused (EACCES|ENOENT) ' "$1" && return 0
  grep "\"user\":\"$3\"" "$KROOT/log/n$2.jsonl" | tail -n 4
  tail -n 5 "${NODE_LOG[$2]}"
  return 1
}

# install_reader: tests/helpers/read_until_refused.py where the test users
# can run it (it holds a file open and reads until refused); READER its path.
install_reader() {
  install -m 0755 "$KURA_TOP/tests/helpers/read_until_refused.py" "$KURA_USER_BIN/" &&
    READER=$KURA_USER_BIN/read_until_refused.py
}

# two_sample_dataset ID SEGMENTS SAMPLE1 SAMPLE2: kt_alice's dataset ID (from
# yesterday for 30 days) of $T/data/S1/reads.bin (sample SAMPLE1) and
# S2/reads.bin (SAMPLE2), SEGMENTS x 64 KiB of random bytes each, imported
# with the sample map $T/samples.tsv (both left for further imports).
two_sample_dataset() {
  local id=$1 segments=$2
  mkdir -p "$T/data/S1" "$T/data/S2" &&
    head -c $((segments * 65536)) /dev/urandom >"$T/data/S1/reads.bin" &&
    head -c $((segments * 65536)) /dev/urandom >"$T/data/S2/reads.bin" &&
    chmod -R a+rX "$T/data" &&
    printf 'S1/reads.bin\t%s\nS2/reads.bin\t%s\n' "$3" "$4" >"$T/samples.tsv" &&
    kuractl dataset add "$id" --pi kt_alice --period "$(day -1)..$(day 30)" &&
    kuractl dataset import "$id" --encrypt --samples "$T/samples.tsv" "$T/data"
}
