#!/usr/bin/env bash
# Consent withdrawal through the mount (R-REV-1, R-REV-4): the sample's files
# vanish, a handle open mid-read stops at its next read, the other samples
# still read, and the withdrawn files' headers are gone from the keystore.
. "$(dirname "$0")/lib.sh"

ID=JGAD000030
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
mkdir -p "$T/data/S1" "$T/data/S2"
head -c 300000 /dev/urandom >"$T/data/S1/reads.bin"
head -c 300000 /dev/urandom >"$T/data/S2/reads.bin"
chmod -R a+rX "$T/data"
printf 'S1/reads.bin\tJGAS000101\nS2/reads.bin\tJGAS000102\n' >"$T/samples.tsv"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import with samples" kuractl dataset import "$ID" --encrypt --samples "$T/samples.tsv" "$T/data"
require "user add bob" kuractl user add "$ID" kt_bob
require "mount" mount_kura "$T/mnt"
M=$T/mnt/$ID
mkdir -p "$T/flags" && chmod 0777 "$T/flags"
fid=$(awk -F'\t' '$1 == "S1/reads.bin" {print $2}' "$KROOT/lib/datasets/$ID/files.tsv")
check "the sample's header is in the keystore before" test -e "$KROOT/lib/keys/datasets/$ID/$fid.hdr"

as kt_bob /usr/bin/python3 "$KURA_USER_BIN/hold_read.py" "$M/S1/reads.bin" "$T/flags/go" >"$T/hold.out" 2>&1 &
for i in $(seq 1 100); do grep -q '^first' "$T/hold.out" 2>/dev/null && break; sleep 0.05; done
check "bob reads JGAS000101's file mid-read" grep -q 'first ok' "$T/hold.out"
require "withdraw JGAS000101" kuractl withdraw "$ID" JGAS000101 --ref "consent withdrawn 2026-11 (test)"
touch "$T/flags/go"
for i in $(seq 1 100); do grep -q '^second' "$T/hold.out" 2>/dev/null && break; sleep 0.05; done
check "the open handle stops at its next read" grep -q 'second EACCES' "$T/hold.out"
files=$(as kt_bob find "$M" -type f); rc=$? # an error is not "gone"
check "the withdrawn file is gone from the listing (the other sample's is there)" \
  test "$rc" = 0 -a "$(grep -c '/S1/reads.bin$' <<<"$files")" = 0 -a "$(grep -c '/S2/reads.bin$' <<<"$files")" = 1
check_output_fails "the withdrawn file cannot be opened" "No such file" as kt_bob cat "$M/S1/reads.bin"
check "the other sample still reads" as kt_bob cmp -s "$M/S2/reads.bin" "$T/data/S2/reads.bin"
check "the withdrawn file's header is destroyed" test ! -e "$KROOT/lib/keys/datasets/$ID/$fid.hdr"
check "the withdrawal is in the audit log" grep -q '"event":"withdraw".*JGAS000101' "$KROOT/log/audit.jsonl"
check_output "and in the ledger" "JGAS000101" kuractl ledger "$ID"
stop_kura "$T/mnt"
done_testing
