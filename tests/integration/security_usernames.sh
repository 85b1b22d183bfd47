#!/usr/bin/env bash
# Issue 17: the daemon keeps the account database's user names (pwcache.c)
# instead of asking NSS at each request, and must still follow every change
# at once: a listed account renamed, deleted, re-created with its uid or
# under another uid, while kurafs runs. Each change is made both right after
# the names were read (the passwd file still "fresh", read at every request)
# and after they were kept (the file settled: its identity decides).
. "$(dirname "$0")/lib.sh"

ID=JGAD000017
A=kt_un_a A2=kt_un_a2
for u in $A $A2; do id -u "$u" >/dev/null 2>&1 && userdel "$u"; done
on_exit "for u in $A $A2; do pkill -KILL -u \$u; userdel \$u; done"
make_user kt_alice
require "account $A" useradd -M -N -s /bin/bash "$A"
uid_a=$(id -u "$A") gid_a=$(id -g "$A")

require "kuractl init" kura_init
mkdir -p "$T/data" && head -c 100000 /dev/urandom >"$T/data/x.bin" && chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
require "user add $A" kuractl user add "$ID" "$A"
require "mount" mount_kura "$T/mnt"
F=$T/mnt/$ID/x.bin LOG=$KROOT/log/audit.jsonl

# reads UID: a process with that uid (account or not) reads the file whole
reads() { setpriv --reuid="$1" --regid="$gid_a" --clear-groups -- cmp -s "$F" "$T/data/x.bin"; }
# refused_for UID REASON: an open by UID refused for REASON, logged since the last mark
mark() { MARK=$(wc -l <"$LOG"); }
refused_for() {
  tail -n +"$((MARK + 1))" "$LOG" | grep '"decision":"deny"' | grep '"uid":'"$1"',' | grep -q '"reason":"'"$2"'"'
}
# settle: the passwd file's last change more than the cache's settle time
# (1 s) ago, so that what is read now is kept
settle() { sleep 1.3; }

settle
check "$A reads" reads "$uid_a"
check "$A reads again (the names kept)" reads "$uid_a"

# ---- renamed ----
mark
require "usermod -l $A2 $A" usermod -l "$A2" "$A"
check_fails "renamed to $A2: its uid reads nothing at once" reads "$uid_a"
check "refused as account changed" refused_for "$uid_a" "account changed"
settle
mark
check_fails "renamed, the new names kept: still nothing" reads "$uid_a"
check "refused as account changed" refused_for "$uid_a" "account changed"
require "usermod -l $A $A2 (renamed back)" usermod -l "$A" "$A2"
check "renamed back: reads at once" reads "$uid_a"

# ---- deleted ----
settle
check "$A reads (the names kept)" reads "$uid_a"
mark
require "userdel $A" userdel "$A"
check_fails "deleted: its uid reads nothing at once" reads "$uid_a"
check "refused as account changed" refused_for "$uid_a" "account changed"

# ---- re-created with the same uid and name ----
require "useradd $A -u $uid_a" useradd -M -N -s /bin/bash -u "$uid_a" "$A"
check "re-created as it was listed: reads at once" reads "$uid_a"

# ---- re-created under another uid ----
settle
check "$A reads (the names kept)" reads "$uid_a"
mark
require "userdel $A; useradd $A under another uid" bash -c "userdel $A && useradd -M -N -s /bin/bash -K UID_MIN=$((uid_a + 1)) $A"
uid_new=$(id -u "$A")
check "the new uid $uid_new differs" test "$uid_new" != "$uid_a"
check_fails "$A under uid $uid_new reads nothing at once" reads "$uid_new"
check "refused as not listed" refused_for "$uid_new" "not listed"
check_fails "the old uid reads nothing" reads "$uid_a"
check "refused as account changed" refused_for "$uid_a" "account changed"

done_testing
