#!/usr/bin/env bash
# Packaging (issue 9): make install / uninstall into a scratch DESTDIR, the
# man pages, kuractl --help against kuractl.8, bash completion, the systemd
# unit (systemd-analyze, and kurafs run with the unit's capability bounding
# set), logrotate keeping the audit chain (R-LOG-2), and an /etc/fstab
# mount as type fuse.kurafs.
. "$(dirname "$0")/lib.sh"

DEST=$T/dest
VARIANT=$(basename "$KURA_BUILD")
MK=(make -C "$KURA_TOP" --no-print-directory DESTDIR="$DEST" PREFIX=/usr VARIANT="$VARIANT")
UNIT=$DEST/usr/lib/systemd/system/kurafs@.service
COMPL=$DEST/usr/share/bash-completion/completions/kuractl
skip() { ok "$1 # SKIP $2"; }
# mk TARGET LOG: make TARGET into DESTDIR, its output appended to LOG.
mk() { "${MK[@]}" "$1" >>"$2" 2>&1 || { diag "make $1 failed:" "$(tail -n 20 "$2")"; return 1; }; }

# ---- make install ----
require "make install DESTDIR=\$T/dest PREFIX=/usr" mk install "$T/install.log"
while read -r mode path; do
  check "installed $path (mode $mode)" test "$(stat -c %a "$DEST$path" 2>/dev/null)" = "$mode"
done <<EOF
755 /usr/bin/kurafs
755 /usr/bin/kuractl
644 /usr/share/man/man8/kurafs.8
644 /usr/share/man/man8/kuractl.8
644 /usr/share/man/man5/kura.conf.5
644 /usr/share/bash-completion/completions/kuractl
644 /usr/lib/systemd/system/kurafs@.service
644 /etc/kura/kura.conf.example
644 /etc/logrotate.d/kura
EOF
check "installed binaries are the build's" bash -c "cmp -s '$DEST/usr/bin/kurafs' '$KURAFS' && cmp -s '$DEST/usr/bin/kuractl' '$KURACTL'"
check "no kura.conf installed (kuractl init writes it)" test ! -e "$DEST/etc/kura/kura.conf"
check "kura.conf.example is the config kura writes by default" cmp -s "$DEST/etc/kura/kura.conf.example" "$KURA_TOP/config/kura.conf.example"
check "the unit runs PREFIX/bin/kurafs" grep -q '^ExecStart=/usr/bin/kurafs -f ' "$UNIT"
check_fails "no @PLACEHOLDER@ left in the unit" grep -Eq '@[A-Z_]+@' "$UNIT"

# ---- man pages render without warnings ----
for page in man8/kurafs.8 man8/kuractl.8 man5/kura.conf.5; do
  f=$DEST/usr/share/man/$page
  warnings=$(MANWIDTH=80 man -l --warnings "$f" 2>&1 >/dev/null)
  check "man -l --warnings $page: no warnings" test -z "$warnings"
  [ -z "$warnings" ] || diag "$warnings"
  check_output "man -l $page renders" "^NAME" env MANWIDTH=80 man -l "$f"
done

