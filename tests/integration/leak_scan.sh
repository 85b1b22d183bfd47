#!/usr/bin/env bash
# Leak scan (issue 8), self-contained: its own server takes data in every
# way kura does (import --encrypt with samples, an archive-style .c4gh
# delivery, withdrawal, destroy), serves every file to several readers
# (cat, python, samtools, bcftools, head, md5sum, grep, a private mmap),
# and then no file kura wrote contains plaintext:
#   - not the marker scripts/make-synthetic-data.py plants in *.summary.txt,
#   - nor any 32-byte window taken from every plaintext file,
# in the store, keystore, state, logs and socket directory, in the daemon's
# own output, nor in any file owned by root created under /tmp, /var/tmp or
# /dev/shm since the test started (aside: the trees other tests, the demo,
# the benchmarks and CI copies of the repository fill with plaintext on
# purpose: /tmp/kura-it.*, kura-demo.*, kura-ci/, kura-test-logs.*,
# /var/tmp/kura-bench.*, /dev/shm/kura-bench-log.*); the daemon holds no
# deleted or memfd file (R-CPY-2: nothing plaintext on disk).
# And the daemon's secrets stay in memory (R-ENC-3, R-CPY-2): core dumps
# off (RLIMIT_CORE 0), the process not dumpable (tests/helpers/
# dumpable_probe.c: the kernel refuses a same-uid root reader without
# CAP_SYS_PTRACE in effect; a plain root process is the control), and its
# key memory locked and excluded from core dumps (VmFlags lo + dd); and only
# the config, the public key and the paths to the state and socket are open to
# other users.
. "$(dirname "$0")/lib.sh"

MARKER=KURA_SYNTHETIC_MARKER_7f3a
PROBE=$KURA_BUILD/tests/dumpable_probe
C4GH=$KURA_BUILD/tests/c4gh_tool
STAMP=$T/start.stamp
touch "$STAMP"
sleep 1    # files written in the same second as the stamp would not be "newer"
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
D=JGAD100901 DD=JGAD100902
DATA=$T/data
mkdir -p "$DATA" "$T/delivery" "$T/doomed"
python3 "$KURA_TOP/scripts/make-synthetic-data.py" "$DATA" --reads 3000 >/dev/null
mv "$DATA/samples.tsv" "$T/samples.tsv"
rm -f "$DATA/README.txt"
head -c 300000 /dev/urandom >"$DATA/random.bin"
cp "$DATA/JGAS000001.summary.txt" "$DATA/withdrawn.txt"
printf 'withdrawn.txt\tWITHDRAWN1\n' >>"$T/samples.tsv"
chmod -R a+rX "$DATA"
require "the test data carries the marker" grep -rqa "$MARKER" "$DATA"
require "dataset add" kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import --encrypt with samples" kuractl dataset import "$D" --encrypt --samples "$T/samples.tsv" "$DATA"
"$KURACTL" -c "$KCONF" pubkey >"$T/server.pub"
cp "$DATA/JGAS000001.summary.txt" "$T/plain-delivered.txt"
"$C4GH" encrypt --recipient "$T/server.pub" <"$T/plain-delivered.txt" >"$T/delivery/delivered.txt.c4gh"
require "import an archive-style .c4gh delivery" kuractl dataset import "$D" "$T/delivery"
require "user add bob" kuractl user add "$D" kt_bob
check "withdraw sample WITHDRAWN1" kuractl withdraw "$D" WITHDRAWN1 --ref LEAK-1 --yes
cp "$DATA/JGAS000002.summary.txt" "$T/doomed/"
require "a second dataset, imported and destroyed" quietly bash -c "'$KURACTL' -c '$KCONF' dataset add $DD --pi kt_alice --period '$(day 0)..$(day 9)' &&
  '$KURACTL' -c '$KCONF' dataset import $DD --encrypt '$T/doomed' && '$KURACTL' -c '$KCONF' dataset destroy $DD --yes"

require "mount" mount_kura "$T/mnt"
M=$T/mnt/$D
PID=$KURAFS_PID
OUT=$T/out
mkdir -p "$OUT" && chmod 0777 "$OUT"

# ---- every file, through several readers ----
files=$(as kt_alice ls "$M")
n=0 bad=0
for f in $files; do
  n=$((n + 1))
  src=$DATA/$f; [ "$f" = delivered.txt ] && src=$T/plain-delivered.txt
  as kt_alice cat "$M/$f" | cmp -s - "$src" || { bad=$((bad + 1)); diag "cat $f differs"; }
  as kt_bob /usr/bin/python3 -c "import sys; sys.exit(open('$M/$f','rb').read() != open('$src','rb').read())" ||
    { bad=$((bad + 1)); diag "python $f differs"; }
  as kt_bob head -c 1000 "$M/$f" | cmp -s - <(head -c 1000 "$src") || { bad=$((bad + 1)); diag "head $f differs"; }
  [ "$(as kt_alice md5sum "$M/$f" | cut -d' ' -f1)" = "$(md5sum <"$src" | cut -d' ' -f1)" ] ||
    { bad=$((bad + 1)); diag "md5sum $f differs"; }
