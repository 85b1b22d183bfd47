#!/usr/bin/env bash
# A full disk (issue 8): the state and keystore on a small tmpfs, then the
# audit log on one. Imports and state changes fail with a clear error and
# leave nothing half done (files.tsv, store, keystore, dataset.ini and the
# ledger exactly as before; no temporary left), and work again once there is
# room (R-LOG-3). With the audit log full, nothing is served unaudited: every
# open that succeeded has its allow record, every other one failed with EIO
# (R-LOG-1, R-LOG-2), and serving resumes when space is freed.
. "$(dirname "$0")/lib.sh"

READ=$KURA_BUILD/tests/kura_read_stored
for u in kt_alice kt_bob kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
D=JGAD500001
mkdir -p "$T/data" "$T/big" "$T/many"
head -c 50000 /dev/urandom >"$T/data/small.bin"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$T/big/big.bin"
for i in $(seq 1 40); do head -c 100000 /dev/urandom >"$T/many/m$i.bin"; done
chmod -R a+rX "$T/data" "$T/big" "$T/many"
require "dataset add" kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 30)"
printf 'small.bin\tSAMPLEA\n' >"$T/samples.tsv"
require "import a small file (sample SAMPLEA)" kuractl dataset import "$D" --encrypt --samples "$T/samples.tsv" "$T/data"

# ---- the state and keystore on a 3 MiB tmpfs --------------------------------
S=$T/small
mkdir -p "$S"
require "mount a 3 MiB tmpfs" mount -t tmpfs -o size=3m,mode=0755 tmpfs "$S"
on_exit "umount -l '$S'"
cp -a "$KROOT/lib" "$S/lib"
sed -e "s|^state_dir = .*|state_dir = $S/lib|" -e "s|^keys_dir = .*|keys_dir = $S/lib/keys|" "$KCONF" >"$T/small.conf"
KCONF=$T/small.conf
STATE=$S/lib
# snapshot: every file kura keeps for D with its checksum (locks aside)
snapshot() { (cd "$STATE" && find . -type f ! -name '*.lock' ! -name '.lock' -print0 | sort -z | xargs -0 sha256sum); }
nothing_changed() { snapshot >"$T/after.snap"; diff -q "$T/before.snap" "$T/after.snap" >/dev/null || { diff "$T/before.snap" "$T/after.snap" | head -n 5 | sed 's/^/# /'; return 1; }; }
ledger_ok() { kuractl ledger "$D" | grep "ledger of $D verified" >/dev/null; }

snapshot >"$T/before.snap"
kuractl dataset import "$D" --encrypt "$T/big" >"$T/out" 2>&1; rc=$?
check "import of 5 MiB into 3 MiB fails (exit 1)" test "$rc" = 1
check_output "... naming the full disk" "No space left on device" cat "$T/out"
check "... leaving store, keystore, files.tsv and ledger as they were, no temporary" nothing_changed
check "the ledger verifies" ledger_ok

snapshot >"$T/before.snap"
kuractl dataset import "$D" --encrypt "$T/many" >"$T/out" 2>&1; rc=$?
check "import of 40 files that half fit fails (exit 1)" test "$rc" = 1
check_output "... naming the full disk" "No space left on device" cat "$T/out"
check "... and leaves nothing of the files that did fit" nothing_changed

# the disk full to the last block: state changes
dd if=/dev/zero of="$S/filler" bs=64k status=none 2>/dev/null
dd if=/dev/zero of="$S/filler2" bs=1k status=none 2>/dev/null
snapshot >"$T/before.snap"
for change in "user add $D kt_bob" "dataset extend $D --until $(day 40) --ref X" "dataset suspend $D --reason full" \
              "withdraw $D SAMPLEA --ref X --yes"; do
  kuractl $change >"$T/out" 2>&1; rc=$?
  check "disk full: '$change' fails (exit $rc)" test "$rc" = 1
done
kuractl user add "$D" kt_bob >"$T/out" 2>&1
check_output "disk full: the error names the full disk" "No space left on device" cat "$T/out"
check "disk full: nothing changed, no temporary, no journal" nothing_changed
check "disk full: the ledger verifies" ledger_ok
kuractl lockdown --reason "disk full test" >"$T/out" 2>&1; rc=$?
check "disk full: lockdown fails loudly (exit $rc) rather than pretend" bash -c "[ $rc = 1 ] && grep -q 'No space left on device' '$T/out'"
check "disk full: no lockdown file, whole or torn" test ! -e "$STATE/lockdown" -a -z "$(find "$STATE" -maxdepth 1 -name '.lockdown.tmp-*')"

rm -f "$S/filler" "$S/filler2"
check "space freed: user add works" kuractl user add "$D" kt_bob
check "space freed: a small import works" kuractl dataset import "$D" --encrypt "$T/many/m1.bin"
mount -o remount,size=64m "$S"
check "more space: the big import runs again and works" kuractl dataset import "$D" --encrypt "$T/big"
check "the big file reads back" bash -c "'$READ' '$KCONF' $D big.bin | cmp -s - '$T/big/big.bin'"
check "the ledger verifies after all that" ledger_ok
check "the ledger holds exactly the changes that happened (add, 3 imports, user add)" \
  test "$(kuractl ledger "$D" --json | grep -c '"seq"')" = 5
check "the audit log verifies" kuractl audit verify

