#!/usr/bin/env bash
# Consent withdrawal through the mount (R-REV-1, R-REV-4): the sample's files
# vanish, a handle open mid-read stops at its next read, the other samples
# still read, and the withdrawn files' headers are gone from the keystore.
# Withdrawals cannot be lost (issue 13 section 4): a withdrawal of a sample
# with no file yet is recorded as pending and a later delivery of its files
# is imported without a key and never served; an import without a samples
# map is warned about and shown as "no sample map"; the withdrawal report
# names who opened the sample's files, when and the bytes read.
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
require "withdraw JGAS000101" kuractl withdraw "$ID" JGAS000101 --ref "consent withdrawn 2026-11 (test)" --yes
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
check "bob reads the other sample's file whole" as kt_bob cmp -s "$M/S2/reads.bin" "$T/data/S2/reads.bin"

# ---- the withdrawal report: who opened the sample's files ----
pi() { as kt_alice "$KURACTL" -c "$KCONF" "$@"; }
audit_quiet
pi report withdrawal "$ID" JGAS000101 --lang en >"$T/wr.out" 2>&1
check "the PI gets the withdrawal report" grep -q "^# Withdrawal report: $ID$" "$T/wr.out"
check "... of the sample" grep -q "^- Sample: JGAS000101$" "$T/wr.out"
check "... naming the dataset's kind and level" bash -c "grep -q '^- Kind: JGA$' '$T/wr.out' && grep -q '^- Security level: type1$' '$T/wr.out'"
check "... the consent withdrawn, and the withdrawal's reference" \
  bash -c "grep -q '^- Consent: withdrawn$' '$T/wr.out' && grep -q '^- Reference: consent withdrawn 2026-11 (test)$' '$T/wr.out'"
check "... listing the withdrawn file (key destroyed earlier)" grep -q "^| S1/reads.bin | $fid | 293.0 KiB | - | withdrawn: not served, no key left |" "$T/wr.out"
check "... and bob's open of it, the bytes he read, his refused attempts after" grep -Eq "^\| kt_bob \| [0-9]+ \| S1/reads.bin \| 1 \| 0 \| 20[0-9-]+T[^|]+ \| [^|]+ \| [1-9][0-9.]* (B|KiB) \| [1-9][0-9]* \|" "$T/wr.out"
check "... and not his reads of the other sample's file" test "$(grep -c 'S2/reads.bin' "$T/wr.out")" = 0
check "... asking the PI to have them delete what they read" grep -q "^What these users read, and anything they derived from it, may still be with them: ask them to delete it.$" "$T/wr.out"
pi report withdrawal "$ID" JGAS000101 --json >"$T/wr.json" 2>&1
pi report withdrawal "$ID" JGAS000101 --csv >"$T/wr.csv" 2>&1
check "report withdrawal --csv: who opened the sample's files, one row each" \
  test "$(head -1 "$T/wr.csv")" = "user,uid,file,opens,read_throughs,first_open,last_open,bytes_read,refused"
check "report withdrawal --json: the same facts as the Markdown and the CSV, numbers exact" /usr/bin/python3 -c "
import csv, json, re, sys
j = json.load(open(sys.argv[1])); md = open(sys.argv[2]).read(); cs = list(csv.DictReader(open(sys.argv[3])))
h = j['report']
old = ['type', 'subject', 'sample', 'pi', 'withdrawn_at', 'reference', 'made_at', 'made_by', 'audit_seq', 'audit_mac']
assert [k for k in h if k in old] == old, list(h)
assert h['type'] == 'withdrawal' and h['subject'] == '$ID' and h['sample'] == 'JGAS000101', h
assert h['reference'] == 'consent withdrawn 2026-11 (test)' and h['withdrawn_at'] and h['consent'] == 'withdrawn', h
assert h['kind'] == 'JGA' and h['pi'] == 'kt_alice', h
assert j['files'] == [{'path': 'S1/reads.bin', 'file_id': '$fid', 'size': 300000, 'other_samples': '-',
                       'now': 'withdrawn: not served, no key left'}], j['files']
