#!/usr/bin/env bash
# Crypto-erasure that holds even if a delivery copy survives (issue 13 §1):
# per-dataset delivery keys (kuractl pubkey ID), server key rotation and
# retirement (kuractl key rotate/retire), the key of every import in the
# ledger, and a destruction report that names the erased keys and lists the
# deliveries encrypted to keys that still exist. Deliveries are read back
# through a real mount as a listed user; after destroy every surviving copy
# of a delivery to an erased key is tried with every key left in the
# keystore (R-REV-3).
. "$(dirname "$0")/lib.sh"

C4GH=$KURA_BUILD/tests/c4gh_tool
DEC=$KURA_TOP/tests/interop/c4gh_decrypt.py
PY=/usr/bin/python3   # Debian's, where python3-nacl is installed
for u in kt_alice kt_bob kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "c4gh_tool is built" test -x "$C4GH"
require "python3-nacl is installed (scripts/install-deps.sh)" "$PY" -c 'import nacl.bindings'
require "kuractl init" kura_init
KEYS=$KROOT/lib/keys
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
# fp PUBFILE: the key's fingerprint, hex BLAKE2b-256 of the 32-byte public key
fp() { python3 -c "import base64,hashlib,sys; t=open(sys.argv[1]).read().split('\n'); print(hashlib.blake2b(base64.b64decode(t[1]), digest_size=32).hexdigest())" "$1"; }
# decrypts FILE KEYFILE: the key file opens the Crypt4GH file (both decoders agree)
decrypts() {
  "$C4GH" decrypt --sk "$2" <"$1" >/dev/null 2>&1 && "$PY" "$DEC" --sk "$2" <"$1" >/dev/null 2>&1
}
# rawkey SK32 OUT: an unencrypted Crypt4GH secret key file holding the raw key
rawkey() {
  python3 -c "
import base64, struct, sys
sk = open(sys.argv[1], 'rb').read()
assert len(sk) == 32
s = lambda b: struct.pack('>H', len(b)) + b
blob = b'c4gh-v1' + s(b'none') + s(b'none') + s(sk)
open(sys.argv[2], 'w').write('-----BEGIN CRYPT4GH PRIVATE KEY-----\n' + base64.b64encode(blob).decode() + '\n-----END CRYPT4GH PRIVATE KEY-----\n')
" "$1" "$2"
}

ID=JGAD500005
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "user add bob" kuractl user add "$ID" kt_bob

# ---- the dataset's delivery key ----
require "kuractl pubkey prints the server key" bash -c "'$KURACTL' -c '$KCONF' pubkey >'$T/server1.pub'"
require "kuractl pubkey ID prints the dataset's delivery key" bash -c "'$KURACTL' -c '$KCONF' pubkey $ID >'$T/dataset.pub'"
check "the delivery key is a Crypt4GH public key" grep -q "BEGIN CRYPT4GH PUBLIC KEY" "$T/dataset.pub"
check "the delivery key is not the server key" test "$(fp "$T/dataset.pub")" != "$(fp "$T/server1.pub")"
check "the keystore keeps its public half root-only" test "$(stat -c %a "$KEYS/datasets/$ID/dataset.pub")" = 600
check_output_fails "pubkey of an unknown dataset is refused" "has no key" kuractl pubkey JGAD599999
DFP=$(fp "$T/dataset.pub")
S1FP=$(fp "$T/server1.pub")

mkdir -p "$T/plain" "$T/in-ds" "$T/in-srv" "$T/copies"
for f in a b c d e; do head -c $((65536 * 2 + 77)) /dev/urandom >"$T/plain/$f.bin"; done
chmod -R a+rX "$T/plain"
"$C4GH" encrypt --recipient "$T/dataset.pub" <"$T/plain/a.bin" >"$T/in-ds/a.bin.c4gh"
"$C4GH" encrypt --recipient "$T/server1.pub" <"$T/plain/b.bin" >"$T/in-srv/b.bin.c4gh"
"$C4GH" encrypt --recipient "$T/server1.pub" <"$T/plain/c.bin" >"$T/c.bin.c4gh"
"$C4GH" encrypt --recipient "$T/server1.pub" <"$T/plain/d.bin" >"$T/d.bin.c4gh"
# The copies that survive an import: a download cache, a backup.
cp "$T/in-ds/a.bin.c4gh" "$T/in-srv/b.bin.c4gh" "$T/c.bin.c4gh" "$T/copies/"

