#!/usr/bin/env bash
# Hostile local users (issue 8). A non-root user, listed or not:
#  - cannot ptrace the daemon or read its memory (/proc/PID/mem,
#    process_vm_readv, ptrace attach via ctypes, gdb -p, strace -p), nor its
#    environ or maps (R-ENC-3: keys live in the daemon's memory);
#  - cannot reach a dataset they are not listed in through path tricks: "..",
#    symlinks made outside the mount pointing in, openat() relative to a
#    directory they may open, long names, odd names, NUL, very deep paths
#    (R-ACC-1); every refused attempt on an existing object is in the audit
#    log with the caller's uid (R-LOG-1);
#  - cannot flood the control socket into a denial of service for others:
#    many connections, oversized and malformed messages, slowloris; another
#    user's `kuractl status` still answers in time, and the daemon holds no
#    extra file descriptors afterwards.
. "$(dirname "$0")/lib.sh"

for u in kt_alice kt_bob kt_carol kt_dave; do make_user "$u"; done
# An operator: kurafs gives kura-admin's members slots of their own on the
# control socket (the group as it is when kurafs starts).
make_user kt_hop && make_group kura-admin
on_exit "gpasswd -d kt_hop kura-admin >/dev/null 2>&1"
usermod -a -G kura-admin kt_hop
require "kuractl init" kura_init
D1=JGAD700001 D2=JGAD700002
mkdir -p "$T/d1" "$T/d2"
head -c 100000 /dev/urandom >"$T/d1/mine.bin"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/d1/big.bin"
head -c 100000 /dev/urandom >"$T/d2/secret.bin"
require "dataset add $D1 (PI kt_alice)" kuractl dataset add "$D1" --pi kt_alice --period "$(day -1)..$(day 30)"
require "dataset add $D2 (PI kt_dave)" kuractl dataset add "$D2" --pi kt_dave --period "$(day -1)..$(day 30)"
require "import $D1" kuractl dataset import "$D1" --encrypt "$T/d1"
require "import $D2" kuractl dataset import "$D2" --encrypt "$T/d2"
require "user add bob to $D1" kuractl user add "$D1" kt_bob
require "mount" mount_kura "$T/mnt"
MNT=$T/mnt
PID=$KURAFS_PID
LOG=$KROOT/log/audit.jsonl
PY=/usr/bin/python3
WORK=$T/work
mkdir -p "$WORK" && chmod 0777 "$WORK"

# ---- the daemon's memory ----------------------------------------------------
cat >"$WORK/memory.py" <<'EOF'
import ctypes, errno, os, sys
pid = int(sys.argv[1]); what = sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
def result(rc):
    e = ctypes.get_errno()
    print("ok" if rc >= 0 else errno.errorcode.get(e, str(e)))
if what == "mem":
    try:
        fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
        print("ok", os.pread(fd, 16, 0x400000) is not None)
    except OSError as e:
        print(errno.errorcode[e.errno])
elif what == "ptrace":
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    result(libc.ptrace(16, pid, None, None))          # PTRACE_ATTACH
elif what == "seize":
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    result(libc.ptrace(0x4206, pid, None, None))      # PTRACE_SEIZE
elif what == "vm_readv":
    class iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    buf = ctypes.create_string_buffer(4096)
    # an address that is surely mapped: the start of its first mapping is
    # unknown to us (maps is unreadable), so try the usual PIE and heap bases
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 4096)
    remote = iovec(0x555555554000, 4096)
    libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    result(libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
elif what in ("environ", "maps", "smaps", "stack", "syscall", "auxv"):
    try:
        open("/proc/%d/%s" % (pid, what), "rb").read()
        print("ok")
    except OSError as e:
        print(errno.errorcode[e.errno])
EOF
for u in kt_carol kt_alice; do
  for what in mem ptrace seize vm_readv environ maps smaps stack syscall auxv; do
    got=$(as "$u" "$PY" "$WORK/memory.py" "$PID" "$what" 2>&1)
    case $got in
      EPERM | EACCES | ESRCH) ok "$u: $what of the daemon refused ($got)" ;;
      *) not_ok "$u: $what of the daemon refused (got: $got)" ;;
    esac
  done
  out=$(as "$u" timeout 20 gdb -q -batch -p "$PID" -ex 'info registers rip' 2>&1)
  check "$u: gdb -p cannot attach" bash -c "grep -q 'ptrace: Operation not permitted' <<<\"\$1\" && ! grep -q '^rip ' <<<\"\$1\"" _ "$out"
  check_output_fails "$u: strace -p cannot attach" "Operation not permitted" as "$u" timeout 20 strace -p "$PID" -e trace=none
