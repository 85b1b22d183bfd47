#!/usr/bin/env bash
# Damaged or tampered ciphertext is never served as data (R-ENC-1): the
# reader gets EIO ("Input/output error") and the rest of the dataset reads.
. "$(dirname "$0")/lib.sh"

ID=JGAD000003
make_user kt_alice
require "kuractl init" kura_init
mkdir -p "$T/data"
for f in flip cut swap-a swap-b size intact; do head -c $((3 * 65536 + 999)) /dev/urandom >"$T/data/$f.bin"; done
chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
store=$KROOT/lib/store/$ID
fid() { awk -F'\t' -v p="$1" '$1 == p {print $2}' "$KROOT/lib/datasets/$ID/files.tsv"; }

# One flipped byte in the second segment of the payload.
require "one byte flipped" flip_byte "$store/$(fid flip.bin)" $((65536 + 28 + 100))
# A payload cut at a segment boundary (Crypt4GH alone would not notice).
truncate -s $((2 * (65536 + 28))) "$store/$(fid cut.bin)"
# Two payloads swapped between files.
mv "$store/$(fid swap-a.bin)" "$T/swap.tmp"
mv "$store/$(fid swap-b.bin)" "$store/$(fid swap-a.bin)"
mv "$T/swap.tmp" "$store/$(fid swap-b.bin)"
# files.tsv's recorded size no longer matches what the header serves.
sed -i "s/^\(size.bin\t[0-9a-f]*\t\)[0-9]*/\1123/" "$KROOT/lib/datasets/$ID/files.tsv"

require "mount" mount_kura "$T/mnt"
M=$T/mnt/$ID
eio='Input/output error'
check_output_fails "flipped byte: EIO, not data" "$eio" as kt_alice cat "$M/flip.bin"
check "flipped byte: the segments before it still read" \
  bash -c "setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups head -c 65536 '$M/flip.bin' | cmp -s - <(head -c 65536 '$T/data/flip.bin')"
check_output_fails "payload cut at a segment boundary: EIO" "$eio" as kt_alice cat "$M/cut.bin"
check_output_fails "payloads swapped between files: EIO" "$eio" as kt_alice cat "$M/swap-a.bin"
check_output_fails "recorded size differs from the header's: refused" "$eio" as kt_alice cat "$M/size.bin"
check "an intact file of the same dataset reads" as kt_alice cmp -s "$M/intact.bin" "$T/data/intact.bin"

# A malformed dataset.ini: refused by file and line; the daemon keeps
# serving its last good state (issue 3).
INI=$KROOT/lib/datasets/$ID/dataset.ini
cp "$INI" "$T/dataset.ini.good"
echo "this is not ini" >>"$INI"
check_output_fails "kuractl names the bad file and line" "dataset.ini:[0-9]+" kuractl user list "$ID"
kuractl reload >/dev/null 2>&1
check "the daemon refused the bad state, and logged it" grep -q '"reason":"state refused".*dataset.ini:[0-9]' "$KROOT/log/audit.jsonl"
check "after a reload that found a bad file, the last good state still serves" \
  as kt_alice cmp -s "$M/intact.bin" "$T/data/intact.bin"
cp "$T/dataset.ini.good" "$INI"
check "the repaired state loads again" kuractl reload
stop_kura "$T/mnt"
done_testing