check "a delivery to the dataset key imports (--remove-source)" kuractl dataset import "$ID" --remove-source "$T/in-ds"
check "its source is removed" test ! -e "$T/in-ds/a.bin.c4gh"
check "a delivery to the server key imports (sources kept)" kuractl dataset import "$ID" "$T/in-srv"
kuractl ledger "$ID" >"$T/ledger1.txt"
check "the ledger records the dataset key of the first import" grep -q "archive delivery to dataset key $DFP (1 file(s)); source removal follows" "$T/ledger1.txt"
check "... and how many sources were removed" grep -Eq "dataset-import-source.*removed 1 of 1" "$T/ledger1.txt"
check "the ledger records the server key of the second, source kept" grep -q "archive delivery to server key $S1FP (1 file(s)); source kept" "$T/ledger1.txt"

MNT=$T/mnt
require "mount" mount_kura "$MNT"
M=$MNT/$ID
check "bob reads the delivery to the dataset key through the mount" as kt_bob cmp -s "$M/a.bin" "$T/plain/a.bin"
check "bob reads the delivery to the server key through the mount" as kt_bob cmp -s "$M/b.bin" "$T/plain/b.bin"

# ---- who may rotate and retire ----
check_output_fails "a user may not rotate" "only an operator" kc kt_bob key rotate
check_output_fails "an operator through the daemon may not rotate (root on the server only)" "as root on the server" kc kt_op key rotate
check_output_fails "a user may not retire" "only an operator" kc kt_bob key retire "$S1FP" --yes
check_output_fails "the PI may not rotate" "only an operator" kc kt_alice key rotate
check_output_fails "an operator through the daemon may not retire (root on the server only)" "as root on the server" kc kt_op key retire "$S1FP" --yes
check_output_fails "a user may not list the keys" "only an operator" kc kt_bob key list
check_output "an operator lists them through the daemon" "^current +$S1FP" kc kt_op key list
check_output_fails "a user may not print the delivery key" "only an operator" kc kt_bob pubkey "$ID"
check_output_fails "the current key cannot be retired" "current server key" kuractl key retire "$S1FP" --yes
check_output_fails "retire needs confirmation" "confirm" kuractl key retire "$S1FP"

# ---- rotation ----
require "key rotate" bash -c "'$KURACTL' -c '$KCONF' key rotate >'$T/rotate.txt'"
kuractl pubkey >"$T/server2.pub"
S2FP=$(fp "$T/server2.pub")
check "after rotate, pubkey prints a new key" test "$S2FP" != "$S1FP"
check "rotate names both keys and the rewrapped dataset key" grep -Eq "new server key $S2FP \(was $S1FP.*1 dataset key\(s\) rewrapped" "$T/rotate.txt"
check_output "key list: the new key is current, the old one earlier" "current +$S2FP.*earlier +$S1FP" bash -c "'$KURACTL' -c '$KCONF' key list | tr '\n' ' '"
check "the old key is kept root-only in server-keys/" test "$(stat -c %a "$KEYS/server-keys/$S1FP.sec")" = 600
check "the dataset key is wrapped to the new server key" decrypts "$KEYS/datasets/$ID/dataset.key.c4gh" "$KEYS/server.sec"
check_fails "... and no longer to the old one" "$C4GH" decrypt --sk "$KEYS/server-keys/$S1FP.sec" <"$KEYS/datasets/$ID/dataset.key.c4gh" >/dev/null 2>&1
check "the daemon reopened its keys: bob still reads" as kt_bob cmp -s "$M/a.bin" "$T/plain/a.bin"
check "a delivery to the old server key still imports until retire" kuractl dataset import "$ID" "$T/c.bin.c4gh"
"$C4GH" encrypt --recipient "$T/server2.pub" <"$T/plain/e.bin" >"$T/e.bin.c4gh"
cp "$T/e.bin.c4gh" "$T/copies/"
check "a delivery to the new server key imports" kuractl dataset import "$ID" "$T/e.bin.c4gh"
check "bob reads the delivery imported with the old key" as kt_bob cmp -s "$M/c.bin" "$T/plain/c.bin"