done
check "the daemon survived the attempts" kill -0 "$PID"

# ---- path tricks -------------------------------------------------------------
# alice is the PI of D1 and nobody in D2. Every trick names D2's file some
# other way; each must fail without a byte, and each that reaches D2's node
# must leave a deny record with alice's uid and D2.
cat >"$WORK/paths.py" <<'EOF'
import errno, os, sys
mnt, d1, d2, trick = sys.argv[1:5]
links = sys.argv[5]
target = "%s/%s/secret.bin" % (mnt, d2)
def read(path, dir_fd=None):
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    data = os.read(fd, 1 << 20)
    os.close(fd)
    return data
try:
    if trick == "dotdot":
        data = read("%s/%s/../%s/secret.bin" % (mnt, d1, d2))
    elif trick == "dotdot-deep":
        data = read("%s/%s/%s/secret.bin" % (mnt, d1, "../" * 40 + mnt.lstrip("/") + "/" + d2))
    elif trick == "dot":
        data = read("%s/./%s/./secret.bin" % (mnt, d2))
    elif trick == "slashes":
        data = read("%s//%s///secret.bin" % (mnt, d2))
    elif trick == "openat-dotdot":
        dfd = os.open("%s/%s" % (mnt, d1), os.O_RDONLY | os.O_DIRECTORY)
        data = read("../%s/secret.bin" % d2, dir_fd=dfd)
    elif trick == "symlink-file":
        link = os.path.join(links, "to-file")
        os.symlink(target, link)
        data = read(link)
    elif trick == "symlink-dir":
        link = os.path.join(links, "to-dir")
        os.symlink("%s/%s" % (mnt, d2), link)
        data = read(link + "/secret.bin")
    elif trick == "symlink-chain":
        a, b = os.path.join(links, "a"), os.path.join(links, "b")
        os.symlink(b, a)
        os.symlink("%s/%s/../%s" % (mnt, d1, d2), b)
        data = read(a + "/secret.bin")
    elif trick == "listdir":
        data = ",".join(os.listdir("%s/%s" % (mnt, d2))).encode()
    elif trick == "stat":
        data = str(os.stat(target).st_size).encode()
    elif trick == "xattr":
        data = os.getxattr("%s/%s" % (mnt, d2), "system.posix_acl_access")
    elif trick == "long-name":
        data = read("%s/%s/%s" % (mnt, d2, "x" * 300))
    elif trick == "name-255":
        data = read("%s/%s/%s" % (mnt, d2, "y" * 255))
    elif trick == "long-dataset":
        data = read("%s/%s%s/secret.bin" % (mnt, d2, "0" * 250))
    elif trick == "name-4000":    # the kernel hands FUSE names far beyond 255 bytes
        data = read("%s/%s/%s" % (mnt, d1, "z" * 4000))
    elif trick == "deep":
        data = read("%s/%s/%s" % (mnt, d1, "a/" * 2000 + "secret.bin"))
    elif trick == "too-long-path":
        data = read("%s/%s/%s" % (mnt, d1, "b" * 200 + ("/" + "b" * 200) * 30))
    elif trick in ("nul", "nul-dataset"):
        data = read(target + "\0.txt" if trick == "nul" else "%s/%s\0%s/secret.bin" % (mnt, d1, d2))
    elif trick == "odd-names":
        hits = []
        for name in (d2 + " ", " " + d2, d2.lower(), d2 + "\n", d2 + "%00", d2 + "\t", "\uff2a" + d2[1:],
                     d2 + "/.", d2 + "/secret.bin/", d2 + "/secret.bin/.", d2 + "/secret.bin/..", "*", "?", "-",
                     d2 + "/SECRET.BIN", d2 + "/secret.bin\u200b", "\\" + d2):
            try:
                hits.append(read("%s/%s" % (mnt, name)))
            except (OSError, ValueError):
                pass
        data = b"".join(hits)
    else:
        print("BADTRICK"); sys.exit(0)
    print("GOT %d bytes" % len(data))
