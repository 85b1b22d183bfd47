#!/usr/bin/env bash
# Cluster mode (issue 19; R-CLU-1, R-REV-3): key rotate and key retire are
# stamped with the fingerprint of the server key they make current or
# retire, and a node whose copy of the keystore is older (a client cache of
# the shared file system) must not acknowledge them. No real cache is at
# hand, so node n3 reads a lagging copy of the keystore the test owns
# ($T/n3view/keys; $T/n3view a link the test moves by rename to a fresh
# copy only after it has checked n3 while the copy was old). For a rotation
# and a retirement made while n3's copy is old: the command returns once
# n3's lease has ended (within 1 s of its end), n3 has not acknowledged it,
# serves nothing and says why in kuractl status and its log; after a
# rotation it still holds the old keys (kuractl status's "server keys in
# memory"), after a retirement it no longer holds the retired key (wiped
# when told, though its copy still has it); once its copy is refreshed it
# holds the new key as current, acknowledges and serves. Both made during a lockdown (no
# node holds keys then): no node acknowledges them before the unlock, and
# n3, unlocked on its old copy, serves nothing until the copy is current.
# Then kuractl key retire killed -9 before each of its steps: the next
# change resolves the interrupted retirement from the keystore, and once
# the key is retired no node holds it in memory.
# A rotation that fails part way is settled at once.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000096
for u in kt_alice kt_bob; do make_user "$u"; done
require "PostgreSQL, kuractl init, cluster init" cluster_setup
require "dataset add, import" one_file_dataset "$ID" kt_alice x.bin 262144
require "user add kt_bob" kuractl user add "$ID" kt_bob

# n3's lagging copy of the keystore (root's, modes kept) under the link
# (the keystore itself must be a directory, not a link).
refresh_n3() { lagging_copy keys "$KROOT/lib/keys/"; }
require "n3's copy of the keystore" refresh_n3
require "node configs" eval 'node_conf 1 && node_conf 2 && node_conf 3 &&
  sed -i "s|^keys_dir = .*|keys_dir = $T/n3view/keys|" "$T/n3.conf"'
for i in 1 2 3; do require "mount node n$i" mount_node "$i"; done
reads() { as "$1" head -c 4096 "$T/m$2/$ID/x.bin" >/dev/null; }
for i in 1 2 3; do require "node n$i serves" wait_for 10 reads kt_bob "$i"; done
cur_fp() { kuractl key list | awk '$1 == "current" {print $2}'; }
# keys_of I: the server keys node nI says it holds in memory
keys_of() { nodectl "$1" status | grep '^server keys in memory:'; }
holds() { keys_of "$1" | grep -q "$2 ($3)"; }
holds_not() { keys_of "$1" >"$T/keys.$1" && ! grep -q "$2" "$T/keys.$1"; }

OLD=$(cur_fp)
for i in 1 2 3; do check "n$i holds the server key as current" holds "$i" "$OLD" current; done

# stale_key_change NAME WHY FP CMD...: CMD made while n3's copy of the
# keystore is older. It returns once n3's lease ended; n3 has not
# acknowledged the change's epoch, serves nothing and says that its keys
# are older than the change (key FP, WHY).
stale_key_change() {
  local name=$1 why=$2 fp=$3; shift 3
  made_while_n3_lags "$name" "$@"
  [ -n "$fp" ] || fp=$(cur_fp)
  check "$name: its epoch is stamped with key ${fp:0:16}" \
    test "$(psql "$PG_CONN" -tAc "select fingerprint from kura.epochs where epoch = $E")" = "$fp"
  check_output "$name: kuractl status on n3 says it serves nothing, behind, its keys stale" \
    "cluster node n3 NOT SERVING \(every open and read refused\): behind the latest change \(cannot apply the latest change: the server keys \(key ${fp:0:16}\.\.\. $why\) read from the shared file system is older than change $E \(a stale cache\)" \
    nodectl 3 status
  check "$name: n3's log says why" grep -q "cluster node n3 stops serving: behind the latest change (.*the server keys (key ${fp:0:16}... $why)" "${NODE_LOG[3]}"
  check_fails "$name: n3 refuses kt_bob an open" reads kt_bob 3
  for i in 1 2; do check "$name: n$i serves kt_bob" reads kt_bob "$i"; done
}
# caught_up NAME: n3's copy refreshed, n3 applies the latest epoch and serves.
caught_up() {
  require "$1: n3's copy refreshed" refresh_n3
  check "$1: n3 catches up and acknowledges" wait_for $((CLUSTER_LEASE * 3 + 5)) applied_at_least 3 "$E"
  check "$1: n3 catches up and acknowledges (applied $(applied 3) >= $E)" test "$(applied 3)" -ge "$E"
  check "$1: kuractl status on n3: serving again" wait_for 5 sh -c "'$KURACTL' -c '$T/n3.conf' status | grep -q 'cluster node n3 serving'"
  check "$1: n3 serves kt_bob" wait_for 5 reads kt_bob 3
}