# ---- retirement ----
check_output_fails "retire refuses while an import is in flight (it holds the key)" "import into dataset $ID is running" \
  flock "$KROOT/lib/datasets/$ID/.import-lock" "$KURACTL" -c "$KCONF" key retire "$S1FP" --yes
check "... and the key is still there" test -e "$KEYS/server-keys/$S1FP.sec"
require "key retire" bash -c "'$KURACTL' -c '$KCONF' key retire '$S1FP' --yes >'$T/retire.txt' 2>&1"
check "retire says the key is erased" grep -q "server key $S1FP is erased (retired .* by root" "$T/retire.txt"
check "retire lists the delivery imported with the old key (b.bin)" grep -Eq "dataset $ID, ledger record [0-9]+ .*1 file\(s\), sources kept: 1 file\(s\).* b\.bin" "$T/retire.txt"
check "... and c.bin" grep -Eq "dataset $ID, ledger record [0-9]+ .*c\.bin" "$T/retire.txt"
check_fails "... but not the delivery to the dataset key" grep -q "a\.bin" "$T/retire.txt"
check "the old secret key is gone" test ! -e "$KEYS/server-keys/$S1FP.sec"
check "the retirement is recorded in the keystore" grep -q "^retired .* by root" "$KEYS/server-keys/$S1FP.retired"
check_output "key list shows it retired" "retired +$S1FP +retired" kuractl key list
check_output "the audit log records the retirement" "key-retire" kuractl audit
check_output_fails "retiring it again is refused" "retired already" kuractl key retire "$S1FP" --yes
check_output_fails "a delivery to the retired key no longer imports" "does not open with this server's key" kuractl dataset import "$ID" "$T/d.bin.c4gh"
check "the copy of a delivery to the retired key opens with no key file left" bash -c "
  for k in \$(find '$KEYS' -name '*.sec'); do '$C4GH' decrypt --sk \"\$k\" <'$T/copies/b.bin.c4gh' >/dev/null 2>&1 && exit 1; done; exit 0"
check "bob still reads every file after the retirement" bash -c "for f in a b c e; do setpriv --reuid=kt_bob --regid=$(id -g kt_bob) --init-groups cmp -s '$M/'\$f.bin '$T/plain/'\$f.bin || exit 1; done"

# ---- destruction ----
require "dataset destroy" bash -c "'$KURACTL' -c '$KCONF' dataset destroy $ID --yes >'$T/report.txt' 2>&1"
check "the report names the erased delivery key" grep -q "dataset key (the dataset's delivery key) $DFP" "$T/report.txt"
check "the report names the retired server key as erased" grep -q "$S1FP retired: erased" "$T/report.txt"
check "the report names the current server key as still existing" grep -q "$S2FP current: still exists" "$T/report.txt"
sed -n '/^## Deliveries encrypted to keys that still exist/,/^## /p' "$T/report.txt" >"$T/surviving.txt"
check "it lists the delivery to the surviving server key (e.bin)" grep -Eq "server key $S2FP \| 1 \| kept \| 1 file\(s\).*e\.bin" "$T/surviving.txt"
check_fails "it does not list deliveries to erased keys (a, b, c)" grep -Eq "(a|b|c)\.bin" "$T/surviving.txt"
check "it counts them" grep -q "1 of the dataset's 4 recorded deliveries" "$T/surviving.txt"
check_fails "it does not claim the whole dataset is unrecoverable" grep -q "cannot be decrypted by anyone, the operator included\.$" "$T/report.txt"
check_output "report destruction shows the same report" "still exists" kuractl report destruction "$ID"