except ValueError as e:
    print("ValueError")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
LINKS=$WORK/links
mkdir -p "$LINKS" && chown kt_alice "$LINKS"
auid=$(id -u kt_alice)
# trick | what alice gets | reaches D2's node (so a deny record is due)
TRICKS="
dotdot        |ENOENT        |yes
dotdot-deep   |ENOENT        |yes
dot           |ENOENT        |yes
slashes       |ENOENT        |yes
openat-dotdot |ENOENT        |yes
symlink-file  |ENOENT        |yes
symlink-dir   |ENOENT        |yes
symlink-chain |ENOENT        |yes
listdir       |ENOENT        |yes
stat          |ENOENT        |yes
xattr         |ENOENT        |yes
long-name     |ENOENT        |yes
name-255      |ENOENT        |yes
long-dataset  |ENOENT        |no
name-4000     |ENOENT        |no
deep          |ENOENT        |no
too-long-path |ENAMETOOLONG  |no
nul           |ValueError    |no
nul-dataset   |ValueError    |no
odd-names     |GOT 0 bytes   |yes
"
while IFS='|' read -r trick want reaches; do
  [ -n "$trick" ] || continue
  trick=${trick// /} reaches=${reaches// /}
  want=$(sed 's/ *$//' <<<"$want")
  before=$(wc -l <"$LOG")
  got=$(as kt_alice "$PY" "$WORK/paths.py" "$MNT" "$D1" "$D2" "$trick" "$LINKS" 2>&1)
  if [ "$got" = "$want" ]; then ok "path trick $trick: $want"; else not_ok "path trick $trick: want $want, got $got"; fi
  if [ "$reaches" = yes ]; then
    n=$(tail -n +"$((before + 1))" "$LOG" | grep '"decision":"deny"' | grep "\"uid\":${auid}[,}]" | grep -c "\"dataset\":\"$D2\"")
    check "path trick $trick: refusal logged (uid $auid, $D2; $n record(s))" test "$n" -ge 1
  fi
done <<<"$TRICKS"
check "alice's own dataset still reads" as kt_alice cmp -s "$MNT/$D1/mine.bin" "$T/d1/mine.bin"
check "the mount holds only what was imported" test "$(as kt_alice ls -A "$MNT/$D1" | tr '\n' ' ')" = "big.bin mine.bin "
# The control socket tells an outsider no more than the mount: a dataset
# they may not manage and one that does not exist get the same refusal.
for cmd in "user list" ledger "report usage" "report destruction"; do
  # shellcheck disable=SC2086
  a=$(as kt_carol "$KURACTL" -c "$KCONF" $cmd "$D2" 2>&1; echo "exit $?")
  # shellcheck disable=SC2086
  b=$(as kt_carol "$KURACTL" -c "$KCONF" $cmd JGAD799999 2>&1; echo "exit $?")
  # (both must be the refusal itself: two identical errors of another kind prove nothing)
  check "kuractl $cmd: an existing dataset and a missing one look alike to an outsider" \
    bash -c '[ "$1" = "$2" ] && grep -q "only the PI of dataset ID or an operator may do this" <<<"$1" && [[ $1 == *"exit 1" ]]' \
    _ "${a//$D2/ID}" "${b//JGAD799999/ID}"
done
# A listed user's descriptor is the user's own: outsiders cannot borrow one
# through /proc (another user's /proc/PID/fd is closed to them).
# (setpriv itself in the background, not the `as` function: $! is then the
# reading process, as setpriv execs python)
setpriv --reuid=kt_bob --regid="$(id -g kt_bob)" --init-groups -- "$PY" -c "
import os, time
fd = os.open('$MNT/$D1/mine.bin', os.O_RDONLY)
os.dup2(fd, 9)
time.sleep(30)" &
holder=$!
on_exit "kill $holder"
# (-L, not -e: following the link would ask the mount as root, who is not listed)
for _ in $(seq 1 50); do [ -L "/proc/$holder/fd/9" ] && break; sleep 0.1; done
check "bob holds a descriptor of his file (/proc/$holder/fd/9)" test "$(readlink "/proc/$holder/fd/9")" = "$MNT/$D1/mine.bin"
check_output_fails "carol cannot open bob's descriptor through /proc/PID/fd" "Permission denied" \
  as kt_carol cat "/proc/$holder/fd/9"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# ---- a mapping outlives nothing: revocation reaches page faults (R-REV-4) ----
# A private read-only mapping is the one way past direct I/O into the page
# cache. When access may have ended the daemon drops the cached pages of
# every file opened since mount, so the next touch of any page of bob's
# mapping faults, reaches the daemon, is refused, and the kernel sends
# SIGBUS: a page he never touched ("new"), and one he read in full before
# ("cached"), after a removal and after his grant's end with nobody acting.
cat >"$WORK/mapper.py" <<'EOF2'
import mmap, os, sys, time
path, flag, mode = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_RDONLY)
m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
os.close(fd)                    # the mapping keeps the file open
if mode == "cached":
    m[:]                        # every page into the page cache
