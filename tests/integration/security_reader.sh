#!/usr/bin/env bash
# The guard judges the program that reads, not only the one that opened (a
# hostile review's finding): a shell opens FILE for a redirect and then
# execs the tool, so `dd of=OUT < FILE` opened as bash and read as dd, and
# the record named bash. Each program other than the opener's is judged at
# its first read, as at an open, and recorded (allowed or refused) under
# its own name; refused, it reads nothing. Another user's program reading
# through a passed descriptor is judged again once the state changes: a
# removed user's next read is refused. TAP output.
. "$(dirname "$0")/lib.sh"

ID=JGAD140501
guard_setup "$ID"
PLAIN=$T/$ID/random.bin
# records PATTERN...: the audit records matching every pattern.
records() {
  local out
  out=$(cat "$LOG")
  for p in "$@"; do out=$(grep -e "$p" <<<"$out"); done
  if [ -n "$out" ]; then wc -l <<<"$out"; else echo 0; fi
}
through='"detail":"reads through a file pid [0-9]* opened'

# ---- refused: deny-listed tools reading what a shell or python opened ----
before=$(records '"decision":"deny"' '"reason":"guard"' '"exe":"/usr/bin/dd"' "$through")
check_fails "dd of=OUT < FILE (the shell opens, dd reads): refused" as kt_alice bash -c "dd of='$W/dd.out' status=none < '$M'"
check "... nothing copied" test ! -s "$W/dd.out"
check "... the refusal is recorded naming dd, and the opener" \
  test "$(records '"decision":"deny"' '"reason":"guard"' '"exe":"/usr/bin/dd"' "$through")" -gt "$before"
check_fails "split -b 64k - p < FILE: refused" as kt_alice bash -c "cd '$W' && split -b 65536 - part. < '$M'"
check "... nothing copied" bash -c "! cat '$W'/part.* 2>/dev/null | grep -q ."
check_fails "python opens, then execs dd on the descriptor: refused" as kt_alice /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.dup2(fd, 0)
os.execv("/usr/bin/dd", ["dd", "of=" + sys.argv[2], "status=none"])' "$M" "$W/py-dd.out"
check "... nothing copied" test ! -s "$W/py-dd.out"
check_fails "the shell holds it open, a child dd reads the inherited descriptor: refused" \
  as kt_alice bash -c "exec 3<'$M'; dd of='$W/inherit.out' status=none <&3"
check "... nothing copied" test ! -s "$W/inherit.out"

# Through the dynamic loader the executable stays the loader's whatever
# program runs: such a process is judged at every read. (Each reads the
# file's tail first, so that the pages dd asks for are not cached.)
LDSO=/lib64/ld-linux-x86-64.so.2
check_fails "under ld.so python reads, then execs ld.so dd in the same process: refused" as kt_alice "$LDSO" /usr/bin/python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.pread(fd, 10, os.fstat(fd).st_size - 10)
os.dup2(fd, 0)
os.execv(sys.argv[3], [sys.argv[3], "/usr/bin/dd", "of=" + sys.argv[2], "status=none"])' "$M" "$W/ld-exec.out" "$LDSO"
check "... nothing copied" test ! -s "$W/ld-exec.out"
cp "$(readlink -f "$LDSO")" "$W/myld" && chmod 0755 "$W/myld"
check_fails "a renamed copy of the loader runs tail, then dd, on python's descriptor: dd refused" as kt_alice /usr/bin/python3 -c '
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
subprocess.run([sys.argv[2], "/usr/bin/tail", "-c", "10"], stdin=fd, stdout=subprocess.DEVNULL, check=True)
os.lseek(fd, 0, 0)
sys.exit(subprocess.run([sys.argv[2], "/usr/bin/dd", "of=" + sys.argv[3], "status=none"], stdin=fd).returncode)' \
  "$M" "$W/myld" "$W/myld-dd.out"
check "... nothing copied" test ! -s "$W/myld-dd.out"

