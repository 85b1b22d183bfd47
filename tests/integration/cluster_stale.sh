#!/usr/bin/env bash
# Cluster mode (issue 19; R-CLU-1, R-CLU-2): a node that reads a copy of the shared
# state older than an announced change (a client cache of the shared file
# system) must notice and not act on it. No real shared-file-system cache
# is at hand, so node n3 serves a lagging copy of the state directory the
# test owns: $T/n3view, a link the test moves (by rename) to a fresh copy
# only after it has checked n3 while the copy was old. For each change
# whose state file n3's copy does not yet show (user remove: dataset.ini;
# lockdown and unlock: the lockdown file; import: files.tsv) the change
# returns once n3's lease has ended (within 1 s of its end), n3 has not
# acknowledged it, serves nothing (new opens and open handles refused) and
# says why in kuractl status and its log; once the copy is refreshed n3
# catches up, acknowledges and serves again. kuractl lockdown and unlock
# killed -9 at each step leave no half-done epoch.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000097
install_reader
for u in kt_alice kt_bob; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup
mkdir -p "$T/data" "$T/data2" && head -c $((8 * 65536)) /dev/urandom >"$T/data/x.bin" &&
  head -c 65536 /dev/urandom >"$T/data2/new.bin" && chmod -R a+rX "$T/data" "$T/data2"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
require "user add kt_bob" kuractl user add "$ID" kt_bob

# n3's lagging copy: the state directory without the keystore (n3 uses the
# shared one).
refresh_n3() { lagging_copy "" "$KROOT/lib/" --exclude=/keys; }
require "n3's copy of the state" refresh_n3
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3 &&
  sed -i "s|^state_dir = .*|state_dir = $T/n3view|; s|^keys_dir = .*|keys_dir = $KROOT/lib/keys|" "$T/n3.conf"'
for i in 1 2 3; do require "mount node n$i" mount_node "$i"; done
F() { echo "$T/m$1/$ID/${2:-x.bin}"; }
reads() { as "$1" head -c 4096 "$(F "$2" "${3:-}")" >/dev/null; }
for i in 1 2 3; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done
mkdir -p "$T/r" && chmod 0777 "$T/r"

# stale_change NAME STAMP CMD...: CMD made while n3's copy is older. It
# returns once n3's lease ended; n3 has not acknowledged the change's
# epoch, serves nothing and says that its copy of STAMP is stale.
stale_change() {
  local name=$1 stamp=$2; shift 2
  made_while_n3_lags "$name" "$@"
  check_output "$name: cluster status shows n3's lease ended when it returned" '^n3 +[0-9]+ +ended' kuractl cluster status
  check_output "$name: kuractl status on n3 says it serves nothing, behind, with a stale $stamp" \
    "cluster node n3 NOT SERVING \(every open and read refused\): behind the latest change \(cannot apply the latest change: .*$stamp read from the shared file system is older than change $E \(a stale cache\)" \
    nodectl 3 status
  check "$name: n3's log says why" grep -q "cluster node n3 stops serving: behind the latest change (.*$stamp read from the shared file system is older than change $E" "${NODE_LOG[3]}"
  check_fails "$name: n3 refuses the PI an open" reads kt_alice 3
}
# caught_up NAME: n3's copy refreshed, n3 applies the latest epoch.
caught_up() {
  require "$1: n3's copy refreshed" refresh_n3
  check "$1: n3 catches up and acknowledges" wait_for $((CLUSTER_LEASE * 3 + 5)) applied_at_least 3 "$E"
  check "$1: n3 catches up and acknowledges (applied $(applied 3) >= $E)" test "$(applied 3)" -ge "$E"
  check_output "$1: kuractl status on n3: serving again" 'cluster node n3 serving' nodectl 3 status
}

# ---- a made-up announcement: any session that may connect can NOTIFY the
# channel with any number. The nodes read the latest change from the table
# and acknowledge nothing more; else every node would claim the epoch, the
# next change would find none behind, and n3 (its copy lagging) would go
# on serving after it returned (the user remove below checks that). ----
L=$(latest)
require "a notice of epoch 999999999 on kura_epoch, from a session of its own" \
  psql "$PG_CONN" -qc "NOTIFY kura_epoch, '999999999'"