assert j['shared_files'] == [], j['shared_files']
rows = [r for r in j['opened_by'] if r['user'] == 'kt_bob']
assert len(rows) == 1 and rows[0]['file'] == 'S1/reads.bin' and rows[0]['opens'] == 1, rows
c = [r for r in cs if r['user'] == 'kt_bob']
assert len(c) == 1 and len(cs) == len(j['opened_by']), cs
assert {k: str(v) for k, v in rows[0].items()} == c[0], (rows[0], c[0])
m = re.search(r'^\| kt_bob \| (\d+) \| S1/reads.bin \| 1 \| 0 \| [^|]+ \| [^|]+ \| ([^|]+) \| (\d+) \|', md, re.M)
n = rows[0]['bytes_read']
human = '%d B' % n if n < 1024 else '%.1f KiB' % (n / 1024)
assert m and int(m.group(1)) == rows[0]['uid'] and m.group(2).strip() == human and int(m.group(3)) == rows[0]['refused'], (m and m.groups(), rows)
assert h['audit_seq'] == int(re.search(r'^- Audit log read to record: (\d+)$', md, re.M).group(1))
assert re.search(r'^- MAC of that record: ' + h['audit_mac'] + '$', md, re.M)
" "$T/wr.json" "$T/wr.out" "$T/wr.csv"
pi report withdrawal "$ID" JGAS000101 >"$T/wr-ja.md" 2>&1
check "in Japanese by default (a JGA dataset)" bash -c "grep -q '^# 同意撤回の報告：$ID$' '$T/wr-ja.md' && grep -q '^- 試料ID：JGAS000101$' '$T/wr-ja.md'"
check "... saying the withdrawn file's key is gone" grep -q "^| S1/reads.bin | $fid | 293.0 KiB | - | 撤回済み：提供停止、鍵は消去済み |" "$T/wr-ja.md"
check "... with the labels of the other reports" bash -c "grep -q '^| 利用者 | UID | ファイル | アクセス回数 | 他のプロセスが開いたファイルの読み出し回数 | 初回アクセス | 最終アクセス | 読み出し量 | 拒否された試行 |$' '$T/wr-ja.md'"
check_output "... signed: report verify passes" "the signature verifies" pi report verify "$T/wr-ja.md"
pi report withdrawal "$ID" JGAS000101 --html --lang ja >"$T/wr.html" 2>&1
check "--html: an A4 page in Japanese" bash -c "grep -q '^<html lang=\"ja\">$' '$T/wr.html' && grep -q 'size: A4' '$T/wr.html' &&
  grep -q '^<h1>同意撤回の報告：$ID</h1>$' '$T/wr.html'"
check "... with bob's open of the file" grep -Eq "^<tr><td>kt_bob</td><td>[0-9]+</td><td>S1/reads.bin</td><td>1</td>" "$T/wr.html"
check_output "... signed as the Markdown: report verify passes" "the signature verifies" pi report verify "$T/wr.html"
sed 's|<td>S1/reads.bin</td><td>1</td>|<td>S1/reads.bin</td><td>2</td>|' "$T/wr.html" >"$T/wr-edited.html"
check "(the edit changed one byte)" test "$(cmp -l "$T/wr.html" "$T/wr-edited.html" | wc -l)" = 1
check_output_fails "... a copy with one byte changed does not verify" "does NOT verify" pi report verify "$T/wr-edited.html"
check_output_fails "--csv with --json is a usage error" "give one" pi report withdrawal "$ID" JGAS000101 --csv --json
check_output_fails "--lang fr is a usage error" "--lang fr: en or ja" pi report withdrawal "$ID" JGAS000101 --lang fr
# a withdrawn file whose key is still there (a crash between the record and the erasure)
touch "$KROOT/lib/keys/datasets/$ID/$fid.hdr"
check_output "the report warns when a withdrawn file's key is still there" \
  "^\| S1/reads.bin \| $fid \| 293.0 KiB \| - \| withdrawn: not served; its key is still there \(run kuractl withdraw again\) \|$" \
  pi report withdrawal "$ID" JGAS000101 --lang en