else:
    m[0]
print("mapped", flush=True)
while not os.path.exists(flag):
    time.sleep(0.02)
page = 0 if mode == "cached" else len(m) - 1
print("read after the end: %d" % m[page], flush=True)
EOF2
# map_then_end NAME MODE COMMAND...: bob maps big.bin, COMMAND ends his
# access, then he touches a page; he must get SIGBUS and no byte.
map_then_end() {
  local name=$1 mode=$2 mapper rc
  shift 2
  rm -f "$WORK/mapflag" "$WORK/mapper.out"
  setpriv --reuid=kt_bob --regid="$(id -g kt_bob)" --init-groups -- "$PY" "$WORK/mapper.py" "$MNT/$D1/big.bin" \
    "$WORK/mapflag" "$mode" >"$WORK/mapper.out" 2>&1 &
  mapper=$!
  on_exit "kill $mapper"
  for _ in $(seq 1 100); do grep -q mapped "$WORK/mapper.out" 2>/dev/null && break; sleep 0.05; done
  check "$name: bob maps his file (MAP_PRIVATE) and reads it ($mode)" grep -q mapped "$WORK/mapper.out"
  "$@"
  touch "$WORK/mapflag"
  wait "$mapper"; rc=$?
  check "$name: bob's next touch of a $mode page is refused (SIGBUS, status $rc)" test "$rc" = 135
  check "$name: ... and served nothing" bash -c "! grep -q 'after the end' '$WORK/mapper.out'"
}
map_then_end "user remove" new kuractl user remove "$D1" kt_bob
require "user add bob again" kuractl user add "$D1" kt_bob
map_then_end "user remove" cached kuractl user remove "$D1" kt_bob
end=$(date -d '+4 seconds' --iso-8601=seconds)
require "user add bob until $end" kuractl user add "$D1" kt_bob --until "$end"
wait_end() { while [ "$(date +%s)" -le "$(date -d "$end" +%s)" ]; do sleep 0.1; done; sleep 0.3; }
map_then_end "grant end" cached wait_end
require "user remove bob (ended grant)" kuractl user remove "$D1" kt_bob
require "user add bob again" kuractl user add "$D1" kt_bob