sleep "$CLUSTER_LEASE"
for i in 1 2 3; do
  check "made-up announcement: n$i acknowledges only the latest change ($(applied "$i") = $L)" test "$(applied "$i")" = "$L"
done

# ---- user remove (dataset.ini's stamp) ----
as kt_bob /usr/bin/python3 "$READER" "$(F 3)" "$T/r/bob3" 60 &
r=$!
on_exit "kill $r"
check "kt_bob holds x.bin open on n3" wait_for 10 grep -q '^first ok' "$T/r/bob3"
stale_change "user remove kt_bob" "$ID/dataset.ini" kuractl user remove "$ID" kt_bob
check "user remove: kt_bob's open handle on n3 was refused" wait_for 2 grep -q '^refused' "$T/r/bob3"
for i in 1 2; do check_fails "user remove: n$i refuses kt_bob" reads kt_bob "$i"; done
caught_up "user remove"
check "user remove: n3 serves the PI" wait_for 5 reads kt_alice 3
check_fails "user remove: n3 refuses kt_bob" reads kt_bob 3
wait "$r" 2>/dev/null

# ---- lockdown: a copy without the lockdown file must not serve ----
as kt_alice /usr/bin/python3 "$READER" "$(F 3)" "$T/r/alice3" 60 &
r=$!
on_exit "kill $r"
check "kt_alice holds x.bin open on n3" wait_for 10 grep -q '^first ok' "$T/r/alice3"
stale_change "lockdown" lockdown kuractl lockdown --reason "cluster stale test"
check "lockdown: kt_alice's open handle on n3 was refused" wait_for 2 grep -q '^refused' "$T/r/alice3"
for i in 1 2; do check_fails "lockdown: n$i refuses the PI" reads kt_alice "$i"; done
caught_up "lockdown"
check_fails "lockdown: n3, caught up, refuses the PI (locked down)" reads kt_alice 3
check_output "lockdown: kuractl status on n3 shows the lockdown" '^LOCKDOWN since' nodectl 3 status
wait "$r" 2>/dev/null

# ---- unlock: a copy still locked down. Fail-safe (it refuses anyway), but
# n3 did not apply the unlock, so it must not say it did; it serves again
# only once its copy shows the unlock. ----
stale_change "unlock" lockdown kuractl unlock
for i in 1 2; do check "unlock: n$i serves the PI" reads kt_alice "$i"; done
check "unlock leaves a stamped unlocked record in cluster mode" \
  grep -q "\"state\":\"unlocked\",.*\"epoch\":$E" "$KROOT/lib/lockdown"
caught_up "unlock"
check "unlock: n3 serves the PI" wait_for 5 reads kt_alice 3

# ---- import: a stale files.tsv ----
stale_change "import new.bin" "$ID/files.tsv" kuractl dataset import "$ID" --encrypt "$T/data2"
for i in 1 2; do check "import: n$i serves new.bin" reads kt_alice "$i" new.bin; done
check "import stamps files.tsv with its epoch" grep -qx "#epoch	$E" "$KROOT/lib/datasets/$ID/files.tsv"
caught_up "import"
check "import: n3 serves new.bin" wait_for 5 reads kt_alice 3 new.bin

