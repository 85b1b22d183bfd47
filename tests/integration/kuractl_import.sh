#!/usr/bin/env bash
# kuractl dataset import (issue 3): archive deliveries encrypted to the server
# key and plaintext with --encrypt, read back from the store and the
# keystore with the kura_read_stored helper (no mount needed).
# R-ENC-1 tampering refused, never imported as data; R-ENC-2 Crypt4GH as the
# reference writes it (edit lists, several recipients); R-CPY-2 no plaintext
# on disk; R-REV-1 sample ids recorded; all or nothing under failure and
# kill -9; 10 000 small files; one 2 GiB file (the size issue 3 names;
# KURA_LARGE_MIB=N makes it N MiB for a quick local run).
. "$(dirname "$0")/lib.sh"

C4GH=$KURA_BUILD/tests/c4gh_tool
READ=$KURA_BUILD/tests/kura_read_stored
for u in kt_alice kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "c4gh_tool and kura_read_stored are built" test -x "$C4GH" -a -x "$READ"
require "kuractl init" kura_init
PUB=$T/server.pub
require "kuractl pubkey" bash -c "'$KURACTL' -c '$KCONF' pubkey >'$PUB'"

ID=JGAD300003
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
S=$KROOT/lib/store/$ID
KS=$KROOT/lib/keys/datasets/$ID
TSV=$KROOT/lib/datasets/$ID/files.tsv

# same ID PATH FILE: the imported PATH decrypts to FILE's bytes
same() { "$READ" "$KCONF" "$1" "$2" 2>"$T/read.err" | cmp -s - "$3"; }
nfiles() { echo $(($(wc -l <"$KROOT/lib/datasets/$1/files.tsv") - 1)); }
# no orphans: store and keystore hold exactly what files.tsv names
consistent() {
  local tsv=$KROOT/lib/datasets/$1/files.tsv
  local want; want=$(tail -n +2 "$tsv" | cut -f2 | sort)
  test "$(ls "$KROOT/lib/store/$1" | sort)" = "$want" &&
    test "$(ls "$KROOT/lib/keys/datasets/$1" | grep -v '^dataset\.\(key\.c4gh\|pub\)$' | sed 's/\..*//' | sort -u)" = "$want" &&
    test "$(ls "$KROOT/lib/keys/datasets/$1" | grep -c '\.hdr$')" = "$(echo -n "$want" | grep -c .)"
}
enc() { "$C4GH" encrypt --recipient "$PUB" "$@"; }

# ---- archive deliveries (.c4gh to the server key) ----
P=$T/plain
mkdir -p "$P/a" "$T/in/a"
head -c 200001 /dev/urandom >"$P/a/x.bam"
head -c 65536 /dev/urandom >"$P/a/seg.bin"
printf 'hello\n' >"$P/top.vcf"
: >"$P/empty.txt"
for f in a/x.bam a/seg.bin top.vcf empty.txt; do enc <"$P/$f" >"$T/in/$f.c4gh"; done
check "import a directory of .c4gh files" kuractl dataset import "$ID" "$T/in"
check "paths kept, .c4gh dropped" test "$(tail -n +2 "$TSV" | cut -f1 | sort | tr '\n' ' ')" = "a/seg.bin a/x.bam empty.txt top.vcf "
for f in a/x.bam a/seg.bin top.vcf empty.txt; do
  check "$f decrypts to the original" same "$ID" "$f" "$P/$f"
done
check "files.tsv records plaintext sizes" test "$(grep -P '^a/x.bam\t' "$TSV" | cut -f3)" = 200001
check "payloads are stored under opaque ids, 0600" test "$(stat -c %a "$S"/* | sort -u)" = 600
check "store and keystore hold exactly the imported files" consistent "$ID"

# edit lists and several recipients, as the reference tool writes them
head -c 5000 /dev/urandom >"$P/edit.bin"
enc --edits 10,100 <"$P/edit.bin" >"$T/edit.bin.c4gh"
tail -c +11 "$P/edit.bin" | head -c 100 >"$T/edit.expected"
"$C4GH" keygen "$T/other.sec" "$T/other.pub" >/dev/null 2>&1
"$C4GH" encrypt --recipient "$T/other.pub" --recipient "$PUB" <"$P/top.vcf" >"$T/multi.vcf.c4gh"
check "import a file with an edit list and one with two recipients" kuractl dataset import "$ID" "$T/edit.bin.c4gh" "$T/multi.vcf.c4gh"
check "edit list applied: size 100" test "$(grep -P '^edit.bin\t' "$TSV" | cut -f3)" = 100
check "edit list applied: content" same "$ID" edit.bin "$T/edit.expected"
check "two-recipient file reads" same "$ID" multi.vcf "$P/top.vcf"

