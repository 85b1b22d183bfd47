#!/usr/bin/env bash
# Soak (issue 8): 32 concurrent readers over three datasets for
# $SOAK_SECONDS (default 20; `make soak` runs 600), then a race phase
# ($RACE_SECONDS, default half that, at least 8), while grants are removed
# and added again, grants run out at their RFC 3339 end, and samples are
# withdrawn. Every open and read is timed (tests/helpers/soakread.c) and
# judged against the time each revoking command returned:
#   - zero wrong bytes (R-ENC-1);
#   - zero opens or reads allowed after the moment access ended (R-REV-1,
#     R-REV-4, R-ACC-2, R-ACC-3);
#   - no error while access was granted;
#   - bounded daemon memory (VmRSS sampled each second) and no file
#     descriptor growth (/proc/PID/fd);
#   - the ledgers and the audit log verify; the daemon stops cleanly under
#     ASan/LeakSanitizer.
. "$(dirname "$0")/lib.sh"

SOAK=${SOAK_SECONDS:-20}
for u in kt_alice kt_bob kt_carol kt_dave; do make_user "$u"; done
require "kuractl init" kura_init
D1=JGAD200001 D2=JGAD200002 D3=JGAD200003
DATA=$T/data
mkdir -p "$DATA/$D1" "$DATA/$D2" "$DATA/$D3"
head -c 300000 /dev/urandom >"$DATA/$D1/a.bin"
head -c 1048576 /dev/urandom >"$DATA/$D1/b.bin"
head -c 70001 /dev/urandom >"$DATA/$D1/c.bin"
head -c 500000 /dev/urandom >"$DATA/$D2/a.bin"
head -c 65536 /dev/urandom >"$DATA/$D2/b.bin"
head -c 131073 /dev/urandom >"$DATA/$D2/c.bin"
: >"$T/samples.tsv"
for i in 1 2 3 4 5 6 7 8; do
  head -c 200000 /dev/urandom >"$DATA/$D3/f$i.bin"
  printf 'f%d.bin\tS%d\n' "$i" "$i" >>"$T/samples.tsv"
done
chmod -R a+rX "$DATA"
require "dataset add $D1, $D3 (PI kt_alice), $D2 (PI kt_dave)" quietly bash -c "
  '$KURACTL' -c '$KCONF' dataset add $D1 --pi kt_alice --period '$(day -1)..$(day 30)' &&
  '$KURACTL' -c '$KCONF' dataset add $D2 --pi kt_dave --period '$(day -1)..$(day 30)' &&
  '$KURACTL' -c '$KCONF' dataset add $D3 --pi kt_alice --period '$(day -1)..$(day 30)'"
require "imports" quietly bash -c "'$KURACTL' -c '$KCONF' dataset import $D1 --encrypt '$DATA/$D1' &&
  '$KURACTL' -c '$KCONF' dataset import $D2 --encrypt '$DATA/$D2' &&
  '$KURACTL' -c '$KCONF' dataset import $D3 --encrypt --samples '$T/samples.tsv' '$DATA/$D3'"
require "grants: bob in $D2, carol in $D1" quietly bash -c "'$KURACTL' -c '$KCONF' user add $D2 kt_bob &&
  '$KURACTL' -c '$KCONF' user add $D1 kt_carol"
# The LeakSanitizer check at the end stays; a small ASan quarantine keeps
# freed memory from counting as growth.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}:quarantine_size_mb=16"
require "mount" mount_kura "$T/mnt"
MNT=$T/mnt
PID=$KURAFS_PID
EV=$T/events
: >"$EV" && chmod 0644 "$EV"
ev() { echo "$*" >>"$EV"; }
ev allow kt_alice "$D1" '*' 0 0 inf
ev allow kt_alice "$D3" '*' 0 0 inf
ev allow kt_bob "$D2" '*' 0 0 inf

# one read of each dataset, so the baseline counts what a warm daemon holds
as kt_alice cat "$MNT/$D1/a.bin" "$MNT/$D3/f8.bin" >/dev/null
as kt_bob cat "$MNT/$D2/a.bin" >/dev/null
base_fds=$(ls "/proc/$PID/fd" | wc -l)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }

# ---- monitor: RSS (KiB) and descriptors, once a second ----
( while kill -0 "$PID" 2>/dev/null; do echo "$EPOCHREALTIME $(rss) $(ls "/proc/$PID/fd" | wc -l)"; sleep 1; done ) >"$T/mon" 2>/dev/null &
MON=$!
on_exit "kill $MON"