# ---- key rotate: n3's copy still has the old key as current ----
stale_key_change "key rotate" "not current yet" "" kuractl key rotate
NEW=$(cur_fp)
check "key rotate made a new current key" test -n "$NEW" -a "$NEW" != "$OLD"
for i in 1 2; do check "key rotate: n$i holds the new key as current" holds "$i" "$NEW" current; done
check "key rotate: n3 still holds only the old key (its copy)" sh -c "'$KURACTL' -c '$T/n3.conf' status | grep '^server keys in memory:' | grep -q '$OLD (current)\$'"
caught_up "key rotate"
check "key rotate: n3 holds the new key as current" holds 3 "$NEW" current
check "key rotate: n3 keeps the old one as earlier" holds 3 "$OLD" earlier

# ---- key retire: n3's copy still holds the retired key's secret ----
stale_key_change "key retire" "retired but still there" "$OLD" kuractl key retire "$OLD" --yes
check "key retire: the secret is gone from the shared keystore" test -z "$(find "$KROOT/lib/keys" -name "$OLD.sec*")"
for i in 1 2; do check "key retire: n$i no longer holds the retired key" holds_not "$i" "$OLD"; done
check "key retire: n3's copy of the keystore still has the retired key's secret" \
  test -n "$(find -L "$T/n3view/keys" -name "$OLD.sec*")"
check "key retire: n3, not acknowledging, no longer holds it in memory all the same" holds_not 3 "$OLD"
caught_up "key retire"
check "key retire: n3 no longer holds the retired key" holds_not 3 "$OLD"
check "key retire: n3 holds the current key" holds 3 "$NEW" current

# ---- a lockdown wipes every node's keys, so no node can show a key change
# made meanwhile: none acknowledges one (each waits, behind, until the
# unlock), else n3, unlocked from a copy that still has the retired key,
# would serve with it back in memory. ----
check "lockdown" kuractl lockdown --reason "key changes in a lockdown"
for i in 1 2 3; do check "lockdown: n$i holds no server key" sh -c "'$KURACTL' -c '$T/n$i.conf' status | grep -qx 'server keys in memory: none (lockdown)'"; done
t0=$EPOCHREALTIME
check "key rotate during the lockdown" kuractl key rotate
check "key retire of the key current before it" kuractl key retire "$NEW" --yes
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%d", (b - a) * 1000}')
E=$(latest)
NEW2=$(cur_fp)
check "both returned within lease + 3 s ($took ms)" test "$took" -le $((CLUSTER_LEASE * 1000 + 3000))
for i in 1 2 3; do check "lockdown: n$i did not acknowledge the key changes (applied $(applied "$i") < $E)" test "$(applied "$i")" -lt "$E"; done
check "unlock" kuractl unlock
E=$(latest)
for i in 1 2; do
  check "unlock: n$i catches up" wait_for $((CLUSTER_LEASE * 3 + 5)) applied_at_least "$i" "$E"
  check "unlock: n$i holds the new key as current" holds "$i" "$NEW2" current
  check "unlock: n$i does not hold the key retired during the lockdown" holds_not "$i" "$NEW"
  check "unlock: n$i serves kt_bob" wait_for 5 reads kt_bob "$i"
done
check "unlock: n3 (its copy older) has not acknowledged (applied $(applied 3) < $E)" test "$(applied 3)" -lt "$E"
check_fails "unlock: n3 refuses kt_bob an open" reads kt_bob 3
check_output "unlock: kuractl status on n3 says it serves nothing, its keys stale" \
  "cluster node n3 NOT SERVING \(every open and read refused\): behind the latest change \(.*the server keys \(key ${NEW2:0:16}\.\.\. not current yet\)" \
  nodectl 3 status
caught_up "unlock"
check "unlock: n3 holds the new key as current" holds 3 "$NEW2" current
check "unlock: n3 does not hold the key retired during the lockdown" holds_not 3 "$NEW"

