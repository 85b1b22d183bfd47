#!/usr/bin/env bash
# kill -9 at random points of every state change (issue 8), beyond the
# user add / import / destroy loops of kuractl_roles, kuractl_import and
# kuractl_revoke: dataset add, extend, suspend/resume, withdraw (also of a
# sample with no file yet: pending, then honoured by a later import) and
# lockdown/unlock by kuractl in direct mode, and user add/remove and
# withdraw through a daemon that is itself killed -9 mid-request. After every
# kill: the state loads, the dataset's ledger and the audit log verify, and
# the change happened entirely or not at all (R-LOG-2, R-LOG-3); a killed
# daemon's mount is unmounted and mounted again cleanly.
# Each change is killed at N uniformly random moments within its own
# measured run time (times 1.3), and then before each of its system calls
# that change a name (lib.sh's kill points), so every state between two of
# them is reached however short the window.
. "$(dirname "$0")/lib.sh"

N=${KILL_ITERATIONS:-12}
S=40   # samples kept for the kills before each step of a withdrawal
B=$((N + S))
for u in kt_alice kt_bob kt_carol kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
STATE=$KROOT/lib
D=JGAD600001
mkdir -p "$T/data"
: >"$T/samples.tsv"
# samples 1..B: withdrawn by killed kuractl; B+1: timing; B+2: never
# withdrawn; B+3..B+8: withdrawn through a daemon that is killed; B+9: traced
for i in $(seq 1 $((B + 9))); do
  head -c 70000 /dev/urandom >"$T/data/s$i.bin"
  printf 's%d.bin\tSAMP%d\n' "$i" "$i" >>"$T/samples.tsv"
done
chmod -R a+rX "$T/data"
require "dataset add $D" kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import $D with $((B + 9)) samples" kuractl dataset import "$D" --encrypt --samples "$T/samples.tsv" "$T/data"

nrecords() { kuractl ledger "$1" --json 2>/dev/null | grep -c '"seq"'; }
# all_or_nothing ID BEFORE_INI BEFORE_RECORDS: after a kill, the ledger
# verifies (reading it finishes an interrupted change), the state loads, and
# dataset.ini changed exactly when the ledger gained one record.
bad=0
all_or_nothing() {
  local id=$1 before=$2 nbefore=$3 what=$4 after nafter changed
  if ! kuractl ledger "$id" >"$T/ledger.txt" 2>&1; then
    bad=$((bad + 1)); diag "$what: the ledger of $id does not verify: $(head -n 2 "$T/ledger.txt")"; return 1
  fi
  if ! kuractl user list "$id" >/dev/null 2>"$T/list.err"; then
    bad=$((bad + 1)); diag "$what: the state of $id does not load: $(cat "$T/list.err")"; return 1
  fi
  nafter=$(nrecords "$id")
  after=$(sha256sum <"$STATE/datasets/$id/dataset.ini")
  [ "$after" != "$before" ] && changed=1 || changed=0
  if [ "$((nafter - nbefore))" != "$changed" ]; then
    bad=$((bad + 1)); diag "$what: dataset.ini changed=$changed but the ledger gained $((nafter - nbefore)) record(s)"; return 1
  fi
  if ! kuractl audit verify >"$T/verify.txt" 2>&1; then
    bad=$((bad + 1)); diag "$what: the audit log does not verify: $(tail -n 2 "$T/verify.txt")"; return 1
  fi
  [ "$changed" = 1 ]
}
leftovers() { find "$STATE/datasets/$1" -maxdepth 1 \( -name .pending -o -name '.*.tmp-*' \); }

# ---- extend ----
ms=$(ms_of kuractl dataset extend "$D" --until "$(day 31)" --ref EXT-0)
steps=$(name_steps "$KURACTL" -c "$KCONF" dataset extend "$D" --until "$(day 32)" --ref EXT-T)
diag "dataset extend takes ${ms} ms and changes names in $(grep -c . <<<"$steps") system calls"
bad=0 applied=0 i=0
while read -r -u 3 point; do
  i=$((i + 1))
  ini=$(sha256sum <"$STATE/datasets/$D/dataset.ini") n=$(nrecords "$D")
  kill_at "$point" "$KURACTL" -c "$KCONF" dataset extend "$D" --until "$(day $((32 + i)))" --ref "EXT-$i"
  all_or_nothing "$D" "$ini" "$n" "extend $i ($point)" && applied=$((applied + 1))
