#!/usr/bin/env bash
# kurafs through a real mount, as real Unix users (issue 4).
# R-ACC-1 listed users only; R-ACC-3 every open checked; R-ACC-4 root gets
# nothing unless listed; R-CPY-2 no page cache, nothing plaintext on disk;
# R-CPY-3 read-only; R-CPY-4 copy-out tools refused; R-ENC-2 real tools read.
. "$(dirname "$0")/lib.sh"

ID=JGAD000001
for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "kuractl init" kura_init

DATA=$T/data
mkdir -p "$DATA"
python3 "$KURA_TOP/scripts/make-synthetic-data.py" "$DATA" --reads 4000 >/dev/null
mv "$DATA/samples.tsv" "$T/samples.tsv"
rm -f "$DATA/README.txt"
# Sizes around segment boundaries, and a multi-segment random file.
head -c $((3 * 65536 + 123)) /dev/urandom >"$DATA/random.bin"
head -c 65536 /dev/urandom >"$DATA/one-segment.bin"
: >"$DATA/empty.bin"
chmod -R a+rX "$DATA"
MARKER=KURA_SYNTHETIC_MARKER_7f3a

require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)" --title "synthetic cohort"
require "import --encrypt" kuractl dataset import "$ID" --encrypt --samples "$T/samples.tsv" "$DATA"
require "user add bob" kuractl user add "$ID" kt_bob --role co-investigator

MNT=$T/mnt
require "mount" mount_kura "$MNT"
M=$MNT/$ID
OUT=$T/out
mkdir -p "$OUT" && chmod 0777 "$OUT"

# ---- listed users read the same bytes (R-ACC-1, R-ENC-2) ----
for f in random.bin one-segment.bin empty.bin JGAS000001.summary.txt JGAS000002.bam cohort.vcf.gz; do
  check "kt_alice: cat $f is byte-identical" bash -c "setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups cat '$M/$f' | cmp -s - '$DATA/$f'"
done
check "kt_bob: cmp random.bin" as kt_bob cmp -s "$M/random.bin" "$DATA/random.bin"
check "sizes are plaintext sizes" test "$(as kt_bob stat -c %s "$M/random.bin")" = "$(stat -c %s "$DATA/random.bin")"
check "kt_bob: python reads identical bytes" as kt_bob /usr/bin/python3 -c "
import sys
a = open('$M/random.bin', 'rb').read(); b = open('$DATA/random.bin', 'rb').read()
sys.exit(0 if a == b else 1)"
# Shared read-only mappings work for a file the caller alone has open (the
# page cache serves it); with another user's handle open the file is served
# with direct I/O, where libfuse 3.14 leaves shared mappings refused
# (docs/design.md, "A newer libfuse"). mount_mmap.sh tests the tools.
shared_map() { as "$1" /usr/bin/python3 -c "
import errno, mmap, os, sys
fd = os.open('$M/random.bin', os.O_RDONLY)
try:
    m = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
print('same' if m[:] == open('$DATA/random.bin', 'rb').read() else 'differs')"; }
check "bob alone: a read-only shared mapping reads the plaintext" test "$(shared_map kt_bob)" = same
mkdir -p "$T/flags" && chmod 0777 "$T/flags"
as kt_alice /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[2], os.O_RDONLY)
print("open", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)' "$T/flags/alice_map_done" "$M/random.bin" >"$T/alice_holds" 2>&1 &
alice_holder=$!
for i in $(seq 1 100); do grep -q '^open' "$T/alice_holds" && break; sleep 0.05; done
check "with alice's handle open, bob's shared mapping is refused (ENODEV)" test "$(shared_map kt_bob)" = ENODEV
touch "$T/flags/alice_map_done"; wait "$alice_holder"
want=$(samtools view "$DATA/JGAS000001.bam" chr1:1000-20000 | md5sum)
check "samtools region query equals plaintext" test "$(as kt_alice samtools view "$M/JGAS000001.bam" chr1:1000-20000 | md5sum)" = "$want"
want=$(bcftools view -H -r chr1:5000-90000 "$DATA/cohort.vcf.gz" | md5sum)
check "bcftools region query equals plaintext" test "$(as kt_bob bcftools view -H -r chr1:5000-90000 "$M/cohort.vcf.gz" | md5sum)" = "$want"
check "listing shows every imported file" test "$(as kt_alice ls "$M" | sort | tr '\n' ' ')" = "$(ls "$DATA" | sort | tr '\n' ' ')"

# ---- everyone else sees nothing (R-ACC-1, R-ACC-4) ----
check "outsider: mount root lists nothing" lists_nothing kt_carol "$MNT"
check_output_fails "outsider: cannot list the dataset" "No such file" as kt_carol ls "$M"
check_output_fails "outsider: cannot read a file" "No such file" as kt_carol cat "$M/random.bin"
check "root (not listed): mount root lists nothing" lists_nothing root "$MNT"
check_output_fails "root (not listed): cannot read a file" "No such file" cat "$M/random.bin"
check "access() agrees with open(): listed user" as kt_alice /usr/bin/python3 -c "import os,sys; sys.exit(0 if os.access('$M/random.bin', os.R_OK) else 1)"
check "access() agrees with open(): outsider" as kt_carol /usr/bin/python3 -c "import os,sys; sys.exit(1 if os.access('$M/random.bin', os.R_OK) else 0)"