# ---- refusals leave nothing behind ----
before=$(cat "$TSV")
"$C4GH" encrypt --recipient "$T/other.pub" <"$P/top.vcf" >"$T/foreign.vcf.c4gh"
check_output_fails "a file encrypted to another key is refused" "does not open with this server's key" \
  kuractl dataset import "$ID" "$T/foreign.vcf.c4gh"
cp "$T/in/a/x.bam.c4gh" "$T/tampered.bam.c4gh"
size=$(stat -c %s "$T/tampered.bam.c4gh")
require "one byte of a segment flipped" flip_byte "$T/tampered.bam.c4gh" $((size - 70000))
check_output_fails "a tampered segment is refused (R-ENC-1)" "fails authentication" kuractl dataset import "$ID" "$T/tampered.bam.c4gh"
head -c $((size - 10)) "$T/in/a/x.bam.c4gh" >"$T/cut.bam.c4gh"
check_fails "a payload cut inside a segment is refused" kuractl dataset import "$ID" "$T/cut.bam.c4gh"
check_output_fails "plaintext without --encrypt is refused" "not a Crypt4GH file" kuractl dataset import "$ID" "$P/a/x.bam"
check_output_fails "a path already in the dataset is refused" "is already in dataset $ID" kuractl dataset import "$ID" "$T/in"
mkdir -p "$T/mixed" && cp "$T/in/top.vcf.c4gh" "$T/mixed/ok1.vcf.c4gh" && cp "$T/in/a/x.bam.c4gh" "$T/mixed/ok2.bam.c4gh"
cp "$T/tampered.bam.c4gh" "$T/mixed/zz-bad.bam.c4gh"
check_fails "one bad file fails the whole import" kuractl dataset import "$ID" --remove-source "$T/mixed"
check "files.tsv is unchanged after every refusal" test "$(cat "$TSV")" = "$before"
check "no orphans in the store or the keystore" consistent "$ID"
check "sources stay when the import fails, even with --remove-source" test "$(ls "$T/mixed" | wc -l)" = 3
check "--no-verify imports the tampered file" kuractl dataset import "$ID" --no-verify "$T/tampered.bam.c4gh"
check_fails "... which then refuses to decrypt (EIO, never data)" same "$ID" tampered.bam "$P/a/x.bam"
check "... naming the failed segment" grep -q "fails authentication" "$T/read.err"

# ---- --encrypt: plaintext in, no plaintext copy anywhere (R-CPY-2) ----
MARK=KURA_IMPORT_PLAINTEXT_MARKER_5c2e91
mkdir -p "$T/pt/sub"
for i in $(seq 1 3000); do echo "$MARK line $i"; done >"$T/pt/sub/marked.txt"
head -c 300000 /dev/urandom >"$T/pt/random.bin"
printf 'sub/marked.txt\tJGAS000001\nsub/marked.txt\tJGAS000002\nrandom.bin\tJGAS000003\n' >"$T/samples.tsv"
check "import --encrypt with --samples" kuractl dataset import "$ID" --encrypt --samples "$T/samples.tsv" "$T/pt"
check "encrypted file reads back" same "$ID" sub/marked.txt "$T/pt/sub/marked.txt"
check "no plaintext anywhere under the server root" test -z "$(grep -rl "$MARK" "$KROOT" 2>/dev/null)"
check "sample ids recorded per file" test "$(grep -P '^sub/marked.txt\t' "$TSV" | cut -f4)" = "JGAS000001,JGAS000002"
printf 'nothere.txt\tJGAS000009\n' >"$T/bad-samples.tsv"
head -c 100 /dev/urandom >"$T/lonely.bin"
check_output_fails "a samples file naming a path outside the import is refused" "does not include" \
  kuractl dataset import "$ID" --encrypt --samples "$T/bad-samples.tsv" "$T/lonely.bin"

# ---- --remove-source, only after success ----
mkdir -p "$T/rm/d" && head -c 1000 /dev/urandom >"$T/rm/d/one.bin" && cp "$T/rm/d/one.bin" "$T/one.copy"
check "import --remove-source" kuractl dataset import "$ID" --encrypt --remove-source "$T/rm"
check "sources and emptied directories are gone" test ! -e "$T/rm"
check "the import is complete" same "$ID" d/one.bin "$T/one.copy"

# ---- through the daemon: the caller's rights, not root's ----
"$KURACTL" -c "$KCONF" serve >"$T/serve.log" 2>&1 &
SERVE=$!
on_exit "kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null"
for i in $(seq 1 100); do [ -S "$KROOT/run/ctl.sock" ] && break; sleep 0.1; done
mkdir -p "$T/opdata" && head -c 2000 /dev/urandom >"$T/opdata/op.bin" && chown -R kt_op "$T/opdata"
head -c 2000 /dev/urandom >"$T/root-only.bin" && chmod 0600 "$T/root-only.bin"
check_output_fails "operator op cannot import a file only root may read" "Permission denied" \
  as kt_op "$KURACTL" -c "$KCONF" dataset import "$ID" --encrypt "$T/root-only.bin"