done 3< <(kill_points "$ms" "$N" "$steps")
diag "extend: applied before the kill in $applied of $i"
check "kill -9 during dataset extend, $i times ($N at random, then before each step): all or nothing, chains verify" test "$bad" = 0

# ---- suspend / resume ----
# Random kills alternate between the two; each step of suspend is killed
# from resumed, each step of resume from suspended.
suspended() { grep -q '^status = suspended' "$STATE/datasets/$D/dataset.ini"; }
ms=$(ms_of kuractl dataset suspend "$D" --reason s0)
steps_resume=$(name_steps "$KURACTL" -c "$KCONF" dataset resume "$D")
steps=$(name_steps "$KURACTL" -c "$KCONF" dataset suspend "$D" --reason sT)
kuractl dataset resume "$D" >/dev/null
bad=0 applied=0 i=0
while read -r -u 3 which point; do
  i=$((i + 1))
  if [ "$which" = suspend ] && suspended; then kuractl dataset resume "$D" >/dev/null; fi
  if [ "$which" = resume ] && ! suspended; then kuractl dataset suspend "$D" --reason "for $i" >/dev/null; fi
  ini=$(sha256sum <"$STATE/datasets/$D/dataset.ini") n=$(nrecords "$D")
  if suspended; then
    kill_at "$point" "$KURACTL" -c "$KCONF" dataset resume "$D"
  else
    kill_at "$point" "$KURACTL" -c "$KCONF" dataset suspend "$D" --reason "kill $i"
  fi
  all_or_nothing "$D" "$ini" "$n" "suspend/resume $i ($point)" && applied=$((applied + 1))
done 3< <(kill_points "$ms" "$N" "" | sed 's/^/either /'; kill_points 0 0 "$steps" | sed 's/^/suspend /'
          kill_points 0 0 "$steps_resume" | sed 's/^/resume /')
diag "suspend/resume: applied before the kill in $applied of $i"
check "kill -9 during dataset suspend/resume, $i times ($N at random, then before each step): all or nothing, chains verify" test "$bad" = 0
suspended && kuractl dataset resume "$D" >/dev/null

# ---- withdraw: all or nothing, and a re-run finishes destroying the keys ----
hdrs_of() { # headers left in the keystore for SAMPLE
  local f n=0
  for f in $(grep -P "\t$1\$" "$STATE/datasets/$D/files.tsv" | cut -f2); do
    [ -e "$STATE/keys/datasets/$D/$f.hdr" ] && n=$((n + 1))
  done
  echo "$n"
}
ms=$(ms_of kuractl withdraw "$D" "SAMP$((B + 1))" --ref W-0 --yes)
steps=$(name_steps "$KURACTL" -c "$KCONF" withdraw "$D" "SAMP$((B + 9))" --ref W-T --yes)
check "a withdrawal has at most $S steps (samples are kept for $S)" test "$(grep -c . <<<"$steps")" -le "$S"
bad=0 applied=0 i=0
while read -r -u 3 point; do
  i=$((i + 1))
  ini=$(sha256sum <"$STATE/datasets/$D/dataset.ini") n=$(nrecords "$D")
  kill_at "$point" "$KURACTL" -c "$KCONF" withdraw "$D" "SAMP$i" --ref "W-$i" --yes
  if all_or_nothing "$D" "$ini" "$n" "withdraw $i ($point)"; then
    applied=$((applied + 1))
    grep -q "^\[withdrawn SAMP$i\]" "$STATE/datasets/$D/dataset.ini" ||
      { bad=$((bad + 1)); diag "withdraw $i: the change is not the withdrawal"; }
    kuractl withdraw "$D" "SAMP$i" --ref "W-$i" >/dev/null 2>&1
    [ "$(hdrs_of "SAMP$i")" = 0 ] || { bad=$((bad + 1)); diag "withdraw $i: a re-run left headers"; }
  else
    [ "$(hdrs_of "SAMP$i")" = 1 ] || { bad=$((bad + 1)); diag "withdraw $i: not recorded, but the header is gone"; }
  fi
