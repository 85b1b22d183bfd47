#!/usr/bin/env bash
# Type II datasets end to end (R-LVL-1, R-CPY-4), through a real mount as
# real Unix users. A type2 dataset is refused by `dataset add` on a type1
# server, and by the mount when its server is declared type1 again. On a
# type2 server it gets the allow-list guard by default: a listed user reads
# with an allowed program (cat, samtools), while any other program, and a
# user's own copy of an allowed one, is refused and logged with reason
# guard. `--guard` overrides the level's default either way.
. "$(dirname "$0")/lib.sh"

T2=JGAD000201  # type2, allow-list by default
T1=JGAD000202  # type1, deny-list by default
T1A=JGAD000203 # type1 --guard allowlist
T2D=JGAD000204 # type2 --guard denylist
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
DS=$KROOT/lib/datasets
PERIOD="$(day -1)..$(day 30)"
status_of() { "$@" >/dev/null 2>&1; echo $?; }

# ---- a type1 server refuses a type2 dataset ----
check "kura.conf declares the server type1 by default" grep -qx 'level = type1' "$KCONF"
check_output_fails "type1 server: dataset add --level type2 is refused, naming both levels" \
  "dataset $T2 is type2 but this server is declared type1" \
  kuractl dataset add "$T2" --pi kt_alice --period "$PERIOD" --level type2
check "... exit 1, and nothing of the dataset is created" \
  test "$(status_of kuractl dataset add "$T2" --pi kt_alice --period "$PERIOD" --level type2)/$(ls -A "$DS")" = "1/"
check_output_fails "--level type3 is a usage error" "--level must be type1 or type2" \
  kuractl dataset add "$T2" --pi kt_alice --period "$PERIOD" --level type3
check_output_fails "--guard none is a usage error" "--guard must be denylist or allowlist" \
  kuractl dataset add "$T1" --pi kt_alice --period "$PERIOD" --guard none
check "... exit 2, nothing created" \
  test "$(status_of kuractl dataset add "$T1" --pi kt_alice --period "$PERIOD" --guard none)/$(ls -A "$DS")" = "2/"

# ---- a type2 server: each level's default guard, and --guard ----
sed -i 's/^level = type1$/level = type2/' "$KCONF"
# guard_of ID: the guard recorded in the dataset's state and in its ledger
guard_of() {
  echo "$(sed -n 's/^guard = //p' "$DS/$1/dataset.ini") $(kuractl ledger "$1" | grep -o "dataset-add $1: .*" | grep -Eo 'level=type[12] guard=[a-z]+')"
}
require "type2 server: dataset add --level type2" kuractl dataset add "$T2" --pi kt_alice --period "$PERIOD" --level type2
check "type2 defaults to the allow-list guard (dataset.ini and ledger)" test "$(guard_of "$T2")" = "allowlist level=type2 guard=allowlist"
require "dataset add, no --level" kuractl dataset add "$T1" --pi kt_alice --period "$PERIOD"
check "type1 defaults to the deny-list guard" test "$(guard_of "$T1")" = "denylist level=type1 guard=denylist"
require "dataset add --guard allowlist (type1)" kuractl dataset add "$T1A" --pi kt_alice --period "$PERIOD" --guard allowlist
check "--guard allowlist is recorded on a type1 dataset" test "$(guard_of "$T1A")" = "allowlist level=type1 guard=allowlist"
require "dataset add --level type2 --guard denylist" kuractl dataset add "$T2D" --pi kt_alice --period "$PERIOD" --level type2 --guard denylist
check "--guard denylist is recorded on a type2 dataset" test "$(guard_of "$T2D")" = "denylist level=type2 guard=denylist"

DATA=$T/data
mkdir -p "$DATA"
python3 "$KURA_TOP/scripts/make-synthetic-data.py" "$DATA" --reads 1000 >/dev/null
rm -f "$DATA/samples.tsv" "$DATA/README.txt"
head -c $((2 * 65536 + 77)) /dev/urandom >"$DATA/random.bin"
chmod -R a+rX "$DATA"
for d in "$T2" "$T1" "$T1A" "$T2D"; do
  require "import into $d" kuractl dataset import "$d" --encrypt "$DATA"
  require "user add bob to $d" kuractl user add "$d" kt_bob
done

# A user's own copies of programs, outside the trusted directories: cp
# named "cat" (a renamed copy tool) and cat itself.
mkdir -p "$T/bob/cp-named" && cp /usr/bin/cp "$T/bob/cp-named/cat" && cp /usr/bin/cat "$T/bob/cat"
chown -R kt_bob "$T/bob" && chmod -R 0755 "$T/bob"
OUT=$T/out
mkdir -p "$OUT" && chmod 0777 "$OUT"