# ---- 32 readers ----
SR=$KURA_USER_BIN/soakread
pairs() { local d=$1 f; for f in "$DATA/$d"/*.bin; do printf '%s %s ' "$d/$(basename "$f")" "$f"; done; }
mkdir -p "$T/res" && chmod 0777 "$T/res"
start=$EPOCHREALTIME
# shellcheck disable=SC2046 # pairs are blank-free paths
as kt_alice "$SR" 12 "$SOAK" 131072 "$EV" "$MNT" $(pairs "$D1") $(pairs "$D3") >"$T/res/alice" 2>&1 &
R1=$!
# shellcheck disable=SC2046
as kt_bob "$SR" 8 "$SOAK" 131072 "$EV" "$MNT" $(pairs "$D2") >"$T/res/bob" 2>&1 &
R2=$!
# shellcheck disable=SC2046
as kt_carol "$SR" 12 "$SOAK" 131072 "$EV" "$MNT" $(pairs "$D1") $(pairs "$D2") >"$T/res/carol" 2>&1 &
R3=$!
on_exit "kill $R1 $R2 $R3"

# ---- meanwhile: grants removed and added, grants running out, withdrawals ----
rnd() { awk -v lo="$1" -v hi="$2" -v r="$RANDOM" 'BEGIN {printf "%.3f", lo + (hi - lo) * r / 32768}'; }
stop_at=$(awk -v s="$start" -v n="$SOAK" 'BEGIN {printf "%.6f", s + n - 1.5}')
before() { awk -v a="$EPOCHREALTIME" -v b="$1" 'BEGIN {exit !(a < b)}'; }
# carol in D1: allowed since before the start
c1_start=0 c1_ret=0
# carol in D2: not listed; her deny window runs from the start
c2_deny_start=0 c2_deny_ret=0
withdrawn=0 cycles=0 failed_cmds=0 slowest_add=0
next_withdraw=$(awk -v s="$start" -v n="$SOAK" 'BEGIN {printf "%.6f", s + n / 7}')
run() { "$KURACTL" -c "$KCONF" "$@" >/dev/null 2>"$T/cmd.err" || { failed_cmds=$((failed_cmds + 1)); diag "$* failed: $(cat "$T/cmd.err")"; }; }
while before "$stop_at"; do
  cycles=$((cycles + 1))
  # D1: remove carol, later add her back
  t0=$EPOCHREALTIME; run user remove "$D1" kt_carol; t1=$EPOCHREALTIME
  ev allow kt_carol "$D1" '*' "$c1_start" "$c1_ret" "$t0"
  sleep "$(rnd 0.2 0.8)"
  t2=$EPOCHREALTIME; run user add "$D1" kt_carol; t3=$EPOCHREALTIME
  ev deny kt_carol "$D1" '*' "$t0" "$t1" "$t2"
  c1_start=$t2 c1_ret=$t3
  # D2: a grant that runs out at its RFC 3339 end, 3 to 4 s ahead (whole
  # seconds; a command beside 36 readers under ASan has taken over 1 s)
  end_s=$(( $(date +%s) + 4 ))
  end=$(date -d "@$end_s" --iso-8601=seconds)
  t2=$EPOCHREALTIME; run user add "$D2" kt_carol --until "$end"; t3=$EPOCHREALTIME
  slowest_add=$(awk -v a="$slowest_add" -v d="$t3" -v s="$t2" 'BEGIN {print (d - s > a) ? d - s : a}')
  ev deny kt_carol "$D2" '*' "$c2_deny_start" "$c2_deny_ret" "$t2"
  ev allow kt_carol "$D2" '*' "$t2" "$t3" "$end_s"
  c2_deny_start=$end_s c2_deny_ret=$end_s
  # withdrawals, spread over the run (six of the eight samples)
  if [ "$withdrawn" -lt 6 ] && ! before "$next_withdraw"; then
    withdrawn=$((withdrawn + 1))
    t0=$EPOCHREALTIME; run withdraw "$D3" "S$withdrawn" --ref "SOAK-$withdrawn" --yes; t1=$EPOCHREALTIME
    ev deny '*' "$D3" "f$withdrawn.bin" "$t0" "$t1" inf
    next_withdraw=$(awk -v s="$start" -v n="$SOAK" -v k="$withdrawn" 'BEGIN {printf "%.6f", s + n * (k + 1) / 7}')
  fi
  sleep "$(rnd 0.5 1.2)"
  # carol's D2 grant has run out (or runs out now): she is removed before the next add
  while [ "$(date +%s)" -le "$end_s" ]; do sleep 0.1; done
  run user remove "$D2" kt_carol
done
ev allow kt_carol "$D1" '*' "$c1_start" "$c1_ret" inf
ev deny kt_carol "$D2" '*' "$c2_deny_start" "$c2_deny_ret" inf
ev end
diag "$cycles revocation cycles, $withdrawn withdrawals in ${SOAK}s; the slowest timed grant took ${slowest_add}s"
check "every revoking and granting command worked ($failed_cmds failed)" test "$failed_cmds" = 0

wait "$R1"; r1=$?
wait "$R2"; r2=$?
wait "$R3"; r3=$?
for who in alice bob carol; do diag "$(cat "$T/res/$who")"; done
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" "$T/res/$1"; }
check "alice (stable, withdrawals): no wrong byte, nothing after its end, no unexpected error" test "$r1" = 0
check "bob (stable): no wrong byte, no error" test "$r2" = 0
check "carol (grants come and go): no wrong byte, nothing after its end, no unexpected error" test "$r3" = 0
check "zero wrong bytes over $(( $(field alice reads) + $(field bob reads) + $(field carol reads) )) reads" \
  test "$(( $(field alice wrong) + $(field bob wrong) + $(field carol wrong) ))" = 0
check "zero accesses after the moment access ended" \
  test "$(( $(field alice after_end) + $(field carol after_end) ))" = 0
check "the revocations were exercised: carol was refused ($(field carol denied) times)" test "$(field carol denied)" -gt 0
check "the withdrawals were exercised: alice was refused withdrawn files ($(field alice denied) times)" \
  test "$(field alice denied)" -gt 0

# ---- the race: opens racing with fast grant changes ----
# 16 threads of carol open, read once or twice and close, as fast as they
# can, while her grant to D1 is removed and added every 50 ms: an open
# decided on the catalog from just before a change must not keep reading
# after it (a handle took the epoch after its decision: found by the
# 600 s soak, then by this phase within seconds).
RACE=${RACE_SECONDS:-$(( SOAK / 2 > 8 ? SOAK / 2 : 8 ))}
EV2=$T/race-events
: >"$EV2" && chmod 0644 "$EV2"
# shellcheck disable=SC2046
as kt_carol env SOAKREAD_HOLD_MS=2 "$SR" 16 "$RACE" 4096 "$EV2" "$MNT" $(pairs "$D1") >"$T/res/race" 2>&1 &
R4=$!
on_exit "kill $R4"
race_end=$(awk -v n="$RACE" -v s="$EPOCHREALTIME" 'BEGIN {printf "%.6f", s + n - 0.5}')
a_start=$c1_start a_ret=$c1_ret race_cycles=0 failed_cmds=0
while before "$race_end"; do
  t0=$EPOCHREALTIME; run user remove "$D1" kt_carol; t1=$EPOCHREALTIME
  echo "allow kt_carol $D1 * $a_start $a_ret $t0" >>"$EV2"
  sleep 0.05
  t2=$EPOCHREALTIME; run user add "$D1" kt_carol; t3=$EPOCHREALTIME
  echo "deny kt_carol $D1 * $t0 $t1 $t2" >>"$EV2"
  a_start=$t2 a_ret=$t3 race_cycles=$((race_cycles + 1))
  sleep 0.05
done
echo "allow kt_carol $D1 * $a_start $a_ret inf" >>"$EV2"
echo end >>"$EV2"
wait "$R4"; r4=$?
diag "race: $race_cycles remove/add cycles in ${RACE}s; $(cat "$T/res/race")"
check "race: no open or read allowed after access ended, no wrong byte, no unexpected error" test "$r4" = 0
# Raced: at least one remove/add cycle a second of the race, and opens
# refused between them. (It asked for 20 cycles in the 10 s race, two a
# second: a pace of kuractl under ASan beside 16 readers, not a property of
# kura; a loaded CI run made 19, with 388 opens refused.)
check "race: the changes raced with opens ($race_cycles cycles in ${RACE}s, $(field race opens) opens, $(field race denied) refused)" \
  test "$race_cycles" -ge "$RACE" -a "$(field race denied)" -gt 0
check "every command of the race worked ($failed_cmds failed)" test "$failed_cmds" = 0

# ---- resources ----
sleep 1
kill "$MON" 2>/dev/null
end_fds=$(ls "/proc/$PID/fd" | wc -l)
check "no file descriptor growth (warm $base_fds, after the soak $end_fds)" test "$end_fds" -le "$base_fds"
max_fds=$(awk '{print $3}' "$T/mon" | sort -n | tail -n 1)
diag "descriptors: at most $max_fds during the soak"
# Memory: the second half of the run may not grow past the first half's
# peak by more than 25 % + 16 MiB (a leak per read would, over thousands).
n=$(wc -l <"$T/mon")
peak1=$(head -n $((n / 2)) "$T/mon" | awk '{print $2}' | sort -n | tail -n 1)
peak2=$(tail -n $((n - n / 2)) "$T/mon" | awk '{print $2}' | sort -n | tail -n 1)
diag "VmRSS: peak $((peak1 / 1024)) MiB in the first half, $((peak2 / 1024)) MiB in the second ($n samples)"
check "bounded memory (second-half peak $((peak2 / 1024)) MiB <= 1.25 x $((peak1 / 1024)) MiB + 16 MiB)" \
  test "$peak2" -le $((peak1 * 5 / 4 + 16384))
check "... and under 512 MiB" test "$peak2" -lt $((512 * 1024))
for d in "$D1" "$D2" "$D3"; do
  check_output "the ledger of $d verifies" "ledger of $d verified" kuractl ledger "$d"
done
check_output "the audit log verifies" "audit log verified" kuractl audit verify
stop_kura "$MNT"
done_testing