# ---- kuractl lockdown and unlock killed -9 before and after the file is
# written and at random moments: the pending epoch was recorded before the
# lockdown file was written, and the next change resolves it from the file
# (its epoch there: made, announced; else dropped).
# n3 reads the shared state from here on. ----
sed -i "s|^state_dir = .*|state_dir = $KROOT/lib|" "$T/n3.conf"
stop_node 3
require "n3 remounted on the shared state" mount_node 3
require "n3 serves" wait_for 10 reads kt_alice 3
locked() { grep -q '"reason"' "$KROOT/lib/lockdown" 2>/dev/null; }
# fsync_after_rename CMD...: CMD run once, traced: the number of its first
# fsync after its first rename (the lockdown file is in place by then).
fsync_after_rename() {
  strace -qq -o "$T/fsync.trace" -e trace=fsync,rename,renameat,renameat2 "$@" >/dev/null 2>&1
  awk '/^fsync/ { n++; if (r) { print n; exit } } /^rename/ { r = 1 }' "$T/fsync.trace"
}
# kill_cmd POINT CMD...: kill_at POINT, or "after-rename N": killed at
# the N-th fsync (the file written, the change not yet announced).
kill_cmd() {
  local point=$1; shift
  case $point in
    after-rename*) strace -qq -o /dev/null -e trace=fsync -e inject=fsync:signal=KILL:when="${point#after-rename }" "$@" >/dev/null 2>&1 ;;
    *) kill_at "$point" "$@" ;;
  esac
}
# after_kill NAME WANT: the next change, or the node doing the maintenance
# before it, resolves the epoch the killed one left as WANT says ("made",
# "not made", "" either; then it unlocks), and nothing is left pending or
# unapplied.
after_kill() {
  local name=$1 want=$2 out e
  e=$(last_epoch)
  if locked; then out=$(kuractl unlock 2>&1); else
    out=$(kuractl lockdown --reason next 2>&1 && kuractl unlock 2>&1); fi
  case $want in
    made) check "$name: the interrupted change (epoch $e) is announced" resolution_said "$e" "$out" "was made: announced" ;;
    "not made") check "$name: the interrupted change (epoch $e) is dropped" resolution_said "$e" "$out" "was not made: dropped" ;;
  esac
  check "$name: no pending epoch after the next change" no_pending
  for i in 1 2 3; do check "$name: n$i applied the latest epoch" test "$(applied "$i")" -ge "$(latest)"; done
  # The killed command's restriction (a lockdown's: everything) is lifted
  # on the next change's lift notice if the node has applied the latest
  # epoch by then, else at the node's next check, every lease/3
  # (docs/cluster.md, "Lifted"): CI once read a node in between.
  check "$name: every node serves the PI within lease/3 + 1 s" \
    wait_for "$(awk -v l="$CLUSTER_LEASE" 'BEGIN {printf "%.2f", l / 3 + 1}')" \
    sh -c "for i in 1 2 3; do setpriv --reuid=kt_alice --regid=\$(id -g kt_alice) --init-groups head -c 1 '$T/m'\$i'/$ID/x.bin' >/dev/null || exit 1; done"
}
# Before the rename the pending epoch is recorded but the file does not
# carry it: dropped. After it: made. And at random moments.
ms=$(ms_of kuractl lockdown --reason probe)
after=$(fsync_after_rename "$KURACTL" -c "$KCONF" unlock)
kuractl lockdown --reason probe >/dev/null
steps=$(name_steps "$KURACTL" -c "$KCONF" unlock)
check "unlock's steps: a rename, then an fsync ($after)" test -n "$steps" -a -n "$after"
n=0
while read -r point <&3; do
  n=$((n + 1))
  kuractl lockdown --reason "k$n" >/dev/null
  kill_cmd "$point" "$KURACTL" -c "$KCONF" unlock
  want=; case $point in before*) want="not made" ;; after*) want=made ;; esac
  after_kill "unlock killed $point" "$want"
done 3< <(kill_points "$ms" 2 "$steps"; echo "after-rename $after")
after=$(fsync_after_rename "$KURACTL" -c "$KCONF" lockdown --reason probe)
kuractl unlock >/dev/null
steps=$(name_steps "$KURACTL" -c "$KCONF" lockdown --reason probe)
kuractl unlock >/dev/null
check "lockdown's steps: a rename, then an fsync ($after)" test -n "$steps" -a -n "$after"
while read -r point <&3; do
  n=$((n + 1))
  kill_cmd "$point" "$KURACTL" -c "$KCONF" lockdown --reason "k$n"
  want=; case $point in before*) want="not made" ;; after*) want=made ;; esac
  after_kill "lockdown killed $point" "$want"
done 3< <(kill_points "$ms" 2 "$steps"; echo "after-rename $after")

for i in 1 2 3; do stop_node "$i"; done
done_testing