done 3< <(kill_points "$ms" "$N" "$steps")
diag "withdraw: applied before the kill in $applied of $i"
check "kill -9 during withdraw, $i times ($N at random, then before each step): all or nothing, a re-run finishes the key destruction" test "$bad" = 0
check "the sample never withdrawn still has its header" test "$(hdrs_of "SAMP$((B + 2))")" = 1

# ---- a pending withdrawal (no file of the sample yet): all or nothing, and it holds ----
steps=$(name_steps "$KURACTL" -c "$KCONF" withdraw "$D" LATET --ref P-T --yes)
bad=0 applied=0 i=0
mkdir -p "$T/late"
: >"$T/late.tsv"
while read -r -u 3 point; do
  i=$((i + 1))
  ini=$(sha256sum <"$STATE/datasets/$D/dataset.ini") n=$(nrecords "$D")
  kill_at "$point" "$KURACTL" -c "$KCONF" withdraw "$D" "LATE$i" --ref "P-$i" --yes
  if all_or_nothing "$D" "$ini" "$n" "pending withdraw $i ($point)"; then
    applied=$((applied + 1))
    grep -q "^\[withdrawn LATE$i\]" "$STATE/datasets/$D/dataset.ini" ||
      { bad=$((bad + 1)); diag "pending withdraw $i: the change is not the withdrawal"; }
  else
    kuractl withdraw "$D" "LATE$i" --ref "P-$i" --yes >/dev/null 2>&1
  fi
  head -c 1000 /dev/urandom >"$T/late/late$i.bin"
  printf 'late%d.bin\tLATE%d\n' "$i" "$i" >>"$T/late.tsv"
done 3< <(kill_points "$ms" "$N" "$steps")
NL=$i
diag "pending withdraw: applied before the kill in $applied of $NL"
check "kill -9 during a pending withdrawal, $NL times ($N at random, then before each step): all or nothing, chains verify" test "$bad" = 0
kuractl dataset import "$D" --encrypt --samples "$T/late.tsv" "$T/late" >"$T/late.out" 2>&1
check "the late delivery imports, every file kept unserved" grep -q "$NL of them of withdrawn samples" "$T/late.out"
nk=0; for i in $(seq 1 "$NL"); do nk=$((nk + $(hdrs_of "LATE$i"))); done
check "... and none of them got a key" test "$nk" = 0 -a "$(grep -cP '\tLATE[0-9]+$' "$STATE/datasets/$D/files.tsv")" = "$NL"
check "no journal or temporary file is left behind" test -z "$(leftovers "$D")"

# ---- dataset add: the dataset exists whole (ini, files.tsv, ledger, key) or not at all ----
ms=$(ms_of kuractl dataset add KADD0 --pi kt_alice --period "$(day 0)..$(day 9)")
steps=$(name_steps "$KURACTL" -c "$KCONF" dataset add KADDT --pi kt_alice --period "$(day 0)..$(day 9)")
bad=0 applied=0 i=0
while read -r -u 3 point; do
  i=$((i + 1))
  K=KADD$i
  kill_at "$point" "$KURACTL" -c "$KCONF" dataset add "$K" --pi kt_alice --period "$(day 0)..$(day 9)"
  if [ -e "$STATE/datasets/$K" ]; then
    applied=$((applied + 1))
    for f in dataset.ini files.tsv ledger.jsonl; do
      [ -s "$STATE/datasets/$K/$f" ] || { bad=$((bad + 1)); diag "add $i: $K exists without $f"; }
    done
    [ -d "$STATE/keys/datasets/$K" ] || { bad=$((bad + 1)); diag "add $i: $K exists without its key"; }
    kuractl ledger "$K" 2>/dev/null | grep "dataset-add $K" >/dev/null || { bad=$((bad + 1)); diag "add $i: no ledger record"; }
  else
    kuractl user list "$K" >/dev/null 2>&1 && { bad=$((bad + 1)); diag "add $i: $K half visible"; }
    kuractl dataset add "$K" --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null 2>"$T/add.err" ||
      { bad=$((bad + 1)); diag "add $i ($point): the re-run failed: $(cat "$T/add.err")"; }
  fi