check "operator op imports their own file (relative path) and removes it" \
  bash -c "cd '$T/opdata' && setpriv --reuid=kt_op --regid=$(id -g kt_op) --init-groups '$KURACTL' -c '$KCONF' dataset import $ID --encrypt --remove-source op.bin"
check "op's file is gone and imported" test ! -e "$T/opdata/op.bin" -a "$(grep -cP '^op.bin\t' "$TSV")" = 1
check_output "the ledger names op" "kt_op \(uid [0-9]+\) +dataset-import" kuractl ledger "$ID"
kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null

# ---- a passphrase-protected server key (init --passphrase-file) ----
P2=$T/srv2
mkdir -p "$P2" && chmod 0755 "$P2"
printf 'correct horse battery staple\n' >"$T/pass" && chmod 0600 "$T/pass"
check "init --passphrase-file" "$KURACTL" -c "$P2/kura.conf" init --root "$P2" --passphrase-file "$T/pass"
check "the secret key file is scrypt-protected" bash -c "grep -v -- ----- '$P2/lib/keys/server.sec' | base64 -d | grep -aq scrypt"
check "dataset add needs no passphrase" "$KURACTL" -c "$P2/kura.conf" dataset add PASS1 --pi kt_alice --period "$(day 0)..$(day 9)"
check_output_fails "import without the passphrase is refused, saying how" "passphrase-protected: give kuractl --passphrase-file" \
  "$KURACTL" -c "$P2/kura.conf" dataset import PASS1 --encrypt "$P/top.vcf"
printf 'wrong\n' >"$T/wrong"
check_fails "a wrong passphrase is refused" "$KURACTL" -c "$P2/kura.conf" --passphrase-file "$T/wrong" dataset import PASS1 --encrypt "$P/top.vcf"
check "with --passphrase-file the import works" "$KURACTL" -c "$P2/kura.conf" --passphrase-file "$T/pass" dataset import PASS1 --encrypt "$P/top.vcf"
keys_before=$(cat "$P2/lib/keys/"* | sha256sum)
check_output "init again succeeds and says nothing changed" "already initialised; nothing changed" "$KURACTL" -c "$P2/kura.conf" init --root "$P2"
check "... and the keys are unchanged (never overwritten)" test "$(cat "$P2/lib/keys/"* | sha256sum)" = "$keys_before"
check_output_fails "init again with --passphrase-file is refused (it applies to a new key only)" "applies only to a new key" \
  "$KURACTL" -c "$P2/kura.conf" init --root "$P2" --passphrase-file "$T/pass"
check "kuractl pubkey prints server.pub" test "$(kuractl pubkey)" = "$(cat "$KROOT/lib/keys/server.pub")"

# ---- the progress bar: on a terminal only ----
mkdir -p "$T/pb" && for i in 1 2 3; do head -c 100000 /dev/urandom >"$T/pb/p$i"; done
kuractl dataset add PB1 --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
kuractl dataset add PB2 --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
script -qec "'$KURACTL' -c '$KCONF' dataset import PB1 --encrypt '$T/pb'" /dev/null >"$T/pty.out" 2>&1
check "on a terminal: a progress bar" grep -q 'import \[#*-*\] *100%' "$T/pty.out"
printf 'p1\tPBS1\n' >"$T/pb.tsv"   # with a samples map: no warning either, stderr must stay empty
kuractl dataset import PB2 --encrypt --samples "$T/pb.tsv" "$T/pb" >/dev/null 2>"$T/nopty.err"
# (but for the note that kurafs is not running here)
check "not on a terminal: no progress bar" test -z "$(grep -v '^kuractl: note: kurafs is not running;' "$T/nopty.err")"