# ---- every command and option of kuractl --help is in kuractl.8 ----
# Rendered wide, without hyphenation, blanks squeezed: a usage line of the
# help must appear word for word.
man_text=$(LC_ALL=C MANWIDTH=400 man -l "$DEST/usr/share/man/man8/kuractl.8" 2>/dev/null | col -b | tr -s ' \n' '  ')
commands=$("$KURACTL" --help | awk '$1 == "kuractl" { c = ""; for (i = 2; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) c = c (c == "" ? "" : " ") $i; if (c != "") print c }')
check "kuractl --help lists commands (root sees all)" test "$(wc -l <<<"$commands")" -ge 10
check "kuractl --help names no requirement id" test -z "$("$KURACTL" --help 2>&1 | grep -oE 'R-[A-Z]+-[0-9]+')"
while read -r cmd; do
  # shellcheck disable=SC2086
  help=$("$KURACTL" $cmd --help 2>&1); rc=$?
  check "kuractl $cmd --help exits 0" test "$rc" = 0
  # requirement ids (R-ACC-7, ...) are for docs/compliance.md, not for users
  check "kuractl $cmd --help names no requirement id" test -z "$(grep -oE 'R-[A-Z]+-[0-9]+' <<<"$help")"
  usage=$(awk '/^usage:/ { f = 1; next } f && !NF { exit } f { print }' <<<"$help" | tr -s ' \n' '  ' | sed 's/^ *//; s/ *$//')
  if grep -qF -- "$usage" <<<"$man_text"; then ok "kuractl.8 has: $usage"; else not_ok "kuractl.8 has: $usage"; fi
  # and the other way: every option the page gives the command (its lines
  # ".B kuractl CMD" followed by a font change, an option or nothing: not
  # a longer command's) is in its --help
  for o in $(sed 's/\\-/-/g' "$KURA_TOP/man/kuractl.8" | grep -E "^\.B kuractl $cmd( \\\\f| -|\$)" |
             grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    check "kuractl $cmd --help has $o (from kuractl.8's synopsis)" grep -qF -- "$o" <<<"$usage"
  done
done <<<"$commands"
kurafs_man=$(LC_ALL=C MANWIDTH=200 man -l "$DEST/usr/share/man/man8/kurafs.8" 2>/dev/null | col -b)
kurafs_help=$("$KURAFS" --help 2>&1); rc=$?
check "kurafs --help exits 0" test "$rc" = 0
check_output "kurafs --help prints its usage" "^usage: kurafs" echo "$kurafs_help"
for o in $(grep -oE -- '--[a-z-]+|(^|[ ,])-[a-zA-Z]\b|[a-z_]+=' <<<"$kurafs_help" | tr -d ' ,' | sort -u); do
  check "kurafs.8 documents $o (from kurafs --help)" grep -qF -- "$o" <<<"$kurafs_man"
done
conf_man=$(LC_ALL=C MANWIDTH=200 man -l "$DEST/usr/share/man/man5/kura.conf.5" 2>/dev/null | col -b)
for k in $(sed -nE 's/^#?([a-z_]+) =.*/\1/p' "$KURA_TOP/config/kura.conf.example"); do
  check "kura.conf.5 documents $k (from kura.conf.example)" grep -qE "^ +$k( |\$)" <<<"$conf_man"
done

# ---- a throwaway server for what follows ----
for u in kt_alice kt_bob kt_carol kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
ID=JGAD000301
DATA=$T/data
mkdir -p "$DATA" && head -c 200000 /dev/urandom >"$DATA/a.bin" && echo "sample text" >"$DATA/b.txt" && chmod -R a+rX "$DATA"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import --encrypt" kuractl dataset import "$ID" --encrypt "$DATA"
require "user add kt_bob" kuractl user add "$ID" kt_bob

# ---- bash completion ----
# complete_words WORDS...: what the installed completion offers for the
# last word (as an interactive bash would, with kuractl found in PATH).
complete_words() {
  PATH="$KURA_BUILD:$PATH" bash -c '
    . "$0" || exit 1
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"
    _kuractl; printf "%s\n" "${COMPREPLY[@]}"' "$COMPL" "$@"
}
check_output "completion script loads and registers kuractl" "complete -F _kuractl kuractl" \
  bash -c ". '$COMPL' && complete -p kuractl"
check_output "completes a command: da -> dataset" "^dataset$" complete_words kuractl da
subs=$(complete_words kuractl dataset "")
check "completes subcommands: dataset -> add import extend suspend resume" bash -c '
  for w in add import extend suspend resume; do grep -qx "$w" <<<"$1" || exit 1; done' _ "$subs"
check_output "completes dataset ids from the state dir" "^$ID$" complete_words kuractl -c "$KCONF" user add ""
check_output "completes users for --pi" "^kt_alice$" complete_words kuractl dataset add X --pi kt_a
check_output "completes options from the command's help" "^--encrypt$" complete_words kuractl dataset import X --
check_output "completes option values: --role" "^contractor$" complete_words kuractl user add X Y --role ""

# ---- the systemd unit ----
if command -v systemd-analyze >/dev/null; then
  # The unit as installed, with ExecStart pointing into DESTDIR; the man
  # pages it names are found through MANPATH.
  mkdir -p "$T/unit"
  sed "s#^ExecStart=/usr/bin/#ExecStart=$DEST/usr/bin/#" "$UNIT" >"$T/unit/kurafs@.service"
  check_output "systemd-analyze verify accepts the unit" "^rc=0$" \
    bash -c "MANPATH='$DEST/usr/share/man' systemd-analyze verify '$T/unit/kurafs@.service' 2>&1; echo rc=\$?"
else
  skip "systemd-analyze verify accepts the unit" "systemd-analyze not installed"
fi
for key in NoNewPrivileges=yes LimitCORE=0 CapabilityBoundingSet= After=local-fs.target ExecStop= LimitNOFILE=; do
  check "unit sets $key" grep -q "^$key" "$UNIT"
done

# kurafs started as the unit starts it: its capability bounding set, no
# new privileges, in the foreground. The guard must still name other
# users' executables (CAP_SYS_PTRACE), and an operator's import through the
# socket must take the operator's file rights (CAP_SETUID/SETGID).
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
bset=-all$(for c in $caps; do c=${c#CAP_}; printf ',+%s' "${c,,}"; done)
MNT=$T/mnt
mkdir -p "$MNT"
setpriv --bounding-set="$bset" --no-new-privs -- "$DEST/usr/bin/kurafs" -c "$KCONF" -f "$MNT" >"$T/unitfs.log" 2>&1 &
FS=$!
on_exit "fusermount3 -u '$MNT' 2>/dev/null || umount -l '$MNT'; kill $FS 2>/dev/null; wait $FS 2>/dev/null"
for _ in $(seq 1 100); do grep -qs " $MNT fuse.kurafs" /proc/mounts && break; kill -0 $FS 2>/dev/null || break; sleep 0.1; done
require "kurafs mounts with the unit's capabilities only ($caps)" grep -qs " $MNT fuse.kurafs" /proc/mounts
if command -v capsh >/dev/null; then
  have=$(capsh --decode="$(awk '/^CapBnd/ { print $2 }' "/proc/$FS/status")" | sed 's/.*=//' | tr , '\n' | sort | tr '\n' ' ')
  want=$(for c in $caps; do echo "${c,,}"; done | sort | tr '\n' ' ')
  check "the daemon's bounding set is the unit's ($have)" test "$have" = "$want"
else
  skip "the daemon's bounding set is the unit's" "capsh not installed"
fi
# A connector socket (netlink protocol 11) in the process-event group 1.
listens_to_process_events() {
  local inode
  for inode in $(awk '$2 == 11 && $4 == "00000001" { print $10 }' /proc/net/netlink); do
    ls -l "/proc/$FS/fd" 2>/dev/null | grep -q "socket:\[$inode\]" && return 0
  done
  return 1
}
check "with the unit's capabilities the daemon listens to process events (its process-facts cache)" \
  listens_to_process_events
check "listed user reads the plaintext" as kt_bob cmp -s "$MNT/$ID/a.bin" "$DATA/a.bin"
check_fails "outsider reads nothing" as kt_carol cat "$MNT/$ID/b.txt"
check_fails "cp is refused" as kt_bob cp "$MNT/$ID/b.txt" "$T/copy.txt"
check "the refusal names /usr/bin/cp (other users' /proc readable)" \
  grep -q '"reason":"guard".*"exe":"/usr/bin/cp"' "$KROOT/log/audit.jsonl"
check_output "PI lists users through the socket" "^kt_bob " as kt_alice "$KURACTL" -c "$KCONF" user list "$ID"
mkdir -p "$T/op" && echo "operator's file" >"$T/op/c.txt" && chown -R kt_op "$T/op" && chmod 0700 "$T/op"
check "kura-admin member imports their own file through the socket" \
  as kt_op "$KURACTL" -c "$KCONF" dataset import "$ID" --encrypt "$T/op/c.txt"
check "... and bob reads it" test "$(as kt_bob cat "$MNT/$ID/c.txt")" = "operator's file"
wait_script=$(sed -n "s/^ExecStartPost=\/bin\/sh -c '\(.*\)' kurafs-wait %f$/\1/p" "$UNIT" | sed 's/\$\$/$/g')
check "the unit's ExecStartPost sees the mount" sh -c "$wait_script" kurafs-wait "$MNT"

# ---- logrotate keeps the audit chain (R-LOG-2) ----
LR=$DEST/etc/logrotate.d/kura
check_fails "logrotate snippet does not copytruncate" grep -Eq '^[[:space:]]*copytruncate' "$LR"
check "logrotate snippet signals kurafs after rotating" grep -q 'pkill -HUP -x kurafs' "$LR"
if command -v logrotate >/dev/null; then
  out=$(logrotate -d -s "$T/lr.debug.state" "$LR" 2>&1); rc=$?
  check "logrotate -d accepts the snippet" test "$rc" = 0
  check_fails "... without errors" grep -qi '^error' <<<"$out"
  # The snippet as installed, aimed at this server's log and this daemon.
  sed -e "s#/var/log/kura/audit.jsonl#$KROOT/log/audit.jsonl#" -e "s#pkill -HUP -x kurafs#kill -HUP $FS#" "$LR" >"$T/lr.conf"
  as kt_bob cat "$MNT/$ID/b.txt" >/dev/null
  check "logrotate -f rotates the audit log" logrotate -f -s "$T/lr.state" "$T/lr.conf"
  as kt_bob cat "$MNT/$ID/b.txt" >/dev/null
  check "the rotated file is kept, uncompressed" bash -c "ls '$KROOT/log/' | grep -Eq '^audit\.jsonl-[0-9]{8}-[0-9]+$'"
  check "the new file continues the chain (rotated_from)" grep -q '"rotated_from"' "$KROOT/log/audit.jsonl"
  check_output "kuractl audit verify passes across the rotation" "verified: .* in 2 file" kuractl audit verify
else
  skip "logrotate rotation keeps the audit chain" "logrotate not installed"
fi

check "ExecStop's fusermount3 -u unmounts" fusermount3 -u "$MNT"
for _ in $(seq 1 100); do kill -0 $FS 2>/dev/null || break; sleep 0.1; done
wait $FS; rc=$?
check "kurafs exits 0 after ExecStop's unmount" test "$rc" = 0

# ---- /etc/fstab: type fuse.kurafs ----
# mount(8) does not pass PATH to mount.fuse3, whose shell finds kurafs only
# in its default path; so, in a private mount namespace, the installed
# /usr/bin is bound over /usr/local/sbin (first in that path), as if kura
# were installed there. Nothing outside the namespace changes.
if [ -d /usr/local/sbin ] && command -v unshare >/dev/null; then
  echo "kura $MNT fuse.kurafs config=$KCONF,nosuid,nodev 0 0" >"$T/fstab"
  out=$(unshare --mount --propagation private bash -c '
    DEST=$1 MNT=$2 FSTAB=$3 FILE=$4
    trap "umount -l \"\$MNT\" 2>/dev/null" EXIT
    mount --bind "$DEST/usr/bin" /usr/local/sbin || exit 1
    mount -T "$FSTAB" "$MNT" && echo mounted
    grep -q " $MNT fuse.kurafs .*nosuid,nodev" /proc/mounts && echo nosuid-nodev
    setpriv --reuid=kt_bob --regid="$(id -g kt_bob)" --init-groups cat "$MNT/$FILE" && echo read-ok
    umount "$MNT" && echo unmounted' _ "$DEST" "$MNT" "$T/fstab" "$ID/b.txt" 2>&1)
  check_output "mount -T FSTAB (kura MNT fuse.kurafs config=...) mounts" "^mounted$" echo "$out"
  check_output "... with nosuid,nodev" "^nosuid-nodev$" echo "$out"
  check_output "... a listed user reads through it" "^sample text$" echo "$out"
  check_output "... umount unmounts" "^unmounted$" echo "$out"
  for _ in $(seq 1 50); do pgrep -f "^kurafs kura $MNT( |\$)" >/dev/null || break; sleep 0.1; done
  check_fails "... and the daemon is gone" pgrep -f "^kurafs kura $MNT( |\$)"
else
  skip "fstab mount as fuse.kurafs" "no /usr/local/sbin or no unshare"
fi

# ---- install keeps the operator's config; uninstall removes exactly what install added ----
echo "# the operator's" >"$DEST/etc/kura/kura.conf"
check "install again" mk install "$T/install.log"
check "install never replaces kura.conf" grep -qx "# the operator's" "$DEST/etc/kura/kura.conf"
check "make uninstall" mk uninstall "$T/uninstall.log"
left=$(cd "$DEST" && find . -mindepth 1 | sort | tr '\n' ' ')
check "uninstall leaves only the operator's kura.conf (left: $left)" test "$left" = "./etc ./etc/kura ./etc/kura/kura.conf "
rm -f "$DEST/etc/kura/kura.conf"
check "install, then uninstall, into an empty DESTDIR leaves it empty" bash -c "
  rm -rf '$DEST' && ${MK[*]} install >/dev/null 2>&1 && ${MK[*]} uninstall >/dev/null 2>&1 && [ -z \"\$(ls -A '$DEST')\" ]"

done_testing
