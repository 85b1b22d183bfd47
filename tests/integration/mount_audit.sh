#!/usr/bin/env bash
# The audit log through a real mount (R-LOG-1, R-LOG-2, R-LOG-5): exactly one
# open record per open, allowed or denied, with the right user and reason;
# close records with the bytes read; a bulk-read alert; verify; and fail
# closed when the log cannot be written (disk full), resuming once it can.
. "$(dirname "$0")/lib.sh"

ID=JGAD000020
for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
sed -i 's|^bulk_read_multiple = .*|bulk_read_multiple = 1|' "$KCONF"
mkdir -p "$T/data" "$T/out" && chmod 0777 "$T/out"
head -c 100000 /dev/urandom >"$T/data/a.bin"
head -c 100000 /dev/urandom >"$T/data/b.bin"
chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
require "user add bob" kuractl user add "$ID" kt_bob
require "mount" mount_kura "$T/mnt"
M=$T/mnt/$ID
LOG=$KROOT/log/audit.jsonl
before=$(wc -l <"$LOG")

# N = 5 allowed opens, M = 3 denied ones
for i in 1 2 3; do as kt_alice cat "$M/a.bin" >/dev/null; done
for i in 1 2; do as kt_bob cat "$M/b.bin" >/dev/null; done
for i in 1 2; do as kt_carol cat "$M/a.bin" >/dev/null 2>&1; done
as kt_alice cp "$M/b.bin" "$T/out/b.copy" 2>/dev/null
closes_before=$(head -n "$before" "$LOG" | grep -c '"event":"close"')
wait_for 10 closes_logged "$((closes_before + 5))" . "$LOG"
new=$(tail -n +"$((before + 1))" "$LOG")
opens=$(grep '"event":"open"' <<<"$new")
check "exactly N + M = 8 open records" test "$(grep -c . <<<"$opens")" = 8
check "5 allowed" test "$(grep -c '"decision":"allow"' <<<"$opens")" = 5
check "3 denied" test "$(grep -c '"decision":"deny"' <<<"$opens")" = 3
check "alice: 3 allowed opens of a.bin" test "$(grep '"user":"kt_alice"' <<<"$opens" | grep '"path":"a.bin"' | grep -c '"decision":"allow"')" = 3
check "bob: 2 allowed opens of b.bin" test "$(grep '"user":"kt_bob"' <<<"$opens" | grep '"path":"b.bin"' | grep -c '"decision":"allow"')" = 2
check "carol: 2 denied, not listed" test "$(grep '"user":"kt_carol"' <<<"$opens" | grep -c '"reason":"not listed"')" = 2
check "alice's cp: denied by the guard, naming cp" bash -c "grep '\"user\":\"kt_alice\"' <<<'$opens' | grep '\"reason\":\"guard\"' | grep -q 'cp'"
check "open records name the executable and the command line" bash -c "grep '\"user\":\"kt_bob\"' <<<'$opens' | grep -q '\"exe\":\"/usr/bin/cat\".*\"cmdline\":\"cat '"
closes=$(grep '"event":"close"' <<<"$new")
check "5 close records" test "$(grep -c . <<<"$closes")" = 5
check "each close carries the bytes read (100000)" test "$(grep -c '"bytes":100000' <<<"$closes")" = 5
check "a bulk-read alert for alice, once" test "$(grep '"event":"alert"' <<<"$new" | grep -c '"user":"kt_alice"')" = 1
check "records carry time zone offsets" grep -q '"time":"[0-9-]*T[0-9:.]*+09:00"' <<<"$new"
check "kuractl audit verify: intact" kuractl audit verify
check_output "the PI sees her dataset's records" "a.bin" as kt_alice "$KURACTL" -c "$KCONF" audit --dataset "$ID"
check_output_fails "a listed user gets nothing" "only operators and the PI" as kt_bob "$KURACTL" -c "$KCONF" audit --dataset "$ID"

