#!/usr/bin/env bash
# The Debian package, as an operator meets it: built from this tree by
# scripts/build-deb.sh (lintian clean), installed with apt-get, the demo run
# against the installed binaries, then removed and purged, which must keep
# the operator's config, keys, state and audit log. TAP output.
. "$(dirname "$0")/lib.sh"

status() { dpkg-query -W -f='${Status}' kura 2>/dev/null; }
require "kura is not installed as a package already" test "$(status)" != "install ok installed"
require "no kura installed by hand in /usr (dpkg would overwrite it)" test ! -e /usr/bin/kurafs -a ! -e /usr/bin/kuractl
# Stand-ins for what an operator's server holds; a real one is never touched.
require "no kura server on this machine" test ! -e /etc/kura/kura.conf -a ! -e /var/lib/kura -a ! -e /var/log/kura
on_exit "rm -rf /etc/kura/kura.conf /var/lib/kura /var/log/kura; rmdir /etc/kura"
getent group kura-admin >/dev/null || on_exit "groupdel kura-admin"

deb=$("$KURA_TOP/scripts/build-deb.sh" "$T/deb" 2>"$T/build.err" | tail -n 1)
if [ -f "$deb" ]; then ok "the package builds and lintian finds nothing"; else
  not_ok "the package builds and lintian finds nothing"; diag "$(tail -n 30 "$T/build.err")"; done_testing; exit 1
fi

on_exit "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kura"
apt() { DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -q >>"$T/apt.log" 2>&1; }
require "apt-get installs it" apt install "$deb"
check "dpkg knows it as installed" test "$(status)" = "install ok installed"
check "kuractl and kurafs are in /usr/bin" test -x /usr/bin/kuractl -a -x /usr/bin/kurafs
check_output "the installed kuractl is this version" "$(cat "$KURA_TOP/VERSION")" /usr/bin/kuractl --version
for m in kurafs kuractl kura.conf; do check "man $m finds its page" man -w "$m"; done
check "bash completion for kuractl" test -f /usr/share/bash-completion/completions/kuractl
check "the unit runs the installed kurafs" grep -q '^ExecStart=/usr/bin/kurafs ' /lib/systemd/system/kurafs@.service
conffiles=$(dpkg-query -W -f='${Conffiles}' kura)
for f in /etc/kura/kura.conf.example /etc/logrotate.d/kura; do
  check "$f is a conffile" grep -q " $f " <<<"$conffiles"
done
check "logrotate accepts the audit log's rule" logrotate -d /etc/logrotate.d/kura
check "the kura-admin group exists" getent group kura-admin

check_output "the demo runs with the installed binaries" 'Everything behaved as it should' \
  "$KURA_TOP/scripts/demo.sh" /usr/bin

# An operator's server: config, keystore, state and log (stand-ins).
mkdir -p /var/lib/kura/keys /var/log/kura
echo "[paths]" >/etc/kura/kura.conf
echo key >/var/lib/kura/keys/server.sec
echo '{}' >/var/log/kura/audit.jsonl
require "apt-get removes it" apt remove kura
check "the binaries are gone" test ! -e /usr/bin/kuractl -a ! -e /usr/bin/kurafs
check "remove keeps the conffiles" test -f /etc/kura/kura.conf.example
apt purge kura
check "purge removes the conffiles" test ! -e /etc/kura/kura.conf.example -a ! -e /etc/logrotate.d/kura
check "dpkg no longer knows it" test "$(status)" != "install ok installed"
check "purge keeps the operator's kura.conf" test -f /etc/kura/kura.conf
check "purge keeps the keystore" test -f /var/lib/kura/keys/server.sec
check "purge keeps the audit log" test -f /var/log/kura/audit.jsonl
check_output "purge says what it kept" 'kept /var/lib/kura' cat "$T/apt.log"

done_testing