require "mount" mount_kura "$T/mnt"
AUDIT=$KROOT/log/audit.jsonl
# guard_refusal ID PROGRAM: an open of random.bin by PROGRAM in ID was refused with reason guard
guard_refusal() {
  grep '"event":"open"' "$AUDIT" | grep '"decision":"deny"' | grep '"reason":"guard"' |
    grep '"dataset":"'"$1"'"' | grep '"path":"random.bin"' | grep -q "\"detail\":\"$2 (pid [0-9]*)"
}

# ---- allow-list datasets: listed programs read, nothing else does ----
for d in "$T2" "$T1A"; do
  M=$T/mnt/$d
  check "$d (allowlist): bob reads with cat, byte-identical" \
    bash -c "setpriv --reuid=kt_bob --regid=$(id -g kt_bob) --init-groups cat '$M/random.bin' | cmp -s - '$DATA/random.bin'"
  check_output_fails "$d (allowlist): od (not on the allow list) is refused" "Permission denied" \
    as kt_bob od -An -tx1 -N16 "$M/random.bin"
  check "$d (allowlist): ... and the refusal is logged with reason guard, naming od" guard_refusal "$d" od
  check_fails "$d (allowlist): access() agrees with open(): test -r (not on the allow list) says no" \
    as kt_bob /usr/bin/test -r "$M/random.bin"
  check_output_fails "$d (allowlist): bob's own copy of cat is refused" "Permission denied" \
    as kt_bob "$T/bob/cat" "$M/random.bin"
  check_output_fails "$d (allowlist): cp renamed cat is refused" "Permission denied" \
    as kt_bob "$T/bob/cp-named/cat" "$M/random.bin" "$OUT/$d.copy"
  check "$d (allowlist): ... nothing copied" test ! -s "$OUT/$d.copy"
  check "$d (allowlist): the renamed copy's refusal names its path outside the trusted directories" \
    grep -q "\"dataset\":\"$d\".*\"detail\":\"cat (pid [0-9]*): $T/bob/cp-named/cat lies outside the trusted directories" "$AUDIT"
done
want=$(samtools view "$DATA/JGAS000001.bam" chr1:1000-20000 | md5sum)
check "$T2 (allowlist): samtools region query equals plaintext" \
  test "$(as kt_bob samtools view "$T/mnt/$T2/JGAS000001.bam" chr1:1000-20000 | md5sum)" = "$want"
check_output_fails "$T2 (allowlist): root, not listed, reads nothing with cat" "No such file" cat "$T/mnt/$T2/random.bin"

# ---- deny-list datasets: od reads, copy tools are refused ----
want=$(od -An -tx1 -N16 "$DATA/random.bin")
for d in "$T1" "$T2D"; do
  M=$T/mnt/$d
  check "$d (denylist): od reads the plaintext" test "$(as kt_bob od -An -tx1 -N16 "$M/random.bin")" = "$want"
  check "$d (denylist): access(): test -r says yes" as kt_bob /usr/bin/test -r "$M/random.bin"
  check_output_fails "$d (denylist): cp is refused" "Permission denied" as kt_bob cp "$M/random.bin" "$OUT/$d.cp"
  check "$d (denylist): ... and logged with reason guard" guard_refusal "$d" cp
done
stop_kura "$T/mnt"

# ---- the same state on a server declared type1 again: the mount refuses type2 ----
sed -i 's/^level = type2$/level = type1/' "$KCONF"
require "mount with the server declared type1" mount_kura "$T/mnt"
check "type1 server: the type2 datasets are not listed" \
  test "$(as kt_bob ls "$T/mnt" | tr '\n' ' ')" = "$T1 $T1A "
check_output_fails "type1 server: the PI cannot read the type2 dataset" "No such file|Permission denied" \
  as kt_alice cat "$T/mnt/$T2/random.bin"
check_output_fails "type1 server: nor the type2 dataset with --guard denylist" "No such file|Permission denied" \
  as kt_bob od -An -tx1 -N16 "$T/mnt/$T2D/random.bin"
check "type1 server: the refusals are logged with reason level" \
  test "$(grep '"reason":"level"' "$AUDIT" | grep -Ec "\"dataset\":\"($T2|$T2D)\"")" -ge 2
check "type1 server: the type1 datasets still read" as kt_bob cmp -s "$T/mnt/$T1/random.bin" "$DATA/random.bin"
stop_kura "$T/mnt"
done_testing