done 3< <(kill_points "$ms" "$N" "$steps")
diag "dataset add: complete before the kill in $applied of $i"
check "kill -9 during dataset add, $i times ($N at random, then before each step): whole or absent, a re-run completes" test "$bad" = 0
check "status loads every dataset" kuractl status
check "the audit log verifies" kuractl audit verify

# ---- lockdown / unlock: the file is whole or absent ----
# Random kills alternate between the two; each step of lockdown is killed
# from off, each step of unlock from on.
ms=$(ms_of kuractl lockdown --reason l0)
steps_unlock=$(name_steps "$KURACTL" -c "$KCONF" unlock)
steps=$(name_steps "$KURACTL" -c "$KCONF" lockdown --reason lT)
kuractl unlock >/dev/null
bad=0 applied=0 i=0
while read -r -u 3 which point; do
  i=$((i + 1))
  was=$([ -e "$STATE/lockdown" ] && echo on || echo off)
  if [ "$which" = lockdown ] && [ "$was" = on ]; then kuractl unlock >/dev/null; was=off; fi
  if [ "$which" = unlock ] && [ "$was" = off ]; then kuractl lockdown --reason "for $i" >/dev/null; was=on; fi
  if [ "$was" = on ]; then kill_at "$point" "$KURACTL" -c "$KCONF" unlock
  else kill_at "$point" "$KURACTL" -c "$KCONF" lockdown --reason "kill $i"; fi
  now=$([ -e "$STATE/lockdown" ] && echo on || echo off)
  [ "$now" != "$was" ] && applied=$((applied + 1))
  if [ "$now" = on ] && ! /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['reason'] else 1)" \
    "$STATE/lockdown" 2>/dev/null; then
    bad=$((bad + 1)); diag "lockdown $i: a torn lockdown file"
  fi
  st=$(kuractl status 2>&1)
  { [ "$now" = on ] && grep -q '^LOCKDOWN since' <<<"$st"; } || { [ "$now" = off ] && ! grep -q LOCKDOWN <<<"$st"; } ||
    { bad=$((bad + 1)); diag "lockdown $i: status disagrees with the file ($now): $(head -n 1 <<<"$st")"; }
  kuractl audit verify >/dev/null 2>&1 || { bad=$((bad + 1)); diag "lockdown $i: audit log does not verify"; }
  # a kill before the rename leaves one temporary; the next lockdown or unlock removes it
  [ "$(find "$STATE" -maxdepth 1 -name '.lockdown.tmp-*' | wc -l)" -le 1 ] || { bad=$((bad + 1)); diag "lockdown $i: temporaries pile up"; }
done 3< <(kill_points "$ms" "$N" "" | sed 's/^/either /'; kill_points 0 0 "$steps" | sed 's/^/lockdown /'
          kill_points 0 0 "$steps_unlock" | sed 's/^/unlock /')
diag "lockdown/unlock: applied before the kill in $applied of $i"
check "kill -9 during lockdown/unlock, $i times ($N at random, then before the steps of each): whole file or none, status agrees, audit verifies" test "$bad" = 0
kuractl lockdown --reason final >/dev/null 2>&1; kuractl unlock >/dev/null
check "after a lockdown and an unlock, no lockdown temporary is left" test -z "$(find "$STATE" -maxdepth 1 -name '.lockdown.tmp-*')"