# Every key left in the keystore: the server key files and every dataset
# key (unwrapped with the server key, written as a key file).
require "another dataset" kuractl dataset add JGAD500006 --pi kt_alice --period "$(day -1)..$(day 30)"
find "$KEYS" -name '*.sec' >"$T/keyfiles.txt"
n=0
for w in "$KEYS"/datasets/*/dataset.key.c4gh; do
  n=$((n + 1))
  "$C4GH" decrypt --sk "$KEYS/server.sec" <"$w" >"$T/ds$n.raw" && rawkey "$T/ds$n.raw" "$T/ds$n.sec" && chmod 0600 "$T/ds$n.sec"
  rm -f "$T/ds$n.raw"
  echo "$T/ds$n.sec" >>"$T/keyfiles.txt"
done
check "one dataset key is left, the other dataset's" test "$n" = 1
check "its key file is that dataset's delivery key (control)" test "$("$PY" "$DEC" --sk "$T/ds1.sec" --print-public-key)" = "$(sed -n 2p "$KEYS/datasets/JGAD500006/dataset.pub")"
check "the copy encrypted to the surviving server key still decrypts (control)" decrypts "$T/copies/e.bin.c4gh" "$KEYS/server.sec"
for f in a b c; do
  check "the surviving copy of $f.bin (to an erased key) opens with no key left on the server" bash -c "
    while read -r k; do '$C4GH' decrypt --sk \"\$k\" <'$T/copies/$f.bin.c4gh' >/dev/null 2>&1 && exit 1
      '$PY' '$DEC' --sk \"\$k\" <'$T/copies/$f.bin.c4gh' >/dev/null 2>&1 && exit 1; done <'$T/keyfiles.txt'; exit 0"
done
check "the keystore holds nothing for the destroyed dataset" test ! -e "$KEYS/datasets/$ID"
rm -f "$T"/ds*.sec

# ---- kill -9 during rotate: the keystore always opens, nothing is lost ----
K2=JGAD500006
kuractl pubkey "$K2" >"$T/k2.pub"
require "bob on the second dataset" kuractl user add "$K2" kt_bob
"$C4GH" encrypt --recipient "$T/k2.pub" <"$T/plain/d.bin" >"$T/f.bin.c4gh"
require "a delivery to the second dataset's key" kuractl dataset import "$K2" "$T/f.bin.c4gh"
# Killed at N random moments, then before each of its system calls that
# change a name (lib.sh's kill points), each time from where a whole
# rotation leaves the keystore (a kill may leave a new key that never
# became current: its removal would shift the steps).
ms=$(ms_of kuractl key rotate)
require "a whole rotation" kuractl key rotate
steps=$(name_steps "$KURACTL" -c "$KCONF" key rotate)
nsteps=$(grep -c . <<<"$steps")
diag "key rotate takes ${ms} ms and changes names in $nsteps system calls"
check "key rotate's steps are seen (control: at least a link and two renames)" test "$nsteps" -ge 3
# goes_on WHAT FILE: a delivery to the second dataset's key imports as FILE,
# and bob reads it through the mount
goes_on() {
  "$C4GH" encrypt --recipient "$T/k2.pub" <"$T/plain/e.bin" >"$T/$2.c4gh"
  kuractl dataset import "$K2" "$T/$2.c4gh" >/dev/null 2>"$T/kill.err" ||
    { bad=$((bad + 1)); diag "$1: the keystore does not open the dataset key: $(cat "$T/kill.err")"; }
  as kt_bob cmp -s "$MNT/$K2/$2" "$T/plain/e.bin" || { bad=$((bad + 1)); diag "$1: bob cannot read $2 through the mount"; }
}
N=${KURA_KILL_N:-12} bad=0 k=0
while read -r -u 3 point; do
  k=$((k + 1))
  kuractl key rotate >/dev/null 2>"$T/kill.err" || { bad=$((bad + 1)); diag "before $point: $(cat "$T/kill.err")"; }
  kill_at "$point" "$KURACTL" -c "$KCONF" key rotate
  goes_on "rotate killed $point" "g$k.bin"
  [ "$(kuractl key list 2>/dev/null | grep -c '^current ')" = 1 ] || { bad=$((bad + 1)); diag "rotate killed $point: not one current key"; }
done 3< <(kill_points "$ms" "$N" "$steps")
NG=$k
check "kill -9 during key rotate, $NG times ($N at random, then before each step): the keys open, imports and the mount go on" test "$bad" = 0

# kill -9 before each step of key retire: the keystore opens, the mount
# serves, and a re-run erases the key.
cur_fp() { kuractl key list | awk '$1 == "current" {print $2}'; }
fp=$(cur_fp); require "a key to trace retire with" kuractl key rotate
steps=$(name_steps "$KURACTL" -c "$KCONF" key retire "$fp" --yes)
nsteps=$(grep -c . <<<"$steps")
diag "key retire changes names in $nsteps system calls"
check "key retire's steps are seen (control)" test "$nsteps" -ge 2
bad=0 k=0
while read -r -u 3 point; do
  k=$((k + 1))
  fp=$(cur_fp)
  kuractl key rotate >/dev/null 2>"$T/kill.err" || { bad=$((bad + 1)); diag "retire, before $point: $(cat "$T/kill.err")"; }
  kill_at "$point" "$KURACTL" -c "$KCONF" key retire "$fp" --yes
  goes_on "retire killed $point" "r$k.bin"
  # (the list is read whole: grep -q would end it early, and pipefail counts that)
  list=$(kuractl key list)
  grep -q "^\(earlier\|retired\) *$fp" <<<"$list" || { bad=$((bad + 1)); diag "retire killed $point: $fp is neither earlier nor retired"; }
  if grep -q "^earlier *$fp" <<<"$list"; then
    kuractl key retire "$fp" --yes >/dev/null 2>"$T/kill.err" || { bad=$((bad + 1)); diag "retire killed $point: the re-run fails: $(cat "$T/kill.err")"; }
  fi
  kuractl key list >"$T/keys.txt"; grep -q "^retired *$fp" "$T/keys.txt" || { bad=$((bad + 1)); diag "retire killed $point: $fp not retired after the re-run"; }
  [ -z "$(find "$KEYS" -name "$fp.sec*")" ] || { bad=$((bad + 1)); diag "retire killed $point: $fp's secret key is still on disk"; }
  [ -z "$(ls -A "$KEYS/.destroying" 2>/dev/null)" ] || { bad=$((bad + 1)); diag "retire killed $point: an erasure was left unfinished: $(ls -A "$KEYS/.destroying")"; }
done 3< <(kill_points 0 0 "$steps")
check "kill -9 before each of key retire's $nsteps steps: keys open, the mount serves, a re-run erases the key" test "$bad" = 0
check "a rotation after the kills completes" kuractl key rotate
bash -c "'$KURACTL' -c '$KCONF' key list" | awk '$1 == "earlier" {print $2}' >"$T/earlier.txt"
check "every earlier key retires" bash -c "while read -r k; do '$KURACTL' -c '$KCONF' key retire \"\$k\" --yes >/dev/null || exit 1; done <'$T/earlier.txt'"
check "no secret key is left but the current one" test -z "$(find "$KEYS" -name '*.sec' ! -path "$KEYS/server.sec")"
# (a public key's or a retirement record's temporary file may be left by a
# kill: they hold nothing secret)
find "$KEYS" -name '*tmp*' ! -name '*.pub.tmp-*' ! -name '*.retired.tmp-*' -o -name 'server.sec.*' >"$T/leftovers.txt"
[ -s "$T/leftovers.txt" ] && diag "left: $(cat "$T/leftovers.txt")"
check "no half-made secret key file is left" test ! -s "$T/leftovers.txt"
check "bob reads every file of the second dataset after all that" bash -c "for i in \$(seq 1 $NG); do setpriv --reuid=kt_bob --regid=$(id -g kt_bob) --init-groups cmp -s '$MNT/$K2/g'\$i.bin '$T/plain/e.bin' || exit 1; done"
check "... and the file delivered before every rotation" as kt_bob cmp -s "$MNT/$K2/f.bin" "$T/plain/d.bin"

# ---- a damaged ledger does not hold back a destruction ----
K3=JGAD500009
require "dataset $K3" one_file_dataset "$K3" kt_alice z.bin 1000
STATE=$(sed -n 's/^state_dir = //p' "$KCONF")
require "its ledger damaged (a byte of its first record)" flip_byte "$STATE/datasets/$K3/ledger.jsonl" 20
check_fails "... which kuractl ledger refuses to show as sound" kuractl ledger "$K3"
check "the destruction goes through all the same" kuractl dataset destroy "$K3" --yes
check "... its keys are gone" test ! -e "$KEYS/datasets/$K3"
check "... and its report says what it could not list, and why" \
  grep -q "^The deliveries could not be listed: .*ledger" "$STATE/datasets/$K3/destruction-report.txt"
check "... nor those listed once and no more (the PI, listed now, is named)" bash -c \
  "grep -q '^Those listed once and no more could not be listed: .*ledger' '$STATE/datasets/$K3/destruction-report.txt' &&
   grep -Eq '^\| kt_alice \| pi \| ' '$STATE/datasets/$K3/destruction-report.txt'"

stop_kura "$MNT"
done_testing
