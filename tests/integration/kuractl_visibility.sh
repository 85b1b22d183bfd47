#!/usr/bin/env bash
# What the operator and the PI can see of the server (issue 20 section 3):
# dataset files lists each file's state, size, samples and path with the
# file count, to the dataset's PI and operators only; kurafs -f echoes its
# notices on stderr (syslog is absent on many machines).
. "$(dirname "$0")/lib.sh"

ID=JGAD000071
for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
mkdir -p "$T/data/S1" "$T/data/S2"
head -c 1000 /dev/urandom >"$T/data/S1/reads.bin"
head -c 2345 /dev/urandom >"$T/data/S2/reads.bin"
head -c 77 /dev/urandom >"$T/data/notes.txt"
chmod -R a+rX "$T/data"
printf 'S1/reads.bin\tJGAS000711\nS2/reads.bin\tJGAS000712\n' >"$T/samples.tsv"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import with samples" kuractl dataset import "$ID" --encrypt --samples "$T/samples.tsv" "$T/data"
require "user add bob" kuractl user add "$ID" kt_bob
require "withdraw JGAS000711" kuractl withdraw "$ID" JGAS000711 --ref "consent withdrawn (test)" --yes

# ---- dataset files ----
kuractl dataset files "$ID" >"$T/files.out" 2>&1
check "dataset files: the withdrawn sample's file, its size and sample" \
  grep -Eq '^withdrawn +1000  JGAS000711  S1/reads.bin$' "$T/files.out"
check "... the other sample's file is served" grep -Eq '^served +2345  JGAS000712  S2/reads.bin$' "$T/files.out"
check "... a file with no sample says so" grep -Eq '^served +77  -  notes.txt$' "$T/files.out"
check "... and the count and total" grep -q "^3 file(s), 3422 bytes in dataset $ID$" "$T/files.out"
require "mount" mount_kura "$T/mnt"
check_output "the PI may list the files" "S2/reads.bin" as kt_alice "$KURACTL" -c "$KCONF" dataset files "$ID"
check_output_fails "a listed user may not" "PI" as kt_bob "$KURACTL" -c "$KCONF" dataset files "$ID"
check_fails "an outsider may not" as kt_carol "$KURACTL" -c "$KCONF" dataset files "$ID"
check_output_fails "an unknown dataset is refused" "JGAD999999" kuractl dataset files JGAD999999
require "suspend" kuractl dataset suspend "$ID" --reason "audit (test)"
check "a suspended dataset's files say so" grep -Eq '^suspended +2345 ' <(kuractl dataset files "$ID")
check "... a withdrawn file stays withdrawn" grep -Eq '^withdrawn +1000 ' <(kuractl dataset files "$ID")

# ---- kurafs -f: notices on stderr ----
check "kurafs -f says on stderr that it serves" grep -q "^kurafs 0\.[0-9.]* serving $T/mnt$" "$KURAFS_LOG"
cp -p "$KROOT/lib/datasets/$ID/dataset.ini" "$T/dataset.ini.good"
echo "garbage" >>"$KROOT/lib/datasets/$ID/dataset.ini"
kuractl reload >/dev/null 2>&1
for i in $(seq 1 50); do grep -q "reload refused" "$KURAFS_LOG" && break; sleep 0.1; done
check "a refused reload is told on stderr, naming the file" \
  grep -q "^kurafs: reload refused, still serving the last good state: .*dataset.ini" "$KURAFS_LOG"
cp -p "$T/dataset.ini.good" "$KROOT/lib/datasets/$ID/dataset.ini"
stop_kura "$T/mnt"

done_testing