# ---- the daemon killed -9 in the middle of requests ----------------------------
# kt_op changes the state through the daemon; the daemon dies at a random
# moment of the request. The dead mount is unmounted, the state checked, and
# the daemon mounted again.
M=$T/mnt
require "mount" mount_kura "$M"
opc() { as kt_op "$KURACTL" -c "$KCONF" "$@"; }
ms=$(ms_of opc user add "$D" kt_carol)
opc user remove "$D" kt_carol >/dev/null 2>&1
diag "user add through the daemon takes ${ms} ms"
ND=${DAEMON_KILL_ITERATIONS:-$((N / 2 + 2))}
bad=0 applied=0 remounted=0
for i in $(seq 1 "$ND"); do
  ini=$(sha256sum <"$STATE/datasets/$D/dataset.ini") n=$(nrecords "$D")
  if grep -q '^\[user kt_carol\]' "$STATE/datasets/$D/dataset.ini"; then
    opc user remove "$D" kt_carol >/dev/null 2>&1 &
  else
    opc user add "$D" kt_carol >/dev/null 2>&1 &
  fi
  client=$!
  sleep "$(awk -v m="$ms" -v r="$RANDOM" 'BEGIN {printf "%.3f", m * 1.3 * r / 32768 / 1000}')"
  kill -9 "$KURAFS_PID"
  wait "$KURAFS_PID" 2>/dev/null
  timeout 20 tail --pid="$client" -f /dev/null || { bad=$((bad + 1)); diag "daemon kill $i: the client hangs"; }
  wait "$client" 2>/dev/null
  fusermount3 -u "$M" 2>"$T/umount.err" || { bad=$((bad + 1)); diag "daemon kill $i: cannot unmount: $(cat "$T/umount.err")"; }
  all_or_nothing "$D" "$ini" "$n" "daemon kill $i" && applied=$((applied + 1))
  mount_kura "$M" && remounted=$((remounted + 1))
done
diag "daemon killed mid-request: the change was complete in $applied of $ND"
check "kill -9 of the daemon during user add/remove, $ND times: all or nothing, chains verify" test "$bad" = 0
check "the daemon mounted again cleanly after each kill ($remounted of $ND)" test "$remounted" = "$ND"

# withdraw through the daemon (the change, then the destruction of the
# headers), the daemon killed at a random moment around the end of the
# request (0.8 to 1.2 times an extend's run time); a re-run finishes it
ms=$(ms_of opc dataset extend "$D" --until "$(day 90)" --ref EXT-D)
bad=0 applied=0
for k in 3 4 5 6 7 8; do
  s=SAMP$((B + k))
  ini=$(sha256sum <"$STATE/datasets/$D/dataset.ini") n=$(nrecords "$D")
  opc withdraw "$D" "$s" --ref "WD-$k" --yes >/dev/null 2>&1 &
  client=$!
  sleep "$(awk -v m="$ms" -v r="$RANDOM" 'BEGIN {printf "%.3f", m * (0.8 + 0.4 * r / 32768) / 1000}')"
  kill -9 "$KURAFS_PID"
  wait "$KURAFS_PID" 2>/dev/null
  wait "$client" 2>/dev/null
  fusermount3 -u "$M" 2>/dev/null
  if all_or_nothing "$D" "$ini" "$n" "daemon kill during withdraw $s"; then
    applied=$((applied + 1))
    kuractl withdraw "$D" "$s" --ref "WD-$k" >/dev/null 2>&1
    [ "$(hdrs_of "$s")" = 0 ] || { bad=$((bad + 1)); diag "withdraw $s: a re-run left headers"; }
  else
    [ "$(hdrs_of "$s")" = 1 ] || { bad=$((bad + 1)); diag "withdraw $s: not recorded, but the header is gone"; }
  fi
  mount_kura "$M" || { bad=$((bad + 1)); diag "withdraw $s: no remount"; }
done
diag "daemon killed mid-withdrawal: the change was complete in $applied of 6"
check "kill -9 of the daemon during withdraw, 6 times: all or nothing, a re-run finishes the key destruction" test "$bad" = 0
check "the state serves: kt_alice reads her file" as kt_alice cmp -s "$M/$D/s$((B + 2)).bin" "$T/data/s$((B + 2)).bin"
check "no journal or temporary file is left behind" test -z "$(leftovers "$D")"
check "the audit log verifies at the end" kuractl audit verify
stop_kura "$M"
done_testing
