#!/usr/bin/env bash
# A passphrase-protected server key (R-ENC-3, R-ACC-7): kurafs needs the
# passphrase to start; lockdown wipes the key from memory; unlock needs the
# passphrase again (the mount's passphrase file is read anew: an operator who
# keeps it offline puts it back to unlock).
. "$(dirname "$0")/lib.sh"

ID=JGAD000040
make_user kt_alice
mkdir -p "$KROOT" && chmod 0755 "$KROOT"
umask 077
echo "correct horse battery staple" >"$T/pass"
umask 022
require "init with a passphrase" "$KURACTL" -c "$KCONF" init --root "$KROOT" --passphrase-file "$T/pass"
mkdir -p "$T/data" && head -c 150000 /dev/urandom >"$T/data/x.bin" && chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl --passphrase-file "$T/pass" dataset import "$ID" --encrypt "$T/data"

mkdir -p "$T/mnt"
check_output_fails "kurafs refuses to start without the passphrase" "passphrase" timeout 20 "$KURAFS" -c "$KCONF" -f "$T/mnt"
require "mount with -o passphrase_file" mount_kura "$T/mnt" -o "passphrase_file=$T/pass"
F=$T/mnt/$ID/x.bin
check "the PI reads" as kt_alice cmp -s "$F" "$T/data/x.bin"
require "lockdown" kuractl lockdown --reason "key drill (test)"
check_output_fails "locked down: nothing reads" "No such file|Permission denied" as kt_alice cat "$F"
mv "$T/pass" "$T/pass.offline"
require "unlock" kuractl unlock
check_output_fails "unlocked without the passphrase at hand: the key stays out of memory, opens fail" \
  "Permission denied|Input/output error" as kt_alice cat "$F"
mv "$T/pass.offline" "$T/pass"
kuractl reload >/dev/null 2>&1
check "the passphrase back: the key is reopened and the PI reads again" as kt_alice cmp -s "$F" "$T/data/x.bin"
stop_kura "$T/mnt"
done_testing