check_output "... in Japanese too" "^\| S1/reads.bin \| .* \| 撤回済み：提供停止。ただし鍵が残っている（kuractl withdraw を再度実行すること） \|$" \
  pi report withdrawal "$ID" JGAS000101
check_output "... and in JSON, as before" '"now":"withdrawn: not served; its key is still there \(run kuractl withdraw again\)"' \
  pi report withdrawal "$ID" JGAS000101 --json
rm -f "$KROOT/lib/keys/datasets/$ID/$fid.hdr"
check_fails "bob cannot read the withdrawal report" as kt_bob "$KURACTL" -c "$KCONF" report withdrawal "$ID" JGAS000101
check_output_fails "an unknown, never withdrawn sample is refused" "check the sample id" pi report withdrawal "$ID" JGAS999
pi report withdrawal "$ID" JGAS000102 --lang en >"$T/wr2.out" 2>&1
check "a sample whose consent stands: the report says so" grep -q "^- Consent: stands: not withdrawn$" "$T/wr2.out"
check "... its file is listed as such" grep -q "^| S2/reads.bin | .* | consent stands |" "$T/wr2.out"
check "... and bob's reads of it are there" grep -Eq "^\| kt_bob \| [0-9]+ \| S2/reads.bin \| [1-9]" "$T/wr2.out"

# ---- a withdrawal before the sample's files arrive: pending, never served ----
check_output "withdrawing a sample with no file yet is recorded as pending" "pending" \
  kuractl withdraw "$ID" JGAS000103 --ref "P-1" --yes
check "the pending withdrawal is in dataset.ini" grep -q "^\[withdrawn JGAS000103\]" "$KROOT/lib/datasets/$ID/dataset.ini"
check_output "... and in the ledger" "withdraw JGAS000103: consented -> withdrawn \(pending" kuractl ledger "$ID"
mkdir -p "$T/late/S3"
head -c 200000 /dev/urandom >"$T/late/S3/late.bin"
head -c 200000 /dev/urandom >"$T/late/S3/cohort.vcf"
head -c 200000 /dev/urandom >"$T/late/S3/ok.bin"
printf 'S3/late.bin\tJGAS000103\nS3/cohort.vcf\tJGAS000102\nS3/cohort.vcf\tJGAS000103\nS3/ok.bin\tJGAS000102\n' >"$T/late.tsv"
kuractl dataset import "$ID" --encrypt --samples "$T/late.tsv" "$T/late" >"$T/late.out" 2>"$T/late.err"
check "the later delivery imports" test $? = 0
check "the import says which files are of withdrawn samples and not served (stdout)" \
  grep -q "2 of them of withdrawn samples, kept unserved without a key: S3/cohort.vcf S3/late.bin" "$T/late.out"
check "... and warns (stderr)" grep -q "warning: files of withdrawn samples .* will not be served" "$T/late.err"
check_output "... and the ledger records it" "dataset-import .*2 of them of withdrawn samples" kuractl ledger "$ID"
for f in late.bin cohort.vcf; do
  lid=$(awk -F'\t' -v p="S3/$f" '$1 == p {print $2}' "$KROOT/lib/datasets/$ID/files.tsv")
  check "S3/$f is in files.tsv" test -n "$lid"
  check "... with no key in the keystore" test ! -e "$KROOT/lib/keys/datasets/$ID/$lid.hdr"
  check_output_fails "bob cannot open S3/$f through the mount" "No such file" as kt_bob cat "$M/S3/$f"
  check_fails "... nor stat it" as kt_bob stat "$M/S3/$f"
done
check "bob's listing of S3 shows only the file of a consenting sample" test "$(as kt_bob ls "$M/S3" 2>&1)" = "ok.bin"
check "... which reads" as kt_bob cmp -s "$M/S3/ok.bin" "$T/late/S3/ok.bin"
check_output "the audit log records bob's refused open" '"event":"open".*"decision":"deny".*S3/late.bin|S3/late.bin.*"decision":"deny"' \
  cat "$KROOT/log/audit.jsonl"
