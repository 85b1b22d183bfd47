#!/usr/bin/env bash
# A crashed daemon (issue 8): kurafs killed -9 while readers are in the
# middle of reading. Every reader gets an error (ECONNABORTED for the read
# in flight, ENOTCONN "Transport endpoint is not connected" after) within
# seconds instead of hanging, no reader got a wrong byte before the crash,
# new opens fail with ENOTCONN, and the dead mount is unmounted
# (fusermount3 -u) and mounted again cleanly; the audit log, cut by the
# crash, still verifies (R-LOG-2). Repeated a few times so the kill lands at
# different moments.
. "$(dirname "$0")/lib.sh"

ROUNDS=${CRASH_ROUNDS:-3}
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
D=JGAD800001
mkdir -p "$T/data" "$T/out" && chmod 0777 "$T/out"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$T/data/big.bin"
chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$D" --encrypt "$T/data"
require "user add bob" kuractl user add "$D" kt_bob

# reader.py MOUNTED PLAIN OUT: reads random 64 KiB ranges until an error;
# writes "reads=N wrong=N short=N lastshort=N error=ERRNO" to OUT and exits.
# A read the crash cuts may return fewer bytes than asked (POSIX allows it:
# the kernel returns what its requests answered before the connection
# ended); such a read is "short", not wrong, when every byte it returned is
# right. lastshort says the reader's last read before its error was short:
# a short read followed by a good one is a fault of its own.
cat >"$T/reader.py" <<'EOF'
import errno, os, random, sys
mounted, plain, out = sys.argv[1:4]
want = open(plain, "rb").read()
reads = wrong = short = lastshort = 0
err = "none"
try:
    fd = os.open(mounted, os.O_RDONLY)
    while reads < 10 ** 7:
        off = random.randrange(0, len(want))
        got = os.pread(fd, 65536, off)
        reads += 1
        expect = want[off:off + 65536]
        lastshort = 0
        if got == expect:
            continue
        if len(got) < len(expect) and expect.startswith(got):
            short += 1
            lastshort = 1
        else:
            wrong += 1
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
with open(out, "w") as f:
    f.write("reads=%d wrong=%d short=%d lastshort=%d error=%s\n" % (reads, wrong, short, lastshort, err))
EOF

M=$T/mnt
for r in $(seq 1 "$ROUNDS"); do
  require "round $r: mount" mount_kura "$M"
  rm -f "$T/out"/*.res
  readers=()
  for i in $(seq 1 8); do
    u=kt_alice; [ $((i % 2)) = 0 ] && u=kt_bob
    setpriv --reuid=$u --regid="$(id -g $u)" --init-groups -- /usr/bin/python3 "$T/reader.py" \
      "$M/$D/big.bin" "$T/data/big.bin" "$T/out/$i.res" &
    readers+=($!)
  done
  # let them read for a random while, then crash the daemon
  sleep "0.$((RANDOM % 5 + 3))"
  started=0
  for p in "${readers[@]}"; do kill -0 "$p" 2>/dev/null && started=$((started + 1)); done
  kill -9 "$KURAFS_PID"
  t0=$EPOCHREALTIME
  hung=0
  for p in "${readers[@]}"; do
    timeout 15 tail --pid="$p" -f /dev/null || { hung=$((hung + 1)); kill -9 "$p" 2>/dev/null; }
    wait "$p" 2>/dev/null
  done
  secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}')
  wait "$KURAFS_PID" 2>/dev/null
  check "round $r: all 8 readers (reading when killed: $started) ended within ${secs}s, none hung" test "$hung" = 0
  res=$(cat "$T/out"/*.res 2>/dev/null)
  # the connection's end: ECONNABORTED for a request in flight, ENOTCONN after
  check "round $r: every reader got an error (ENOTCONN or ECONNABORTED)" \
    test "$(grep -cE 'error=(ENOTCONN|ECONNABORTED)$' <<<"$res")" = 8
  grep -vE 'error=(ENOTCONN|ECONNABORTED)$' <<<"$res" | sed 's/^/# /'
  check "round $r: no wrong byte before the crash ($(awk -F'[ =]' '{s += $2} END {print s}' <<<"$res") reads)" \
    test "$(grep -c 'wrong=0 ' <<<"$res")" = 8
  # a short read only as the read the crash cut: at most one, the last
  check "round $r: a short read only as a reader's last ($(awk -F'[ =]' '{s += $6} END {print s}' <<<"$res") short)" \
    test "$(grep -cE 'short=(0 lastshort=0|1 lastshort=1) ' <<<"$res")" = 8
  grep -vE 'wrong=0 short=(0 lastshort=0|1 lastshort=1) ' <<<"$res" | sed 's/^/# /'
  check_output_fails "round $r: a new open says the transport is gone" "Transport endpoint is not connected" \
    as kt_alice cat "$M/$D/big.bin"
  check "round $r: fusermount3 -u unmounts the dead mount" fusermount3 -u "$M"
  check "round $r: the audit log verifies after the crash" kuractl audit verify
done
require "mount again" mount_kura "$M"
check "after the crashes: the file reads whole and right" as kt_bob cmp -s "$M/$D/big.bin" "$T/data/big.bin"
check "after the crashes: root (not listed) still sees nothing" lists_nothing root "$M"
stop_kura "$M"
check "the audit log verifies at the end" kuractl audit verify
done_testing