# ---- getfacl shows the listed users and nobody else ----
acl=$(as kt_alice getfacl -p "$M" 2>&1)
check "getfacl names the PI" grep -q "^user:kt_alice:r-x" <<<"$acl"
check "getfacl names the co-investigator" grep -q "^user:kt_bob:r-x" <<<"$acl"
check "getfacl names nobody else" test "$(grep -c '^user:[^:]' <<<"$acl")" = 2

# ---- every write-class operation: EROFS, "Read-only file system" (R-CPY-3) ----
ro='Read-only file system'
check_output_fails "create refused" "$ro" as kt_alice touch "$M/new-file"
check_output_fails "write refused" "$ro" as kt_alice bash -c "echo x >> '$M/random.bin'"
check_output_fails "truncate refused" "$ro" as kt_alice truncate -s 0 "$M/random.bin"
check_output_fails "mkdir refused" "$ro" as kt_alice mkdir "$M/dir"
check_output_fails "unlink refused" "$ro" as kt_alice rm -f "$M/random.bin"
check_output_fails "rename refused" "$ro" as kt_alice mv "$M/random.bin" "$M/renamed"
check_output_fails "link refused" "$ro" as kt_alice ln "$M/random.bin" "$M/hardlink"
check_output_fails "symlink refused" "$ro" as kt_alice ln -s random.bin "$M/symlink"
check_output_fails "chmod refused" "$ro" as kt_alice chmod 0777 "$M/random.bin"
check_output_fails "chown refused" "$ro" as kt_alice chown kt_alice "$M/random.bin"
check_output_fails "utimens refused" "$ro" as kt_alice touch -m -d 2020-01-01 "$M/random.bin"
check_output_fails "setxattr refused" "$ro" as kt_alice setfattr -n user.note -v x "$M/random.bin"
check_output_fails "removexattr refused" "$ro" as kt_alice setfattr -x user.note "$M/random.bin"
check_output_fails "mknod refused" "$ro" as kt_alice mkfifo "$M/fifo"
check_output_fails "fallocate refused" "$ro" as kt_alice fallocate -l 1M "$M/random.bin"
check_output_fails "rmdir refused" "$ro" as kt_alice rmdir "$M"
check "the data is unchanged after the attempts" as kt_bob cmp -s "$M/random.bin" "$DATA/random.bin"
# one record per attempt, naming the operation the kernel asked for
denied=$(grep '"event":"write-denied"' "$KROOT/log/audit.jsonl" | grep '"dataset":"'"$ID"'"')
missing=
for op in create "open for writing" mkdir unlink rename link symlink chmod chown utimens setxattr removexattr mknod rmdir; do
  grep -q "\"detail\":\"$op\"" <<<"$denied" || missing="$missing $op"
done
check "each refused write is in the audit log, under its dataset ($(grep -c . <<<"$denied") records; missing:${missing:- none})" \
  test -z "$missing" -a "$(grep -c . <<<"$denied")" -ge 16

# ---- copy-out tools refused (R-CPY-4) ----
check_output_fails "cp refused" "Permission denied" as kt_alice cp "$M/random.bin" "$OUT/cp.out"
check_output_fails "dd refused" "Permission denied" as kt_alice dd if="$M/random.bin" of="$OUT/dd.out" status=none
check_output_fails "tar refused" "Permission denied" as kt_alice tar -cf "$OUT/t.tar" -C "$M" random.bin
check_output_fails "rsync refused" "Permission denied" as kt_alice rsync "$M/random.bin" "$OUT/rsync.out"
# sftp_get FROM TO: a copy through sftp-server, as an SFTP login would make it
sftp_get() {
  printf 'get %s %s\n' "$1" "$2" >"$OUT/sftp.batch"
  as kt_alice sftp -q -b "$OUT/sftp.batch" -D /usr/lib/openssh/sftp-server >/dev/null 2>&1
}
sftp_get "$DATA/random.bin" "$OUT/sftp-control.out"
check "sftp-server (control): copies a file outside the mount" cmp -s "$OUT/sftp-control.out" "$DATA/random.bin"
rm -f "$OUT/sftp-control.out"
sftp_get "$M/random.bin" "$OUT/sftp.out"
check "sftp-server refused (nothing copied)" bash -c "! cmp -s '$OUT/sftp.out' '$DATA/random.bin'"
check "no copy tool got the plaintext" bash -c "! grep -rqs '$MARKER' '$OUT'"
# The chain counts, not only the caller: cat under a shell named rsync (as
# rsync --server runs a remote command) is refused; under another name it reads.
printf '%s\n' 'cat "$1" | cmp -s - "$2"; echo "${PIPESTATUS[0]}"' >"$T/cat-cmp.sh"
# under NAME FILE PLAIN: cat FILE run by a bash whose argv[0] is NAME; prints cat's status
under() { as kt_alice bash -c 'exec -a "$0" /bin/bash "$1" "$2" "$3"' "$1" "$T/cat-cmp.sh" "$2" "$3"; }
check "cat whose parent is named rsync is refused (the ancestors are checked)" \
  test "$(under rsync "$M/random.bin" "$DATA/random.bin" 2>/dev/null)" = 1