# ---- the control socket under attack -----------------------------------------
SOCK=$KROOT/run/ctl.sock
fds() { ls /proc/"$PID"/fd | wc -l; }
# status_time USER: seconds (3 decimals) for USER's kuractl status, or FAIL
status_time() {
  local s e
  s=$EPOCHREALTIME
  if as "$1" timeout 20 "$KURACTL" -c "$KCONF" status >/dev/null 2>"$WORK/status.err"; then
    e=$EPOCHREALTIME; echo "$s $e" | awk '{printf "%.3f", $2 - $1}'
  else echo FAIL; fi
}
in_time() { [ "$1" != FAIL ] && awk -v t="$1" 'BEGIN {exit !(t < 2.0)}'; }
base_fds=$(fds)
t=$(status_time kt_bob)
check "bob's status answers ($t s) before the attack" in_time "$t"

cat >"$WORK/flood.py" <<'EOF'
import os, socket, struct, sys, time
sock, mode = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    return s
def answer(s, timeout=10):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
    except socket.timeout:
        return "TIMEOUT"
    except OSError as e:
        return "ERR " + str(e)
    if len(data) < 12:
        return "SHORT %r" % data
    status, olen, elen = struct.unpack("<iII", data[:12])
    return "%d %s" % (status, data[12 + olen:12 + olen + elen].decode(errors="replace").strip())
def body(args):
    b = struct.pack("<II", 0, len(args))
    for a in args:
        b += struct.pack("<I", len(a)) + a
    return b
if mode == "idle":                      # hold N connections open, send nothing
    n, hold = int(sys.argv[3]), float(sys.argv[4])
    conns, refused = [], 0
    for i in range(n):
        try:
            conns.append(conn())
        except OSError:
            refused += 1
    time.sleep(hold)
    answers = [answer(s, 1) for s in conns]
    busy = sum("busy" in a for a in answers)
    timed = sum("not received in time" in a for a in answers)
    print("connections=%d connect_refused=%d busy=%d timed_out=%d other=%d" % (len(conns), refused, busy, timed,
          len(answers) - busy - timed))
elif mode == "slowloris":               # a valid request, one byte at a time
    n, gap = int(sys.argv[3]), float(sys.argv[4])
    msg = body([b"status"]); frame = struct.pack("<I", len(msg)) + msg
    conns = [conn() for i in range(n)]
    cut = 0
    t0 = time.monotonic()
    for i in range(len(frame)):
        for s in conns:
            try:
                s.send(frame[i:i + 1])
            except OSError:
                cut += 1
        time.sleep(gap)
        if time.monotonic() - t0 > 12:
            break
    print("slowloris: " + "; ".join(sorted(set(answer(s, 2) for s in conns))))
elif mode == "verify-path":             # n requests at once naming a file, its text not sent
    n, path = int(sys.argv[3]), sys.argv[4].encode()
    msg = body([b"report", b"verify", path]); frame = struct.pack("<I", len(msg)) + msg
    conns = [conn() for i in range(n)]
    for s in conns:
        s.send(frame)
    print("\n".join(sorted(set(answer(s, 10) for s in conns))))   # one line: every answer the same
elif mode == "churn":                   # connect and drop, as fast as possible
    n = int(sys.argv[3])
    for i in range(n):
        try:
            s = conn(); s.close()
        except OSError:
            pass
    print("churned %d" % n)