# ---- kuractl key retire killed -9 before each of its steps; n3 reads the
# shared keystore from here on. The next change resolves the pending epoch
# from the keystore: the key retired (its secret erased and recorded), the
# retirement was made and is announced, and no node holds the key; else it
# is dropped (kuractl key list says to run it again), and the re-run
# leaves no node holding it. ----
sed -i "s|^keys_dir = .*|keys_dir = $KROOT/lib/keys|" "$T/n3.conf"
stop_node 3
require "n3 remounted on the shared keystore" mount_node 3
require "n3 serves" wait_for 10 reads kt_bob 3
require "a key to trace retire with" kuractl key rotate
steps=$(name_steps "$KURACTL" -c "$KCONF" key retire "$(kuractl key list | awk '$1 == "earlier" {print $2; exit}')" --yes)
nsteps=$(grep -c . <<<"$steps")
check "key retire's steps are seen (control: $nsteps)" test "$nsteps" -ge 2
bad=0 made=0
key_state() { kuractl key list | awk -v f="$1" '$2 == f {print $1}'; }
while read -r -u 3 point; do
  fp=$(cur_fp)
  kuractl key rotate >/dev/null 2>"$T/kill.err" || { bad=$((bad + 1)); diag "before $point: $(cat "$T/kill.err")"; }
  for i in 1 2 3; do holds "$i" "$fp" earlier || { bad=$((bad + 1)); diag "before $point: n$i does not hold $fp"; }; done
  kill_at "$point" "$KURACTL" -c "$KCONF" key retire "$fp" --yes
  e=$(last_epoch)
  state=$(key_state "$fp")
  # The next change, one that leaves the keys alone (lockdown would wipe them).
  out=$(kuractl dataset suspend "$ID" --reason next 2>&1 && kuractl dataset resume "$ID" 2>&1)
  if [ "$state" = retired ]; then
    made=$((made + 1))
    resolution_said "$e" "$out" "was made: announced" ||
      { bad=$((bad + 1)); diag "retire killed $point: retired, but neither the next change nor the maintenance announced epoch $e: $out"; }
    for i in 1 2 3; do holds_not "$i" "$fp" || { bad=$((bad + 1)); diag "retire killed $point: n$i still holds the erased key $fp"; }; done
  else
    resolution_said "$e" "$out" "was not made: dropped" ||
      { bad=$((bad + 1)); diag "retire killed $point: $state, but neither the next change nor the maintenance dropped epoch $e: $out"; }
    kuractl key retire "$fp" --yes >/dev/null 2>"$T/kill.err" || { bad=$((bad + 1)); diag "retire killed $point: the re-run fails: $(cat "$T/kill.err")"; }
    for i in 1 2 3; do holds_not "$i" "$fp" || { bad=$((bad + 1)); diag "retire killed $point: after the re-run n$i still holds $fp"; }; done
  fi
  no_pending || { bad=$((bad + 1)); diag "retire killed $point: an epoch is left pending"; }
  for i in 1 2 3; do [ "$(applied "$i")" -ge "$(latest)" ] || { bad=$((bad + 1)); diag "retire killed $point: n$i is behind"; }; done
done 3< <(kill_points 0 0 "$steps")
diag "key retire killed before each of its $nsteps steps: $made times after its record was written"
check "kill -9 before each of key retire's $nsteps steps: resolved from the keystore, no node holds an erased key" test "$bad" = 0
check "a kill came after the retirement's record at least once (control)" test "$made" -ge 1
# A key rotate that fails after its pending epoch was recorded (the old
# key's second name refused: an I/O error injected) is settled at once
# from the keystore: aborted, nothing left pending, the key unchanged.
before_fp=$(cur_fp)
check_fails "key rotate with its first link failing" \
  strace -qq -o /dev/null -e trace=link,linkat -e inject=link,linkat:error=EIO:when=1 "$KURACTL" -c "$KCONF" key rotate
check "the failed rotation left no epoch pending" no_pending
check "the failed rotation changed no key" test "$(cur_fp)" = "$before_fp"
check "the failed rotation's epoch was aborted" \
  test "$(psql "$PG_CONN" -tAc "select state from kura.epochs where change = 'key-rotate' order by epoch desc limit 1")" = aborted
check "key changes are in the database ($(psql "$PG_CONN" -tAc "select count(*) from kura.epochs where fingerprint <> ''")), by fingerprint only: no key material in PostgreSQL" \
  test "$(psql "$PG_CONN" -tAc "select count(*) from kura.epochs where fingerprint <> ''")" -ge 3 -a \
  -z "$(psql "$PG_CONN" -tAc "select epoch from kura.epochs where fingerprint !~ '^([0-9a-f]{64})?\$'")"

for i in 1 2 3; do stop_node "$i"; done
done_testing