check "... and logged naming rsync as the parent" grep -q '"reason":"guard".*"detail":"rsync (pid [0-9]*, parent 1 of' "$KROOT/log/audit.jsonl"
check "cat under a parent of another name reads (control)" test "$(under myshell "$M/random.bin" "$DATA/random.bin")" = 0
guard=$(grep -c '"reason":"guard"' "$KROOT/log/audit.jsonl")
check "refused copies are logged with reason guard ($guard)" test "$guard" -ge 4

# ---- no caching: no page cache, nothing plaintext on disk (R-CPY-2) ----
# The page cache (R-CPY-2). A file one user alone has open is served through
# it (its mappings work: mount_mmap.sh shows its pages go at the last close
# and when access ends); a file another user also has open is read with
# direct I/O, which fills no cache. Measured on the descriptor that read:
# fincore opens the file again, and a FUSE open without keep_cache drops
# its page cache whatever reads did. An error fails the check; the control
# shows a cached local file is seen.
cached_after_read() { as kt_alice /usr/bin/python3 "$KURA_USER_BIN/cached_after_read.py" "$@" 2>&1; }
control=$(cached_after_read "$DATA/random.bin")
check "page cache (control): a local file just read is cached ($control)" test "${control##* }" -gt 0
alone=$(cached_after_read "$M/random.bin"); rc=$?
check "control: alice alone reads random.bin through the page cache (exit $rc: $alone)" \
  test "$rc" = 0 -a "${alone##* }" -gt 0
mkdir -p "$T/flags" && chmod 0777 "$T/flags"
as kt_bob /usr/bin/python3 -c '
import os, sys, time
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[2:]]
print("open", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)' "$T/flags/bob_done" "$M/random.bin" "$M/JGAS000001.summary.txt" >"$T/bob_holds" 2>&1 &
bob_holder=$!
for i in $(seq 1 100); do grep -q '^open' "$T/bob_holds" && break; sleep 0.05; done
cached=$(cached_after_read "$M/random.bin" "$M/JGAS000001.summary.txt"); rc=$?
touch "$T/flags/bob_done"; wait "$bob_holder"
check "with bob's handles open, alice's reads fill no page cache (direct I/O; exit $rc: $(echo $cached))" \
  test "$rc" = 0 -a "$(grep -cE ' 0$' <<<"$cached")" = 2
check "no file kura wrote holds the plaintext marker" bash -c "! grep -rqsa '$MARKER' '$KROOT'"

# ---- concurrent readers get correct bytes, for minutes (2 by default) ----
check_output "32 concurrent random-range readers: no wrong byte, no error" 'wrong=0 errors=0' \
  as kt_alice "$KURA_USER_BIN/randread" 32 "${RANDREAD_SECONDS:-120}" 300000 \
  "$M/random.bin" "$DATA/random.bin" "$M/JGAS000002.bam" "$DATA/JGAS000002.bam" \
  "$M/cohort.vcf.gz" "$DATA/cohort.vcf.gz"

# ---- the daemon keeps its secrets to itself ----
check "daemon: core dumps off" grep -Eq '^Max core file size +0 +0' "/proc/$KURAFS_PID/limits"
check_fails "daemon: a user cannot read its memory" as kt_alice cat "/proc/$KURAFS_PID/mem"

stop_kura "$MNT"

# ---- host binding: the same state served on "another server" (R-ACC-8) ----
# A copy of the config whose host id differs, as on a machine the state was
# copied to; its own socket so the two daemons do not meet.
sed -e 's|^#host_id =.*|host_id = '"$(printf 'a%.0s' $(seq 64))"'|' \
    -e 's|^socket = .*|socket = '"$T"'/other.sock|' "$KCONF" >"$T/other.conf"
KCONF=$T/other.conf
require "mount the copied state as another host" mount_kura "$T/mnt-other"
check "another host: the dataset is not listed" lists_nothing kt_alice "$T/mnt-other"
check_output_fails "another host: the PI cannot read" "No such file|Permission denied" as kt_alice cat "$T/mnt-other/$ID/random.bin"
check "another host: refusal logged as wrong host" grep -q '"reason":"wrong host"' "$KROOT/log/audit.jsonl"
stop_kura "$T/mnt-other"
done_testing
