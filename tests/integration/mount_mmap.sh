#!/usr/bin/env bash
# Researchers' tools that map files read-only, through a real mount:
# python3 mmap and numpy.memmap (shared mappings), R's vroom and readr, Java
# NIO mapped buffers and picard, samtools. Each mapping is covered by an
# allow record; a revocation while each holds its mapping makes the next
# touch fault; no plaintext page stays cached after the last close or after
# access ends (measured in the reader's own memory cgroup, which is charged
# with the pages it makes the kernel cache). TAP output.
. "$(dirname "$0")/lib.sh"

ID=JGAD000050
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
DATA=$T/data
mkdir -p "$DATA" "$T/flags" && chmod 0777 "$T/flags"
python3 "$KURA_TOP/scripts/make-synthetic-data.py" "$DATA" --reads 2000 >/dev/null
head -c 8388608 /dev/urandom >"$DATA/random.bin"
python3 -c '
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    f.write("a\tb\n")
    for i in range(200000):
        f.write("%d\t%d\n" % (random.randrange(1000), random.randrange(1000)))' "$DATA/table.tsv"
chmod -R a+rX "$DATA"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$DATA"
require "user add bob" kuractl user add "$ID" kt_bob
require "mount" mount_kura "$T/mnt"
# Read ahead 2 MiB (128 KiB is the kernel's default): two 1 MiB READs at
# once, decrypted in parallel, are what lets cat keep up.
check_output "the mount reads ahead 2 MiB into a sole reader's page cache" '^2048$' \
  cat "/sys/class/bdi/$(mountpoint -d "$T/mnt")/read_ahead_kb"
M=$T/mnt/$ID
LOG=$KROOT/log/audit.jsonl
H=$KURA_USER_BIN
sha() { sha256sum "$1" | cut -d' ' -f1; }
# as_sh USER PIPELINE: a shell pipeline whose commands run as USER.
as_sh() { local u=$1; shift; bash -c "$(declare -f as); $*"; }
want_sum=$(python3 -c 'import sys; print(sum(open(sys.argv[1], "rb").read()))' "$DATA/random.bin")
read -r want_a want_b < <(awk -F'\t' 'NR > 1 {a += $1; b += $2} END {printf "%d %d\n", a, b}' "$DATA/table.tsv")

# ---- plain reads through the page cache, segment boundaries crossed ----
# cat's 128 KiB reads make the kernel read ahead in two 1 MiB READs at once,
# which the daemon serves in parallel on one handle.
check "cat of 8 MiB (readahead READs served in parallel) gives the plaintext" \
  as_sh kt_bob "as kt_bob cat '$M/random.bin' | cmp -s - '$DATA/random.bin'"
check_output "random reads of up to 4 KiB, across segment boundaries, give the plaintext" 'wrong=0 errors=0' \
  as kt_bob "$KURA_USER_BIN/randread" 1 2 4096 "$M/random.bin" "$DATA/random.bin"

# ---- the tools, reading through shared mappings ----
check_output "python3 mmap (shared, read-only) reads the plaintext" "^mapped $(sha "$DATA/random.bin")\$" \
  as_sh kt_bob "touch '$T/flags/now'; as kt_bob /usr/bin/python3 '$H/map_hold.py' mmap '$M/random.bin' '$T/flags/now' | head -n 1"
check_output "numpy.memmap reads the plaintext" "^mapped $(sha "$DATA/random.bin")\$" \
  as_sh kt_bob "as kt_bob /usr/bin/python3 '$H/map_hold.py' numpy '$M/random.bin' '$T/flags/now' | head -n 1"
check_output "Java FileChannel.map reads the plaintext" "^mapped $want_sum\$" \
  as_sh kt_bob "as kt_bob /usr/bin/java '$H/MapHold.java' '$M/random.bin' '$T/flags/now' 2>&1 | head -n 1"
check_output "R vroom reads the TSV (lazily, mapped)" "^mapped 200000 $want_a ?\$" \
  as_sh kt_bob "as kt_bob /usr/bin/Rscript '$H/vroom_hold.R' '$M/table.tsv' '$T/flags/now' 2>&1 | head -n 1"
check_output "R readr::read_tsv reads the TSV" "^200000 $want_a $want_b\$" \
  as kt_bob /usr/bin/Rscript -e "d <- readr::read_tsv('$M/table.tsv', col_types = 'dd', progress = FALSE)" \
  -e 'cat(nrow(d), sprintf("%.0f", sum(d$a)), sprintf("%.0f", sum(d$b)), sep = " ")'
# picard's Debian wrapper prints its options first; records have 11+ fields.
check_output "picard (Java, htsjdk) reads the BAM: every record" \
  "^$(samtools view "$DATA/JGAS000001.bam" | cut -f1-9 | md5sum | cut -d' ' -f1)\$" \
  as_sh kt_bob "as kt_bob /usr/bin/PicardCommandLine ViewSam -I '$M/JGAS000001.bam' --ALIGNMENT_STATUS All --PF_STATUS All 2>/dev/null | awk -F'\t' 'NF >= 11 && !/^@/' | cut -f1-9 | md5sum | cut -d' ' -f1"