done
check "$n files read whole by cat, python, head and md5sum as two users" test "$bad" = 0 -a "$n" -gt 5
check "the withdrawn file is not served" test "$(grep -c '^withdrawn.txt$' <<<"$files")" = 0
# (a pattern that is not the marker itself: command lines go to the audit log)
check "grep finds the marker through the mount (the reader gets plaintext)" as kt_alice grep -qa "${MARKER%a}[a]" "$M/JGAS000001.summary.txt"
bam=$(ls "$DATA"/*.bam | head -n 1)
check "samtools view through the mount equals the plaintext" \
  test "$(as kt_alice samtools view "$M/$(basename "$bam")" | md5sum)" = "$(samtools view "$bam" | md5sum)"
check "bcftools view through the mount equals the plaintext" \
  test "$(as kt_bob bcftools view -H "$M/cohort.vcf.gz" | md5sum)" = "$(bcftools view -H "$DATA/cohort.vcf.gz" | md5sum)"
mm=$(as kt_alice /usr/bin/python3 -c "
import mmap, os
fd = os.open('$M/random.bin', os.O_RDONLY)
try:
    m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
    print('mapped', m[:4] == open('$DATA/random.bin', 'rb').read(4))
except OSError as e:
    print('refused', e.strerror)" 2>&1)
diag "a private mmap of a served file: $mm"
check "a shared writable mapping is refused" as kt_alice /usr/bin/python3 -c "
import mmap, os, sys
fd = os.open('$M/random.bin', os.O_RDONLY)
try:
    mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
except (OSError, PermissionError):
    sys.exit(0)
sys.exit(1)"
kuractl report usage "$D" >/dev/null
kuractl audit --dataset "$D" >/dev/null

# ---- the daemon's open files: nothing deleted, no memfd, nothing outside kura's dirs ----
# (/proc itself: kept open to read callers' process facts, src/lib/procinfo.c)
odd=$(for l in /proc/"$PID"/fd/*; do readlink "$l"; done | grep -Ev "^(socket|pipe|anon_inode):|^/dev/(null|fuse|urandom|pts/)|^/proc\$|^$KROOT/|^$KURAFS_LOG\$")
check "the daemon holds no deleted, memfd or foreign file" test -z "$odd"
[ -n "$odd" ] && diag "$odd"

# ---- the daemon's hardening ----
check "core dumps off: Max core file size 0 0" grep -Eq '^Max core file size +0 +0 ' "/proc/$PID/limits"
sleep 60 &
control=$!
on_exit "kill $control"
check "the probe reads a plain root process (control: it can say yes)" test "$("$PROBE" "$control")" = readable
check "the daemon is not dumpable (a same-uid reader without CAP_SYS_PTRACE is refused)" \
  test "$("$PROBE" "$PID")" = "refused EPERM"
kill "$control" 2>/dev/null
check "the daemon is not dumping core (CoreDumping: 0)" grep -q '^CoreDumping:[[:space:]]*0' "/proc/$PID/status"
# sodium_malloc's small mappings (ASan's own huge shadow is dd too: not counted)
dd=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {sz = 0} /^Size:/ {sz = $2} /^VmFlags:.* dd/ {if (sz <= 256) n++} END {print n + 0}' \
  "/proc/$PID/smaps")
check "its key memory is excluded from core dumps ($dd small mappings with VmFlags dd)" test "$dd" -gt 0
locked_check() {
  local lodd
  lodd=$(grep -c '^VmFlags:.* lo .*dd' "/proc/$KURAFS_PID/smaps")
  check "$1key memory is locked (VmLck $(awk '/^VmLck/ {print $2}' "/proc/$KURAFS_PID/status") kB; $lodd mappings lo+dd)" \
    test "$lodd" -gt 0
  # and every other page too: plaintext passes through libfuse's heap buffers (R-CPY-2: nothing in swap)
  check "$1heap and stacks are locked as well (VmFlags lo)" \
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6} /^VmFlags:/ {if (name == "[heap]" || name == "[stack]") {n++; if ($0 !~ / lo /) bad++}} END {exit !(n >= 2 && !bad)}' \
    "/proc/$KURAFS_PID/smaps"
}
# (not `ldd | grep -q`: with pipefail, ldd's SIGPIPE would read as "no")
if [[ $(ldd "$KURAFS") == *libasan* ]]; then
  stop_kura "$T/mnt"
  # ASan makes mlock() a no-op: the release daemon of the same tree
  # (KURA_RELEASE_BUILD, built by `make check`) shows the locking.
  if [ -x "${KURA_RELEASE_BUILD:-}/kurafs" ]; then
    KURAFS=$KURA_RELEASE_BUILD/kurafs mount_kura "$T/mnt" && locked_check "the release daemon's "
    stop_kura "$T/mnt"
  else
    diag "ASan build and no KURA_RELEASE_BUILD: locked memory not checked"
  fi
else
  locked_check "its "
  stop_kura "$T/mnt"
fi
"$KURACTL" -c "$KCONF" serve >"$T/serve.log" 2>&1 &
SERVE=$!
on_exit "kill $SERVE"
for _ in $(seq 1 50); do grep -q "control socket" "$T/serve.log" && break; sleep 0.1; done
check "kuractl serve (root, holds the server key) is not dumpable either" test "$("$PROBE" "$SERVE")" = "refused EPERM"
kill "$SERVE"; wait "$SERVE" 2>/dev/null

# ---- what others may read under the server root (R-ENC-3) ----
# Only the config, the public key and the socket's directory are open to
# other users; the state directory (its entries' link counts would count the
# datasets), keys, state files, store, ledgers and the log are root's alone.
open_to_others=$(cd "$KROOT" && find . -perm -o=r ! -path . -printf '%p\n' | sort | tr '\n' ' ')
check "only kura.conf, lib/keys/server.pub and run/ are readable by others (got: $open_to_others)" \
  test "$open_to_others" = "./kura.conf ./lib/keys/server.pub ./run "
check "secret key, audit key, dataset keys and headers are 0600 root" \
  test -z "$(find "$KROOT/lib/keys" -type f ! -name server.pub \( ! -user root -o -perm /077 \) -print)"

# ---- the scan ----
# 32-byte windows from every plaintext file (8 per file, spread over it)
cat >"$T/scan.py" <<'EOF'
import os, sys
plain_dirs, targets = sys.argv[1].split(":"), sys.argv[2:]
needles = [b"KURA_SYNTHETIC_" + b"MARKER_7f3a"]   # not literal: this file lives in the scanned dir
for d in plain_dirs:
    for root, _, names in os.walk(d):
        for n in names:
            data = open(os.path.join(root, n), "rb").read()
            if len(data) < 64:
                continue
            for k in range(8):
                off = (len(data) - 32) * k // 7
                needles.append(data[off:off + 32])
hits = 0
for t in targets:
    try:
        data = open(t, "rb").read()
    except OSError:
        continue
    for nd in needles:
        if nd in data:
            print("PLAINTEXT in %s: %r..." % (t, nd[:12]))
            hits += 1
            break
print("scanned %d files for %d needles: %d with plaintext" % (len(targets), len(needles), hits))
sys.exit(1 if hits else 0)
EOF
mapfile -t kura_files < <(find "$KROOT" -type f; echo "$KURAFS_LOG"; echo "$T/serve.log")
check "no file kura wrote (${#kura_files[@]}: store, keystore, state, logs, run) holds plaintext" \
  bash -c "/usr/bin/python3 '$T/scan.py' '$DATA:$T/doomed:$T/plain-delivered.txt' \"\$@\" >'$T/scan.out'; rc=\$?; cat '$T/scan.out' | sed 's/^/# /'; exit \$rc" _ "${kura_files[@]}"
mapfile -t tmp_files < <(find /tmp /var/tmp /dev/shm -xdev -type f -user root -newer "$STAMP" \
  ! -path "$T/data/*" ! -path "$T/doomed/*" ! -path "$T/plain-delivered.txt" ! -path "$T/scan.py" \
  ! -path "/tmp/kura-it.*" ! -path "/tmp/kura-demo.*" ! -path "/tmp/kura-ci/*" ! -path "/tmp/kura-test-logs.*" \
  ! -path "/var/tmp/kura-bench.*" ! -path "/dev/shm/kura-bench-log.*" 2>/dev/null; find "$T" -type f ! -path "$T/data/*" ! -path "$T/doomed/*" ! -path "$T/plain-delivered.txt" ! -path "$T/out/*")
check "no root-owned file new in /tmp, /var/tmp, /dev/shm or this test's dir (${#tmp_files[@]}) holds plaintext" \
  bash -c "/usr/bin/python3 '$T/scan.py' '$DATA:$T/doomed:$T/plain-delivered.txt' \"\$@\" >'$T/scan.out'; rc=\$?; cat '$T/scan.out' | sed 's/^/# /'; exit \$rc" _ "${tmp_files[@]}"
check "the marker is nowhere under the server root (grep -r)" bash -c "! grep -rqa '$MARKER' '$KROOT'"
# control: the scan finds plaintext that is neither a whole file nor the marker
{ head -c 1000 /dev/urandom; tail -c +100000 "$DATA/random.bin" | head -c 50000; } >"$OUT/control.bin"
check "the scan finds a 50 kB slice of a plaintext file amid noise (control: it can say yes)" \
  bash -c "! /usr/bin/python3 '$T/scan.py' '$DATA:$T/doomed:$T/plain-delivered.txt' '$OUT/control.bin' >/dev/null"
done_testing
