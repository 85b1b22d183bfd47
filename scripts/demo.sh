#!/usr/bin/env bash
# kura, shown step by step on a throwaway server (make demo).
#   scripts/demo.sh BUILD_DIR
# As root. Creates, under a temp dir, a kura server with a synthetic
# JGA-style dataset (made-up reads and variants: no real person's data),
# and three demo users: a PI (kura-demo-pi), a co-investigator
# (kura-demo-co) and an outsider (kura-demo-out). Prints each command, then
# its output. Removes everything it made (mount, users, files) at the end,
# also on Ctrl-C or failure. Pauses between steps only when stdin is a
# terminal and DEMO_PAUSE=1. Exits 1 if anything behaved unexpectedly.
set -uo pipefail

build=$(cd "${1:?usage: scripts/demo.sh BUILD_DIR}" && pwd) || exit 2
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run it as root (it creates users and mounts a file system)" >&2; exit 1; }
for tool in samtools bcftools sftp setpriv useradd userdel fusermount3 getfacl /usr/bin/python3 /usr/lib/openssh/sftp-server; do
  command -v "$tool" >/dev/null || { echo "demo.sh: $tool is missing (make demo installs it: scripts/install-deps.sh)" >&2; exit 1; }
done

PI=kura-demo-pi CO=kura-demo-co OUT=kura-demo-out
ID=JGAD900001
for u in $PI $CO $OUT; do
  if id "$u" >/dev/null 2>&1; then
    echo "demo.sh: user $u exists already (left by an interrupted demo?); remove it (userdel $u) and run again" >&2
    exit 1
  fi
done

# ---- clean-up: always, also on Ctrl-C and failure ----
T=$(mktemp -d /tmp/kura-demo.XXXXXX)
chmod 0755 "$T"
made_users=() kurafs_pid="" reader_pid=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$reader_pid" ] && kill "$reader_pid" 2>/dev/null && wait "$reader_pid" 2>/dev/null
  if grep -qs " $T/mnt fuse.kurafs " /proc/mounts; then
    fusermount3 -u "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null
  fi
  if [ -n "$kurafs_pid" ]; then
    for _ in $(seq 1 50); do kill -0 "$kurafs_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$kurafs_pid" 2>/dev/null
    wait "$kurafs_pid" 2>/dev/null
  fi
  for u in "${made_users[@]}"; do userdel "$u" 2>/dev/null || echo "demo.sh: could not remove user $u" >&2; done
  rm -rf "$T"
  local left=""
  grep -qs " $T/mnt " /proc/mounts && left+=" mount"
  for u in "${made_users[@]}"; do id "$u" >/dev/null 2>&1 && left+=" user:$u"; done
  [ -e "$T" ] && left+=" $T"
  if [ -n "$left" ]; then echo "demo.sh: could not remove:$left" >&2; else echo "Cleaned up: no mount, no demo user, no file left."; fi
}
trap cleanup EXIT
trap 'echo; echo "demo.sh: interrupted"; exit 130' INT TERM

