#!/usr/bin/env bash
# The copy-out guard judges the program actually run (issue 14 §4, R-CPY-4),
# as a listed real user through a real mount: a copy tool started through
# the dynamic loader under a symlink's name, sftp-server through the loader
# to a stock sftp client, a symlink to cp, `exec -a`: all refused, nothing
# copied, each refusal in the audit log with reason guard and the tool's
# name. The ordinary tools, also through the loader, still read.
. "$(dirname "$0")/lib.sh"

ID=JGAD140401
guard_setup "$ID"
LDSO=/lib64/ld-linux-x86-64.so.2
require "the loader is there" test -x "$LDSO"
ln -s /bin/cp "$W/x"
ln -s /usr/lib/openssh/sftp-server "$W/s"
ln -s /bin/cp "$W/mycat"
ln -s /usr/bin/cat "$W/c"

# A refusal is one more guard record that names the tool.
refusals() { grep '"reason":"guard"' "$LOG" | grep -c "$1"; }

# ---- the loader running cp from a symlink named x ----
before=$(refusals '"cp (pid')
check_fails "ld.so ~/x (x -> cp) FILE copy: refused" as kt_alice "$LDSO" "$W/x" "$M" "$W/ldso.out"
check "ld.so ~/x: nothing copied" bash -c "! cmp -s '$W/ldso.out' '$T/$ID/random.bin'"
check "ld.so ~/x: the refusal is audited as cp" test "$(refusals '"cp (pid')" -gt "$before"
check_fails "ld.so --argv0 cat ~/x: refused" as kt_alice "$LDSO" --argv0 cat "$W/x" "$M" "$W/ldso2.out"
cp "$(readlink -f "$LDSO")" "$W/myld" && chmod 0755 "$W/myld"
before=$(refusals '"cp (pid')
check_fails "a renamed copy of the loader running ~/x (x -> cp): refused" as kt_alice "$W/myld" "$W/x" "$M" "$W/myld.out"
check "... audited as cp" test "$(refusals '"cp (pid')" -gt "$before"
before=$(refusals 'myld (pid.*cannot tell which program the loader runs')
check_fails "the same with 20 libraries preloaded (pushing cp out of the mappings kept): refused" as kt_alice "$W/myld" --preload \
  "$(ls /usr/lib/x86_64-linux-gnu/lib{z,lzma,bz2,zstd,crypt,acl,attr,pcre2-8,selinux,cap,gmp,ffi,uuid,blkid,mount,smartcols,tinfo,readline,expat,ssl}.so.* 2>/dev/null | grep -v '\.so\.[0-9.]*\.' | head -20 | tr '\n' ' ')" \
  "$W/x" "$M" "$W/myld2.out"
check "... audited: the loader's program cannot be told" \
  test "$(refusals 'myld (pid.*cannot tell which program the loader runs')" -gt "$before"
check_fails "ld.so cp (the real path): refused" as kt_alice "$LDSO" /usr/bin/cp "$M" "$W/ldso3.out"

# ---- sftp-server through the loader, to a stock sftp client ----
printf 'get %s %s\n' "$M" "$W/sftp.out" >"$W/sftp.batch"
before=$(refusals 'sftp-server')
as kt_alice sftp -q -b "$W/sftp.batch" -D "$LDSO $W/s" >/dev/null 2>&1
check "sftp -D 'ld.so ~/s' (s -> sftp-server): nothing copied" bash -c "! cmp -s '$W/sftp.out' '$T/$ID/random.bin'"
check "sftp-server through the loader: the refusal is audited" test "$(refusals 'sftp-server')" -gt "$before"

# ---- names: a symlink to cp, exec -a ----
check_fails "a symlink mycat -> cp: refused" as kt_alice "$W/mycat" "$M" "$W/mycat.out"
check_fails "exec -a cat cp: refused" as kt_alice bash -c "exec -a cat /bin/cp '$M' '$W/exec.out'"
check "no refused tool got the plaintext" bash -c "! cat '$W'/*.out 2>/dev/null | cmp -s - '$T/$ID/random.bin'"

# ---- the ordinary tools still read, also through the loader ----
check "cat reads" bash -c "setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups cat '$M' | cmp -s - '$T/$ID/random.bin'"
check "ld.so cat reads" bash -c "setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups $LDSO /usr/bin/cat '$M' | cmp -s - '$T/$ID/random.bin'"
check "ld.so ~/c (c -> cat) reads" bash -c "setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups $LDSO '$W/c' '$M' | cmp -s - '$T/$ID/random.bin'"
check "python3 reads" as kt_alice /usr/bin/python3 -c "
import sys; sys.exit(0 if open('$M','rb').read() == open('$T/$ID/random.bin','rb').read() else 1)"

stop_kura "$T/mnt"
done_testing