check "samtools reads the BAM as before" \
  test "$(as kt_bob samtools view "$M/JGAS000001.bam" | md5sum)" = "$(samtools view "$DATA/JGAS000001.bam" | md5sum)"

# ---- each mapping is covered by an allow record ----
check "every mapper's open has its allow record (python, numpy, java, R)" \
  test "$(grep '"event":"open"' "$LOG" | grep '"decision":"allow"' | grep '"user":"kt_bob"' | grep -c '"path":"random.bin"')" -ge 3

# ---- the page cache: charged to the reader's own memory cgroup ----
CG=
if [ -d /sys/fs/cgroup/memory ]; then           # cgroup v1
  CG=/sys/fs/cgroup/memory/kura-mmap-test.$$; CGSTAT=cache
elif grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then  # v2
  CG=/sys/fs/cgroup/kura-mmap-test.$$; CGSTAT=file
fi
require "a memory cgroup for the reader (cgroup v1 or v2 with the memory controller)" mkdir "$CG"
on_exit "rmdir '$CG'"
cached_kib() { echo $(( $(sed -n "s/^$CGSTAT //p" "$CG/memory.stat") / 1024 )); }
# in_cg CMD...: CMD (as root, it then drops to a user) inside the cgroup.
in_cg() { bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' in_cg "$CG" "$@"; }

in_cg bash -c "$(declare -f as); as kt_bob /usr/bin/python3 '$H/map_hold.py' mmap '$M/random.bin' '$T/flags/cache1'" >"$T/cache1.out" 2>&1 &
holder=$!
for i in $(seq 1 100); do grep -q '^mapped' "$T/cache1.out" && break; sleep 0.05; done
open_kib=$(cached_kib)
check "control: while mapped, the file's 8 MiB are cached (${open_kib} KiB charged)" test "$open_kib" -ge 7168
touch "$T/flags/cache1"; wait "$holder"
# The kernel sends the close to the daemon after the process is gone, and
# the daemon's dropper thread drops the pages (pagecache.c): moments later.
wait_for 2 test "$(cached_kib)" -lt 1024
closed_kib=$(cached_kib)
check "after the last close its pages are dropped (${closed_kib} KiB left)" test "$closed_kib" -lt 1024

# ---- a revocation while each tool holds its mapping ----
# hold NAME [in_cg] CMD: a mapper in the background, output in $T/NAME.out.
# Only the python mappers run in the cgroup: the JVM and R charge it with
# pages of their own (libraries, temporary files) that say nothing of kura.
hold() {
  local name=$1; shift
  local cg=; [ "$1" = in_cg ] && { cg=in_cg; shift; }
  $cg bash -c "$(declare -f as); as kt_bob $*" >"$T/$name.out" 2>&1 &
  eval "pid_$name=$!"
}
mapping() { local i; for i in $(seq 1 400); do grep -q '^mapped' "$T/$1.out" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# The python mappers first: the pages are charged to whoever faults them in.
hold py in_cg "/usr/bin/python3 '$H/map_hold.py' mmap '$M/random.bin' '$T/flags/go'"
hold np in_cg "/usr/bin/python3 '$H/map_hold.py' numpy '$M/random.bin' '$T/flags/go'"
check "py holds its mapping" mapping py
check "np holds its mapping" mapping np
mapped_kib=$(cached_kib)
check "control: the two python mappers hold the file's pages (${mapped_kib} KiB)" test "$mapped_kib" -ge 7168
hold java "/usr/bin/java '$H/MapHold.java' '$M/random.bin' '$T/flags/go'"
hold r "/usr/bin/Rscript '$H/vroom_hold.R' '$M/table.tsv' '$T/flags/go'"
check "java holds its mapping" mapping java
check "r holds its mapping" mapping r
require "user remove bob" kuractl user remove "$ID" kt_bob
revoked_kib=$(cached_kib)
check "access ended: the cached pages are gone (${mapped_kib} -> ${revoked_kib} KiB)" test "$revoked_kib" -lt 1024
touch "$T/flags/go"
wait "$pid_py"; rc_py=$?
wait "$pid_np"; rc_np=$?
wait "$pid_java"
wait "$pid_r"; rc_r=$?
check "python mmap: the next touch gets SIGBUS (status $rc_py)" test "$rc_py" = $((128 + 7))
check "numpy.memmap: the next touch gets SIGBUS (status $rc_np)" test "$rc_np" = $((128 + 7))
check "Java: the next touch faults" grep -q '^fault' "$T/java.out"
check "R vroom: the next read of the mapping faults (status $rc_r)" \
  bash -c "test '$rc_r' != 0 && ! grep -q '^touched' '$T/r.out'"
for name in py np java r; do
  check "$name read nothing after the revocation" bash -c "! grep -q '^touched' '$T/$name.out'"
done
check "the stopped mappings are in the audit log" \
  test "$(grep '"event":"revocation"' "$LOG" | grep -c '"user":"kt_bob"')" -ge 1
check_fails "picard as bob after removal reads nothing" \
  as kt_bob /usr/bin/PicardCommandLine ViewSam -I "$M/JGAS000001.bam" --ALIGNMENT_STATUS All --PF_STATUS All

stop_kura "$T/mnt"
done_testing