# ---- the audit log on a 256 KiB tmpfs, with the mount serving --------------
L=$T/logfs
mkdir -p "$L"
require "mount a 256 KiB tmpfs for the log" mount -t tmpfs -o size=256k tmpfs "$L"
on_exit "umount -l '$L'"
sed -e "s|^audit_log = .*|audit_log = $L/audit.jsonl|" "$KCONF" >"$T/logfull.conf"
KCONF=$T/logfull.conf
require "mount kurafs" mount_kura "$T/mnt"
F=$T/mnt/$D/small.bin
check "reads work while the log has room" as kt_alice cmp -s "$F" "$T/data/small.bin"
dd if=/dev/zero of="$L/filler" bs=4k status=none 2>/dev/null
dd if=/dev/zero of="$L/filler2" bs=512 status=none 2>/dev/null
# 30 opens at once; each reports its pid and outcome
mkdir -p "$T/opens" && chmod 0777 "$T/opens"
for i in $(seq 1 30); do
  as kt_alice bash -c 'echo $$ >"$1/$2.pid"; if cat "$3" >"$1/$2.data" 2>"$1/$2.err"; then echo ok >"$1/$2.rc"; else echo fail >"$1/$2.rc"; fi' _ \
    "$T/opens" "$i" "$F" &
done
wait_opens() { local i; for i in $(seq 1 30); do [ -e "$T/opens/$i.rc" ] || return 1; done; }
for i in $(seq 1 100); do wait_opens && break; sleep 0.1; done
served=0 unaudited=0 refused=0 stopped=0 other=0
# cat runs in the child of the bash whose pid was saved: find its record by parent pid
allowed() { grep '"event":"open"' "$L/audit.jsonl" | grep '"decision":"allow"' | grep -q "\"ppid\":$(cat "$T/opens/$1.pid")[,}]"; }
for i in $(seq 1 30); do
  if [ "$(cat "$T/opens/$i.rc")" = ok ]; then
    served=$((served + 1))
    allowed "$i" || unaudited=$((unaudited + 1))
  elif grep -q 'Input/output error' "$T/opens/$i.err" && [ ! -s "$T/opens/$i.data" ]; then
    refused=$((refused + 1))
  elif grep -q 'Input/output error' "$T/opens/$i.err"; then
    # opened (and recorded) before the log failed, its reads then stopped
    stopped=$((stopped + 1))
    allowed "$i" || unaudited=$((unaudited + 1))
  else other=$((other + 1)); diag "open $i: $(cat "$T/opens/$i.err")"; fi
done
diag "log full: $served served, $stopped stopped part way when the log failed, $refused refused with EIO, $other other"
check "log full: every open that was served, in whole or part, has its allow record ($((served + stopped)) served, $unaudited without)" test "$unaudited" = 0
check "log full: the others were refused with EIO and got no byte ($refused)" test "$other" = 0 -a "$refused" -ge 1
# The open itself fails while its record cannot be written (not only its
# reads), and nothing opened then is served once the log has room again.
as kt_alice /usr/bin/python3 -c '
import os, sys, time
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
except OSError as e:
    print("open", "EIO" if e.errno == 5 else e.errno, flush=True)
    sys.exit(0)
print("opened", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
try:
    print("served", len(os.pread(fd, 4096, 0)), flush=True)
except OSError as e:
    print("read", e.errno, flush=True)' "$F" "$T/opens/freed" >"$T/hold.out" 2>&1 &
HOLD=$!
on_exit "kill $HOLD 2>/dev/null"
wait_for 10 grep -q . "$T/hold.out"
check "log full: an open fails with EIO, not only its reads" grep -qx "open EIO" "$T/hold.out"
# (the reason also goes to syslog, authpriv; this machine may have no syslog to ask)
# A record smaller than those refused may still fit: tmpfs gives whole
# pages, so the log's last one can have room left, and so can the reserve
# (how much depends on how the 30 opens fell into batches). State changes
# go on through the ledger; the first whose record no longer fits says so.
# kt_op removes kt_bob through the daemon, root adds kt_bob back, until then.
removes=0 said=0 unledgered=0
for i in $(seq 1 40); do
  as kt_op "$KURACTL" -c "$KCONF" user remove "$D" kt_bob >"$T/out" 2>&1; rc=$?
  [ "$rc" = 0 ] || { diag "log full: user remove through the daemon: exit $rc: $(head -n 2 "$T/out" | tr '\n' ' ')"; break; }
  removes=$((removes + 1))
  if grep -q audit "$T/out"; then said=1; break; fi
  kuractl user add "$D" kt_bob >/dev/null 2>&1 || { diag "log full: root could not add kt_bob back"; break; }
done
diag "log full: $removes removal(s) of kt_bob through the daemon; the last said: $(head -n 2 "$T/out" | tr '\n' ' ')"
check "log full: state changes still go through the ledger (every removal exit 0, each in the verified ledger)" \
  bash -c "[ $rc = 0 ] && [ \"\$('$KURACTL' -c '$KCONF' ledger $D | grep -c 'user-remove kt_bob')\" = $removes ]"
check "log full: ... and the first whose audit record could not be written says so" test "$said" = 1
rm -f "$L/filler" "$L/filler2"
touch "$T/opens/freed"
wait "$HOLD"
check "space freed: nothing opened while the log was full is served" bash -c "! grep -q '^served' '$T/hold.out'"
check "space freed: serving resumes" as kt_alice cmp -s "$F" "$T/data/small.bin"
check "the log verifies after the failures" kuractl audit verify
stop_kura "$T/mnt"
done_testing