# ---- kill -9 at random points: all or nothing, and a re-run completes ----
mkdir -p "$T/k" && for i in $(seq 1 40); do head -c 100000 /dev/urandom >"$T/k/f$i"; done
mkdir -p "$T/k3" && cp "$T/k/f1" "$T/k/f2" "$T/k/f7" "$T/k3/"
N=${KILL_ITERATIONS:-30}
bad=0 partial=0 done_before=0
# after_kill K SRC WHAT: the ledger verifies, the state loads, the dataset
# holds all of SRC's files or none (then a re-run imports them all), and
# store and keystore hold exactly what files.tsv names
after_kill() {
  local K=$1 src=$2 what=$3 n all
  all=$(ls "$src" | wc -l)
  kuractl ledger "$K" >/dev/null 2>&1 || { bad=$((bad + 1)); diag "$what: ledger does not verify"; return; }
  kuractl user list "$K" >/dev/null 2>&1 || { bad=$((bad + 1)); diag "$what: state does not load"; return; }
  n=$(nfiles "$K")
  case $n in
    "$all") done_before=$((done_before + 1)) ;;
    0) partial=$((partial + 1))
       kuractl dataset import "$K" --encrypt "$src" >/dev/null 2>&1 || { bad=$((bad + 1)); diag "$what: re-run failed"; }
       n=$(nfiles "$K") ;;
    *) bad=$((bad + 1)); diag "$what: $n of $all files visible" ;;
  esac
  [ "$n" = "$all" ] || { bad=$((bad + 1)); diag "$what: $n files after the re-run"; }
  consistent "$K" || { bad=$((bad + 1)); diag "$what: orphans or missing entries"; }
  same "$K" f7 "$T/k/f7" || { bad=$((bad + 1)); diag "$what: f7 does not read back"; }
}
for i in $(seq 1 "$N"); do
  K=KILL$i
  kuractl dataset add "$K" --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
  "$KURACTL" -c "$KCONF" dataset import "$K" --encrypt "$T/k" >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 2))$((RANDOM % 10))$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  after_kill "$K" "$T/k" "iteration $i"
done
diag "killed before the commit in $partial, after it in $done_before of $N iterations"
check "kill -9 during import, $N times: nothing half visible, re-run completes, no orphans" test "$bad" = 0

# The same before each system call of a 3-file import that changes a name
kuractl dataset add KSTEP0 --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
steps=$(name_steps "$KURACTL" -c "$KCONF" dataset import KSTEP0 --encrypt "$T/k3")
nsteps=$(grep -c . <<<"$steps")
check "a 3-file import's steps are seen (control)" test "$nsteps" -ge 3
bad=0 partial=0 done_before=0 i=0
while read -r -u 3 point; do
  i=$((i + 1))
  kuractl dataset add "KSTEP$i" --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
  kill_at "$point" "$KURACTL" -c "$KCONF" dataset import "KSTEP$i" --encrypt "$T/k3"
  after_kill "KSTEP$i" "$T/k3" "killed $point"
done 3< <(kill_points 0 0 "$steps")
diag "killed before the commit in $partial, after it in $done_before of $nsteps steps"
check "kill -9 before each of a 3-file import's $nsteps steps: nothing half visible, re-run completes, no orphans" test "$bad" = 0

# ---- 10 000 small files ----
python3 - "$T/many" <<'EOF'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d:02d}")
    for f in range(100):
        with open(f"{root}/d{d:02d}/f{f:02d}.txt", "w") as fh:
            fh.write(f"small file {d} {f}\n")
EOF
kuractl dataset add MANY --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
start=$(date +%s)
check "import 10 000 small files" kuractl dataset import MANY --encrypt "$T/many"
diag "10 000 files in $(( $(date +%s) - start )) s"
check "files.tsv lists 10 000 files" test "$(nfiles MANY)" = 10000
check "the first, a middle and the last read back" bash -c "
  '$READ' '$KCONF' MANY d00/f00.txt | cmp -s - '$T/many/d00/f00.txt' &&
  '$READ' '$KCONF' MANY d57/f31.txt | cmp -s - '$T/many/d57/f31.txt' &&
  '$READ' '$KCONF' MANY d99/f99.txt | cmp -s - '$T/many/d99/f99.txt'"
check "no orphans" consistent MANY
rm -rf "$T/many"

# ---- one large file ----
MIB=${KURA_LARGE_MIB:-2048}
diag "large file: $MIB MiB"
head -c $((MIB * 1048576)) /dev/urandom >"$T/large.bin"
want=$(sha256sum <"$T/large.bin")
enc <"$T/large.bin" >"$T/large.bin.c4gh"
rm -f "$T/large.bin"
kuractl dataset add LARGE --pi kt_alice --period "$(day 0)..$(day 9)" >/dev/null
start=$(date +%s)
check "import one $MIB MiB archive delivery" kuractl dataset import LARGE --remove-source "$T/large.bin.c4gh"
diag "$MIB MiB in $(( $(date +%s) - start )) s"
check "its size is recorded" test "$(grep -P '^large.bin\t' "$KROOT/lib/datasets/LARGE/files.tsv" | cut -f3)" = $((MIB * 1048576))
check "it reads back identical (sha256)" test "$("$READ" "$KCONF" LARGE large.bin | sha256sum)" = "$want"
check "the source was removed" test ! -e "$T/large.bin.c4gh"
done_testing