# ---- allowed: an allowed tool reading what the shell opened ----
before=$(records '"decision":"allow"' '"exe":"/usr/bin/cat"' "$through")
as kt_alice bash -c "cat < '$M'" >"$W/cat.out"
check "cat < FILE reads it whole" cmp -s "$W/cat.out" "$PLAIN"
check "... and its first read is recorded naming cat, once" \
  test "$(records '"decision":"allow"' '"exe":"/usr/bin/cat"' "$through")" = $((before + 1))
as kt_alice /usr/bin/python3 -c 'import sys; open(sys.argv[1], "rb").read()' "$M"
check "the opener reading what it opened adds no record of a reader" \
  test "$(records '"exe":"/usr/bin/python3' "$through")" = 0
as kt_alice /lib64/ld-linux-x86-64.so.2 /usr/bin/cat "$M" >"$W/ldcat.out"
check "ld.so cat FILE reads it whole" cmp -s "$W/ldcat.out" "$PLAIN"
check "... and the opener under the loader adds no record of a reader" \
  test "$(records '"decision":"allow"' '"exe":"[^"]*ld-linux' "$through")" = 0
# A thread's open is recorded under its process id, not the thread's.
pid=$(as kt_alice /usr/bin/python3 -c '
import os, sys, threading
t = threading.Thread(target=lambda: open(sys.argv[1], "rb").read(1))
t.start(); t.join()
print(os.getpid())' "$M")
check "a thread's open is recorded with its process id ($pid)" \
  test "$(records '"event":"open"' '"decision":"allow"' "\"pid\":$pid,")" = 1
# ---- a descriptor passed to another listed user, who is then removed ----
# bob reads through alice's descriptor: judged at his first read as at an
# open; once he is removed, his next read is refused, though alice's
# handle stays open and she is still listed (a hostile review's finding:
# his verdict was kept for the life of the handle). carol holds the file
# open first, so alice's handle is a direct-I/O one (pagecache.c): each of
# its reads reaches the daemon with no attribute request before it.
make_user kt_bob
make_user kt_carol
require "kt_bob listed" quietly kuractl user add "$ID" kt_bob
require "kt_carol listed" quietly kuractl user add "$ID" kt_carol
as kt_carol /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print("holding", flush=True)
end = time.time() + 60
while not os.path.exists(sys.argv[2]) and time.time() < end:
    time.sleep(0.05)' "$M" "$W/bob-removed" >"$W/carol.out" 2>&1 &
CAROL=$!
on_exit "kill $CAROL 2>/dev/null"
require "carol holds the file open" wait_for 10 grep -q '^holding' "$W/carol.out"
as kt_bob /usr/bin/python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(1)
c, _ = s.accept()
_, fds, _, _ = socket.recv_fds(c, 16, 1)
os.pread(fds[0], 4096, 0)
print("first ok", flush=True)
end = time.time() + 60
while not os.path.exists(sys.argv[2]) and time.time() < end:
    time.sleep(0.05)
try:
    os.pread(fds[0], 4096, 150000)
    print("second ok", flush=True)
except OSError as e:
    print("second refused", e.errno, flush=True)' "$W/bob.sock" "$W/bob-removed" >"$W/bob.out" 2>&1 &
BOB=$!
on_exit "kill $BOB 2>/dev/null"
require "bob listens" wait_for 10 test -S "$W/bob.sock"
require "alice passes bob her descriptor" as kt_alice /usr/bin/python3 -c '
import os, socket, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[2])
socket.send_fds(s, [b"x"], [fd])' "$M" "$W/bob.sock"
check "bob reads through alice's descriptor while listed" wait_for 10 grep -q '^first ok' "$W/bob.out"
check "... his first read is recorded naming him" \
  test "$(records '"decision":"allow"' '"user":"kt_bob"' "$through")" = 1
require "bob removed" quietly kuractl user remove "$ID" kt_bob
touch "$W/bob-removed"
wait_for 10 grep -q '^second' "$W/bob.out"
check_output "bob removed: his next read through alice's descriptor is refused (EACCES)" '^second refused 13$' cat "$W/bob.out"
check "... and the refusal is recorded naming him" \
  test "$(records '"decision":"deny"' '"user":"kt_bob"' "$through")" -ge 1
check_output "the audit log verifies" "audit log verified" kuractl audit verify
stop_kura "$T/mnt"
done_testing