# ---- presentation ----
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then B=$'\e[1m' D=$'\e[2m' R=$'\e[0m'; else B="" D="" R=""; fi
step_no=0 surprises=0
step() {
  if [ "$step_no" -gt 0 ] && [ -t 0 ] && [ "${DEMO_PAUSE:-0}" = 1 ]; then read -r -p "${D}(Enter for the next step)${R} " _; fi
  step_no=$((step_no + 1))
  printf '\n%s== %d. %s%s\n' "$B" "$step_no" "$1" "$R"
  shift
  local line
  for line in "$@"; do printf '   %s\n' "$line"; done
}
# run WHO EXPECT COMMAND: prints the command as WHO would type it, runs it
# as WHO (a shell command line, in the demo directory), indents its output.
# EXPECT is ok or refused; anything else is reported as unexpected.
run() {
  local who=$1 expect=$2 cmd=$3 out rc
  if [ "$who" = root ]; then printf '%sroot# %s%s\n' "$B" "$cmd" "$R"; else printf '%s%s$ %s%s\n' "$B" "$who" "$cmd" "$R"; fi
  if [ "$who" = root ]; then
    out=$(cd "$T" && bash -c "$cmd" 2>&1 </dev/null); rc=$?
  else
    out=$(cd "$T" && setpriv --reuid="$who" --regid="$(id -g "$who")" --init-groups \
      env -i PATH="$PATH" KURA_CONFIG="$KURA_CONFIG" HOME="$T/work" USER="$who" LOGNAME="$who" LANG=C.UTF-8 \
      bash -c "$cmd" 2>&1 </dev/null); rc=$?
  fi
  [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
  if [ "$expect" = ok ] && [ "$rc" -ne 0 ]; then
    printf '    %s!! unexpected: exit status %d%s\n' "$B" "$rc" "$R"; surprises=$((surprises + 1))
  elif [ "$expect" = refused ] && [ "$rc" -eq 0 ]; then
    printf '    %s!! unexpected: this should have been refused%s\n' "$B" "$R"; surprises=$((surprises + 1))
  elif [ "$expect" = refused ]; then
    printf '    %s-> refused (exit status %d), as it should be%s\n' "$D" "$rc" "$R"
  fi
  return 0
}
# check WHAT CONDITION: counts a surprise (and says WHAT) if CONDITION fails.
check() {
  if ! eval "$2"; then printf '    %s!! unexpected: %s%s\n' "$B" "$1" "$R"; surprises=$((surprises + 1)); fi
}

# ---- the demo server's tools and environment ----
mkdir -p "$T/bin" "$T/work" "$T/download"
cp "$build/kuractl" "$build/kurafs" "$T/bin/"
export PATH="$T/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export KURA_CONFIG=$T/srv/kura.conf
today=$(TZ=Asia/Tokyo date +%F)
until_day=$(TZ=Asia/Tokyo date -d '+1 year -1 day' +%F)

printf '%skura demo%s: a throwaway kura server in %s\n' "$B" "$R" "$T"
printf 'KURA_CONFIG=%s is set, so kuractl and kurafs below use it.\n' "$KURA_CONFIG"
printf 'Demo users: %s (PI), %s (co-investigator), %s (outsider).\n' "$PI" "$CO" "$OUT"

for u in $PI $CO $OUT; do useradd -M -N -s /usr/sbin/nologin "$u" && made_users+=("$u") || exit 1; done
chown "$CO" "$T/work"

step "The server" \
  "kuractl init creates the config, the server's Crypt4GH key pair and the audit-log key." \
  "In production it is plain 'kuractl init' (/etc/kura, /var/lib/kura, /var/log/kura), and" \
  "you register the public key it prints with the archive (JGA/AGD): downloads then arrive" \
  "encrypted to this server, and no plaintext copy ever exists."
run root ok "kuractl init --root srv"

step "A dataset" \
  "The operator registers the dataset: its PI and approved usage period (dates in Asia/Tokyo)."
run root ok "kuractl dataset add $ID --pi $PI --period $today..$until_day --title 'Synthetic cohort (demo)'"

step "The data" \
  "A made-up JGA-style delivery: two samples' indexed BAMs and a cohort VCF." \
  "An archive delivers .c4gh files encrypted to the server key; this demo has plaintext," \
  "which --encrypt encrypts straight into the store. --samples maps files to samples," \
  "--remove-source deletes the delivery once the import is durable."
/usr/bin/python3 "$top/scripts/make-synthetic-data.py" "$T/download/$ID" --reads 2000 >/dev/null || exit 1
mv "$T/download/$ID/samples.tsv" "$T/download/samples.tsv"
rm -f "$T/download/$ID/README.txt"
run root ok "cat download/samples.tsv"
run root ok "kuractl dataset import $ID --encrypt --samples download/samples.tsv --remove-source download/$ID"
run root ok "ls download/; ls srv/lib/store/$ID | head -n 3"
echo "    (store file names are opaque ids; the synthetic reads carry a marker text, and no file"
echo "    of the server holds it: nothing plaintext on disk)"
run root ok "grep -rl KURA_SYNTHETIC_MARKER srv/ || echo 'marker not found under srv/'"
check "plaintext found under srv/" '! grep -rqs KURA_SYNTHETIC_MARKER "$T/srv"' 

step "The mount" \
  "kurafs serves every dataset under the mount point. Root is not a listed user:" \
  "operators manage datasets but get no plaintext."
mkdir -p "$T/mnt"
printf '%sroot# kurafs -f mnt &%s\n' "$B" "$R"
kurafs -f "$T/mnt" >"$T/kurafs.log" 2>&1 &
kurafs_pid=$!
for _ in $(seq 1 100); do grep -qs " $T/mnt fuse.kurafs " /proc/mounts && break; sleep 0.1; done
grep -qs " $T/mnt fuse.kurafs " /proc/mounts || { echo "demo.sh: kurafs did not mount:"; cat "$T/kurafs.log"; exit 1; }
run root ok "grep ' $T/mnt ' /proc/mounts"
run root ok "ls -la mnt/"
run root refused "cat mnt/$ID/JGAS000001.summary.txt"

step "The PI adds a co-investigator" \
  "The PI manages the users of their own dataset, through the daemon's control socket" \
  "(the daemon learns who is asking from the kernel). Everything lands in the ledger."
run $PI ok "kuractl user add $ID $CO --role co-investigator"
run $PI ok "kuractl user list $ID"
run $CO refused "kuractl user add $ID $OUT"

step "The co-investigator works with ordinary tools" \
  "Files are decrypted on the fly; samtools and bcftools do region queries through the indexes."
run $CO ok "kuractl status"
run $CO ok "ls -l mnt/$ID/"
run $CO ok "samtools view mnt/$ID/JGAS000001.bam chr1:50000-50400 | cut -f 1-6 | head -n 3"
run $CO ok "samtools view -c mnt/$ID/JGAS000002.bam chr1:100000-120000"
run $CO ok "bcftools view -H -r chr1:10000-12000 mnt/$ID/cohort.vcf.gz | cut -f 1-5,10- | head -n 3"
run $CO ok "getfacl -p mnt/$ID 2>/dev/null | grep '^user:'"

step "The outsider sees nothing" \
  "A user who is not listed sees an empty mount; the dataset does not exist for them."
run $OUT ok "ls -la mnt/"
run $OUT refused "cat mnt/$ID/JGAS000001.summary.txt"
run $OUT ok "kuractl status"

step "Copies off the mount are refused" \
  "Copy and transfer tools (cp, rsync, scp, sftp-server, tar, ...) cannot open dataset files," \
  "even for a listed user. (A listed user can still write out what they read with an allowed" \
  "program; kura makes that hard and visible, not impossible.)"
run $CO refused "cp mnt/$ID/JGAS000001.bam work/"
printf 'get %s %s\n' "$T/mnt/$ID/JGAS000001.bam" "$T/work/copy.bam" >"$T/work/get.batch"
chown "$CO" "$T/work/get.batch"
run $CO refused "sftp -b work/get.batch -D /usr/lib/openssh/sftp-server"
run $CO ok "ls -A work/"
check "a copy landed in work/" '[ ! -e "$T/work/copy.bam" ] && [ ! -e "$T/work/JGAS000001.bam" ]'

step "Writes are refused" \
  "The dataset is read-only for everyone; every attempt is logged."
run $CO refused "touch mnt/$ID/notes.txt"
run $CO refused "rm mnt/$ID/cohort.vcf.gz"

step "Consent withdrawal, while a file is open" \
  "The co-investigator's program has JGAS000002.bam open. The operator records that the" \
  "subject of sample JGAS000002 withdrew consent (after a --dry-run that names the files also" \
  "holding another sample): that sample's files vanish, their keys are destroyed, and the open" \
  "file stops at its next read. The PI's withdrawal report says who had read them."
cat >"$T/work/reader.py" <<'EOF'
import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print("reader: read %d bytes" % len(os.pread(fd, 65536, 0)), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
try:
    print("reader: read %d more bytes" % len(os.pread(fd, 65536, 65536)), flush=True)
except OSError as e:
    print("reader: next read failed: %s (%s)" % (os.strerror(e.errno), errno.errorcode[e.errno]), flush=True)
EOF
setpriv --reuid=$CO --regid="$(id -g $CO)" --init-groups /usr/bin/python3 "$T/work/reader.py" \
  "$T/mnt/$ID/JGAS000002.bam" "$T/work/go" >"$T/work/reader.out" 2>&1 &
reader_pid=$!
for _ in $(seq 1 50); do [ -s "$T/work/reader.out" ] && break; sleep 0.1; done
printf '%s%s$ python3 reader.py mnt/%s/JGAS000002.bam &%s\n' "$B" "$CO" "$ID" "$R"
sed 's/^/    /' "$T/work/reader.out"
run root ok "kuractl withdraw $ID JGAS000002 --ref 'consent withdrawal 2026-0042' --dry-run"
run root ok "kuractl withdraw $ID JGAS000002 --ref 'consent withdrawal 2026-0042' --yes"
touch "$T/work/go"
wait "$reader_pid"; reader_pid=""
printf '    %s(the reader goes on)%s\n' "$D" "$R"
sed -n '2,$p' "$T/work/reader.out" | sed 's/^/    /'
check "the open file kept reading after the withdrawal" 'grep -q "Permission denied" "$T/work/reader.out"'
run $CO ok "ls mnt/$ID/"
run $CO ok "samtools view -c mnt/$ID/JGAS000001.bam"
run $PI ok "kuractl report withdrawal $ID JGAS000002 | sed -n '/^## Who opened/,\$p'"

step "The ledger" \
  "Every change with who made it, hash-chained; the PI reads their dataset's ledger."
run $PI ok "kuractl ledger $ID"

step "The audit log" \
  "Every open (allowed or denied), close, refused write and change, with user, process and" \
  "result; each record carries the previous record's hash and a MAC. The PI sees their" \
  "dataset's records; the operator checks the whole chain."
run $PI ok "kuractl audit --user $CO | tail -n 8"
run root ok "tail -n 1 srv/log/audit.jsonl"
run root ok "kuractl audit verify"

step "The usage report" \
  "What the PI reports yearly: users, periods, opens and bytes read, refusals, changes."
run $PI ok "kuractl report usage $ID | head -n 14"

step "End of use: crypto-erasure" \
  "The operator destroys the dataset's keys: what is left in the store cannot be decrypted" \
  "by anyone. The destruction report is what the PI submits."
run root ok "kuractl dataset destroy $ID --yes >report.md; head -n 22 report.md"
run $CO ok "ls -A mnt/"
run root ok "ls -A srv/lib/keys/datasets/"

step "Tampering with the log is found" \
  "The daemon stops; then someone edits the audit log so that the first record of the" \
  "co-investigator names the PI instead."
printf '%sroot# fusermount3 -u mnt%s\n' "$B" "$R"
fusermount3 -u "$T/mnt" || surprises=$((surprises + 1))
for _ in $(seq 1 50); do kill -0 "$kurafs_pid" 2>/dev/null || break; sleep 0.1; done
wait "$kurafs_pid"; rc=$?; kurafs_pid=""
[ "$rc" -eq 0 ] || { printf '    !! unexpected: kurafs exited with status %d\n' "$rc"; surprises=$((surprises + 1)); }
run root ok "sed -i '0,/\"user\":\"$CO\"/s//\"user\":\"$PI\"/' srv/log/audit.jsonl"
run root refused "kuractl audit verify"

printf '\n'
if [ "$surprises" -eq 0 ]; then
  printf '%sEverything behaved as it should.%s\n' "$B" "$R"
else
  printf '%s%d thing(s) did not behave as expected (marked !! above).%s\n' "$B" "$surprises" "$R"
fi
[ "$surprises" -eq 0 ]