pi report withdrawal "$ID" JGAS000103 --lang en >"$T/wr3.out" 2>&1
check "the report of the pending sample lists its late files" test "$(grep -cE '^\| S3/(late\.bin|cohort\.vcf) \|[^|]*\|[^|]*\|[^|]*\| withdrawn: ' "$T/wr3.out")" = 2
check "... names the file that also holds another sample, for a re-delivery" \
  bash -c "grep -q '^| S3/cohort.vcf | JGAS000102 |$' '$T/wr3.out' && grep -q 'Ask the archive for a re-delivery of them without the withdrawn' '$T/wr3.out'"
check "... and bob's refused attempts at them" grep -Eq "^\| kt_bob \| [0-9]+ \| S3/late.bin \| 0 \| 0 \| - \| - \| 0 B \| [1-9]" "$T/wr3.out"

# ---- a withdrawal while the sample's delivery is being imported ----
mkdir -p "$T/race/S4" && truncate -s 600M "$T/race/S4/big.bin"
printf 'S4/big.bin\tJGAS000104\n' >"$T/race.tsv"
kuractl dataset import "$ID" --encrypt --samples "$T/race.tsv" "$T/race" >"$T/race.out" 2>&1 &
imp=$!
on_exit "kill $imp 2>/dev/null; wait $imp 2>/dev/null"
for i in $(seq 1 200); do ls "$KROOT/lib/store/$ID/" | grep -q '\.part$' && break; sleep 0.02; done
check "the import is under way (a .part in the store)" bash -c "ls '$KROOT/lib/store/$ID/' | grep -q '\.part\$'"
check_output "the sample is withdrawn meanwhile (pending: its file is not in files.tsv yet)" "pending" \
  kuractl withdraw "$ID" JGAS000104 --ref "P-2" --yes
wait "$imp"
check "the import still completes" test $? = 0
check "... and says the file is of a withdrawn sample, not served" grep -q "1 of them of withdrawn samples, kept unserved without a key: S4/big.bin" "$T/race.out"
bid=$(awk -F'\t' '$1 == "S4/big.bin" {print $2}' "$KROOT/lib/datasets/$ID/files.tsv")
check "... and the key it stored before the withdrawal is destroyed" \
  bash -c "[ -n '$bid' ] && [ ! -e '$KROOT/lib/keys/datasets/$ID/$bid.hdr' ] && [ ! -e '$KROOT/lib/keys/datasets/$ID/$bid.segmap' ]"
check_output_fails "bob cannot open it through the mount" "No such file" as kt_bob head -c 1 "$M/S4/big.bin"

# ---- an import without a samples map ----
require "second dataset" kuractl dataset add JGAD000031 --pi kt_alice --period "$(day -1)..$(day 30)"
kuractl dataset import JGAD000031 --encrypt "$T/late" >"$T/nomap.out" 2>"$T/nomap.err"
check "an import without --samples succeeds" test $? = 0
check "... warning that no withdrawal can find its files" grep -q "warning: no --samples map" "$T/nomap.err"
check_output "... recorded in the ledger" "dataset-import .*no samples map" kuractl ledger JGAD000031
check_output "user list shows it to the PI as \"no sample map\"" "^no sample map" pi user list JGAD000031
check_output "so does the PI's status" "^JGAD000031 +pi .*, no sample map$" pi status
check_output "... and the operator's" "^JGAD000031 .*, no sample map$" kuractl status
check_fails "the dataset with a map is not shown so" bash -c "'$KURACTL' -c '$KCONF' status | grep '^$ID ' | grep -q 'no sample map'"
check_fails "... nor in its user list" bash -c "'$KURACTL' -c '$KCONF' user list '$ID' | grep -q 'no sample map'"
kuractl withdraw JGAD000031 JGAS000102 --ref W-nomap --yes >"$T/nomap-w.out" 2>&1
check "a withdrawal there is recorded as pending" grep -q "the withdrawal is pending" "$T/nomap-w.out"
check "... and says the dataset has no sample map" grep -q "the dataset has no sample map" "$T/nomap-w.out"
stop_kura "$T/mnt"
done_testing