# ---- opens waiting for their record each hold a FUSE worker ----
# The test holds the audit log's lock (the head file's flock, as another
# writer would): the first open waits in flock, the others in the queue,
# each in a worker of its own. kurafs allows 32 workers, libfuse 10 by
# default; -o max_threads sets it (src/kurafs/cache_rules.h).
case $(uname -m) in aarch64) FLOCK_NR=32 FUTEX_NR=98 ;; *) FLOCK_NR=73 FUTEX_NR=202 ;; esac
waiting_threads() {
  cat /proc/"$KURAFS_PID"/task/*/syscall 2>/dev/null | awk -v a="$FLOCK_NR" -v b="$FUTEX_NR" '$1 == a || $1 == b' | wc -l
}
# held_opens N SECONDS: N opens of a.bin by alice while the log's lock is
# held for SECONDS; sets HELD to the most daemon threads seen waiting
# beyond those waiting before, and SERVED to how many cats read it all.
held_opens() {
  local n=$1 secs=$2 base lock i now pids=()
  base=$(waiting_threads)
  flock "$KROOT/log/.audit.jsonl.head" sleep "$secs" &
  lock=$!
  sleep 0.3
  for i in $(seq "$n"); do as kt_alice cat "$M/a.bin" >"$T/out/held.$i" 2>/dev/null & pids+=($!); done
  HELD=0
  for i in $(seq 1 $((secs * 10 - 5))); do
    now=$(($(waiting_threads) - base))
    ((now > HELD)) && HELD=$now
    sleep 0.1
  done
  wait "$lock" "${pids[@]}"
  SERVED=0
  for i in $(seq "$n"); do cmp -s "$T/out/held.$i" "$T/data/a.bin" && SERVED=$((SERVED + 1)); done
  rm -f "$T/out"/held.*
}
held_opens 12 3
check "12 opens waiting for the audit log: each in a worker of its own (more than libfuse's 10)" test "$HELD" -ge 12
check "... and each is served once the log is free" test "$SERVED" = 12
stop_kura "$T/mnt"
require "mount with -o max_threads=4" mount_kura "$T/mnt" -o max_threads=4
held_opens 12 3
check "-o max_threads=4: at most 4 opens wait in the daemon at once" test "$HELD" -le 4
check "... at least one does (the lock is held)" test "$HELD" -ge 1
check "... and each is served once the log is free" test "$SERVED" = 12
stop_kura "$T/mnt"

# ---- fail closed: the log on a full filesystem ----
mkdir -p "$T/small"
mount -t tmpfs -o size=256k tmpfs "$T/small"
on_exit "umount -l '$T/small'"
sed -e 's|^audit_log = .*|audit_log = '"$T"'/small/audit.jsonl|' "$KCONF" >"$T/full.conf"
KCONF=$T/full.conf
require "mount with the log on a small tmpfs" mount_kura "$T/mnt"
check "reads work while the log has room" as kt_alice cmp -s "$M/a.bin" "$T/data/a.bin"
dd if=/dev/zero of="$T/small/filler" bs=4k status=none 2>/dev/null
# The log's last page may still hold a few records: open until refused.
# Each open's record goes alone: a close is written by itself when no open
# follows within 10 ms (KURAFS_CLOSE_LINGER_MS), so the pause. Else the
# refused batch may be a lingering close and an open, and a lone open
# record could still fit where the two did not.
refused=0 leaked=0
for i in $(seq 1 40); do
  sleep 0.1
  if out=$(as kt_alice cat "$M/a.bin" 2>"$T/cat.err"); then continue; fi
  grep -q 'Input/output error' "$T/cat.err" && refused=1
  [ -n "$out" ] && leaked=1
  break
done
check "disk full: opens are refused with EIO" test "$refused" = 1
check "disk full: a refused open served nothing" test "$leaked" = 0
check_output_fails "disk full: the next open is refused too" "Input/output error" as kt_alice cat "$M/b.bin"
rm -f "$T/small/filler"
check "space freed: serving resumes" as kt_alice cmp -s "$M/a.bin" "$T/data/a.bin"
check "the log still verifies after the failures" kuractl audit verify
stop_kura "$T/mnt"
done_testing