elif mode == "frame":                   # one crafted frame, print the answer
    kind = sys.argv[3]
    s = conn()
    if kind == "huge-length":
        s.send(struct.pack("<I", 0xFFFFFFFF))
    elif kind == "over-limit":
        s.send(struct.pack("<I", 64 * 1024 + 1) + b"\0" * 1024)
    elif kind == "many-args":
        s.send(struct.pack("<III", 8, 0, 1000000))
    elif kind == "long-arg":
        b = struct.pack("<III", 0, 1, 5000) + b"a" * 5000
        s.send(struct.pack("<I", len(b)) + b)
    elif kind == "nul-arg":
        b = body([b"status\0x"])
        s.send(struct.pack("<I", len(b)) + b)
    elif kind == "bad-flags":
        b = struct.pack("<II", 0xFFFF, 0)
        s.send(struct.pack("<I", len(b)) + b)
    elif kind == "truncated":
        b = body([b"status"])[:-2]
        s.send(struct.pack("<I", len(b)) + b)
    elif kind == "trailing":
        b = body([b"status"]) + b"junk"
        s.send(struct.pack("<I", len(b)) + b)
    elif kind == "garbage":
        s.send(os.urandom(4096))
    elif kind == "empty":
        s.send(struct.pack("<I", 0))
    elif kind in ("input-over", "input-short"):     # a report's text announced after the request
        b = struct.pack("<II", 2, 3)
        for a in (b"report", b"verify", b"r.md"):
            b += struct.pack("<I", len(a)) + a
        s.send(struct.pack("<I", len(b)) + b)
        s.send(struct.pack("<I", 0x10000000) if kind == "input-over" else struct.pack("<I", 100) + b"abc")
    print(answer(s))
