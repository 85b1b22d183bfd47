#!/usr/bin/env bash
# The control socket's directory after a reboot (found by a hostile
# review): /run is a tmpfs, so the socket's directory (/run/kura) that
# `kuractl init` made is gone, and kurafs makes it again at its start, under
# the unit's UMask=0077. Made 0700, it shuts every user out of the socket:
# PIs could no longer remove a user (end access), operators in kura-admin
# could do nothing, users could not see their status. The directory must be
# 0755 whatever the umask, as init makes it.
. "$(dirname "$0")/lib.sh"

make_user kt_sd_pi
make_user kt_sd_bob
require "kuractl init" kura_init
ID=JGAD300088
require "dataset add (PI kt_sd_pi)" kuractl dataset add "$ID" --pi kt_sd_pi --period "$(day -1)..$(day 30)"
require "kt_sd_bob is listed" kuractl user add "$ID" kt_sd_bob
# After a reboot: no socket directory. kurafs starts as the unit starts it.
rm -rf "$KROOT/run"
umask 077
mount_kura "$T/mnt"
mounted=$?
umask 022
require "kurafs mounts under umask 077" test "$mounted" -eq 0
check "the socket's directory kurafs made is 0755, as init makes it" test "$(stat -c %a "$KROOT/run")" = 755
check_output "the PI's status reaches the daemon" "$ID" as kt_sd_pi "$KURACTL" -c "$KCONF" status
check "the PI can end kt_sd_bob's access through the daemon" \
  as kt_sd_pi "$KURACTL" -c "$KCONF" user remove "$ID" kt_sd_bob
stop_kura "$T/mnt"
done_testing