EOF
# crafted frames: each answered at once with a one-line refusal, nothing served
FRAMES="
huge-length |2 kura: request is too long
over-limit  |2 kura: request is too long
many-args   |2 kura: bad request: too many arguments
long-arg    |2 kura: bad request: argument 1 is too long
nul-arg     |2 kura: bad request: argument 1 contains a NUL byte
bad-flags   |2 kura: bad request: request has unknown flags
truncated   |2 kura: bad request: request is truncated
trailing    |2 kura: bad request: request has 4 trailing bytes
garbage     |2 kura:
empty       |2 kura: bad request: request is truncated
input-over  |2 kura: the request's input is too long
input-short |1 kuractl report verify: r.md: its text did not arrive whole
"
while IFS='|' read -r kind want; do
  [ -n "$kind" ] || continue
  kind=${kind// /}
  got=$(as kt_carol timeout 30 "$PY" "$WORK/flood.py" "$SOCK" frame "$kind" 2>&1)
  if [[ $got == "$want"* ]]; then ok "control socket: $kind frame refused: $got"
  else not_ok "control socket: $kind frame refused: want '$want...', got '$got'"; fi
done <<<"$FRAMES"

# 200 idle connections held for 7 s (longer than the 5 s request deadline)
as kt_carol timeout 60 "$PY" "$WORK/flood.py" "$SOCK" idle 200 7 >"$WORK/idle.out" 2>&1 &
flood=$!
sleep 1.5
t=$(status_time kt_bob)
check "bob's status answers ($t s) while carol holds 200 connections" in_time "$t"
t=$(status_time kt_alice)
check "alice's status answers ($t s) while carol holds 200 connections" in_time "$t"
# root's direct change reaches the daemon (its reload request) despite the flood
kuractl user remove "$D1" kt_bob >"$WORK/remove.out" 2>&1
check "root's user remove during the flood: no reload warning" bash -c "! grep -q warning '$WORK/remove.out'"
check_fails "... and bob is refused at once" as kt_bob cat "$MNT/$D1/mine.bin"
kuractl user add "$D1" kt_bob >/dev/null
wait "$flood"
idle=$(cat "$WORK/idle.out")
diag "idle flood: $idle"
check "carol got at most 4 workers, the rest were told the daemon is busy" \
  bash -c "[[ '$idle' =~ busy=([0-9]+)\ timed_out=([0-9]+)\ other=0 ]] && [ \${BASH_REMATCH[2]} -le 4 ] && [ \${BASH_REMATCH[1]} -ge 150 ]"

# slowloris: 6 connections trickling a valid request, one byte per 0.4 s
as kt_carol timeout 60 "$PY" "$WORK/flood.py" "$SOCK" slowloris 6 0.4 >"$WORK/slow.out" 2>&1 &
slow=$!
sleep 1.5
t=$(status_time kt_bob)
check "bob's status answers ($t s) during a slowloris by carol" in_time "$t"
wait "$slow"
slowout=$(cat "$WORK/slow.out")
diag "$slowout"
check "the slow requests were cut at the deadline, none served" \
  bash -c "grep -q 'not received in time' <<<'$slowout' && ! grep -q '^slowloris: 0 ' <<<'$slowout'"

# connection churn from 4 processes, while bob asks
churners=()
for _ in 1 2 3 4; do as kt_carol timeout 60 "$PY" "$WORK/flood.py" "$SOCK" churn 3000 >/dev/null 2>&1 & churners+=($!); done
sleep 0.5
worst=0 fails=0
for _ in 1 2 3 4 5; do
  t=$(status_time kt_bob)
  if in_time "$t"; then worst=$(awk -v a="$worst" -v b="$t" 'BEGIN {print (b > a) ? b : a}'); else fails=$((fails + 1)); fi
done
wait "${churners[@]}"
check "bob's status answers during connection churn by carol (5 tries, worst $worst s, $fails late or failed)" test "$fails" = 0

# report verify FILE: kuractl reads FILE with the caller's rights and sends
# its text; the daemon opens no path a caller names. A FIFO there would
# have held a worker for ever (waiting for a writer): 4 users x 4 requests
# would have taken every slot, and the daemon's stop would never end.
mkfifo -m 0666 "$WORK/pipe"
s=$EPOCHREALTIME
check_output_fails "report verify of a FIFO: refused by kuractl, without waiting for a writer" "not a regular file" \
  as kt_carol timeout 20 "$KURACTL" -c "$KCONF" report verify "$WORK/pipe"
check "... at once" awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN {exit !(e - s < 5)}'
holders=()
for u in kt_alice kt_bob kt_carol kt_dave; do
  as "$u" timeout 60 "$PY" "$WORK/flood.py" "$SOCK" verify-path 4 "$WORK/pipe" >"$WORK/verify.$u" 2>&1 &
  holders+=($!)
done
wait "${holders[@]}"
want="1 kuractl report verify: $WORK/pipe: the request did not carry the report's text"
for u in kt_alice kt_bob kt_carol kt_dave; do
  got=$(cat "$WORK/verify.$u")
  name="$u's 4 raw requests naming the FIFO are all answered so, the file unopened: $got"
  if [[ $got == "$want"* && $(wc -l <"$WORK/verify.$u") = 1 ]]; then ok "$name"; else not_ok "$name"; fi
done

# 4 users hold 8 idle connections each: every user slot is taken (16), and
# root's and an operator's requests still get through on slots of their own
flooders=()
for u in kt_alice kt_bob kt_carol kt_dave; do
  as "$u" timeout 60 "$PY" "$WORK/flood.py" "$SOCK" idle 8 4 >/dev/null 2>&1 & flooders+=($!)
done
sleep 1.5
check_output_fails "while users hold every slot, a user is told the daemon is busy" "busy" \
  as kt_carol "$KURACTL" -c "$KCONF" status
kuractl user remove "$D1" kt_bob >"$WORK/remove2.out" 2>&1
check "... and root's user remove reaches the daemon (no reload warning)" bash -c "! grep -q warning '$WORK/remove2.out'"
check_fails "... bob is refused at once" as kt_bob cat "$MNT/$D1/mine.bin"
check "... and an operator's status reaches the daemon (kura-admin: slots of their own)" \
  as kt_hop "$KURACTL" -c "$KCONF" status
wait "${flooders[@]}"
kuractl user add "$D1" kt_bob >/dev/null

# afterwards: alive, serving, no descriptor left behind
sleep 1
t=$(status_time kt_alice)
check "the daemon still answers after the attacks ($t s)" in_time "$t"
check "the mount still serves" as kt_bob cmp -s "$MNT/$D1/mine.bin" "$T/d1/mine.bin"
for _ in $(seq 1 50); do [ "$(fds)" -le "$base_fds" ] && break; sleep 0.2; done
check "no file descriptor left behind (before $base_fds, after $(fds))" test "$(fds)" -le "$base_fds"
stop_kura "$MNT"
done_testing
