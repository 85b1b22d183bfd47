#!/usr/bin/env bash
# Floods of refusals and a full audit log (issue 14), as hostile real users
# through a real mount:
# - one full copy of a dataset (every file read once) raises the bulk-read
#   alert (R-CPY-4);
# - 8 processes of one unlisted user flooding refused operations for 60 s
#   (mkdir of a 255-byte name and of made-up dataset ids, chmod of the root,
#   lookups alternating between two dataset ids)
#   grow the log by less than 2 MB, every refusal is counted (one by one or
#   in "refusals" summaries), one refusal-flood alert reaches notify_command,
#   and a listed user's opens during the flood all succeed with their allow
#   records (R-LOG-1);
# - refusals cannot take the reserve: with the log's file system down to it,
#   opens and closes are still recorded and served;
# - a handle whose records cannot be written stops being served: reads fail
#   while the log cannot be written, and for good once its bulk-read alert
#   could not be written, well before a second copy of the dataset.
. "$(dirname "$0")/lib.sh"

FLOOD_SECONDS=${FLOOD_SECONDS:-60}
PY=/usr/bin/python3
for u in kt_alice kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
record_notices "$T/notified.txt"
D1=JGAD600001 D2=JGAD600002
mkdir -p "$T/d1" "$T/d2"
for i in 1 2 3; do head -c 100000 /dev/urandom >"$T/d1/f$i.bin"; done
head -c 200000 /dev/urandom >"$T/d2/g.bin"
chmod -R a+rX "$T/d1" "$T/d2"
for d in $D1 $D2; do
  require "dataset add $d" kuractl dataset add "$d" --pi kt_alice --period "$(day -1)..$(day 30)"
done
require "import $D1 (3 files of 100000 bytes)" kuractl dataset import "$D1" --encrypt "$T/d1"
require "import $D2 (1 file of 200000 bytes)" kuractl dataset import "$D2" --encrypt "$T/d2"
LOG=$KROOT/log/audit.jsonl
# count_json FILE-FILTER...: sums the "count" members of the lines on stdin
sum_counts() { grep -o '"count":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s + 0}'; }
# The daemon's metrics count every refusal it sees, by reason, before the
# flood bound decides between a record and a summary; the file a stopped
# daemon leaves is the reference that nothing was lost. Refused lookups of
# missing names (made-up ids, the long name) are refusals too, so the
# writes alone cannot be that reference.
PROM=$T/prom/kura.prom
mkdir -p "$T/prom"
sed -i -e "s|^textfile =.*|textfile = $PROM|" -e 's|^interval_seconds = .*|interval_seconds = 1|' "$KCONF"
# compare LOG NAME: "METRIC AUDIT" for NAME (all_refusals, or a reason's
# counter), from the metrics file and LOG since the daemon's last start.
compare() { "$KURA_USER_BIN/prom_vs_audit.py" "$PROM" "$1" | awk -v n="$2" '$1 == n {sub("metrics=", "", $2); sub("audit=", "", $3); print $2, $3}'; }
# other_write_refusals LOG: write refusals of users other than kt_carol since the last start.
other_write_refusals() { tac "$1" | sed '/"event":"start"/q' | grep '"event":"write-denied"' | grep -vc '"user":"kt_carol"'; }

# ---- one full copy raises the bulk-read alert (default threshold) ----------
require "mount" mount_kura "$T/mnt"
M=$T/mnt
before=$(wc -l <"$LOG")
for i in 1 2; do as kt_alice cat "$M/$D1/f$i.bin" >/dev/null; done
check "two thirds of the dataset read: no bulk-read alert yet" \
  test "$(tail -n +"$((before + 1))" "$LOG" | grep -c '"reason":"bulk read"')" = 0
as kt_alice cat "$M/$D1/f3.bin" >/dev/null
check "every file read once with cat: one bulk-read alert for kt_alice" \
  test "$(tail -n +"$((before + 1))" "$LOG" | grep '"reason":"bulk read"' | grep -c '"user":"kt_alice"')" = 1

# ---- the PI's view: bidirectional controls escaped, pages ------------------
as kt_alice mkdir "$M/$D1/evil$(printf '\xe2\x80\xae')txt.bam" 2>/dev/null
as kt_alice "$KURACTL" -c "$KCONF" audit --dataset "$D1" >"$T/view.txt" 2>&1
check "PI view: a U+202E in a refused path is shown escaped (\\u202e)" grep -q 'evil\\u202etxt.bam' "$T/view.txt"
check "PI view: ... never raw" bash -c "! grep -q \$'\\xe2\\x80\\xae' '$T/view.txt'"
as kt_alice "$KURACTL" -c "$KCONF" audit --dataset "$D1" --json >"$T/view.json" 2>&1
check "PI view --json: escaped too, never raw" bash -c "grep -q 'u202e' '$T/view.json' && ! grep -q \$'\\xe2\\x80\\xae' '$T/view.json'"
total=$(grep -c '"seq"' "$T/view.json")
as kt_alice "$KURACTL" -c "$KCONF" audit --dataset "$D1" --json --limit 3 >"$T/page1" 2>"$T/page1.err"
next=$(grep -o 'continue with --after [0-9]*' "$T/page1.err" | grep -o '[0-9]*$')
check "PI view: --limit 3 gives a page of 3 and says where to go on (--after ${next:-none})" \
  test "$(grep -c '"seq"' "$T/page1")" = 3 -a -n "$next"
check "PI view: the page ends at the record it names" grep -q "\"seq\":$next," <(tail -n 1 "$T/page1")
as kt_alice "$KURACTL" -c "$KCONF" audit --dataset "$D1" --json --after "${next:-0}" >"$T/page2" 2>&1
check "PI view: --after it gives the rest ($total in all)" \
  bash -c "cat '$T/page1' '$T/page2' | cmp -s - '$T/view.json'"

# ---- 8 processes of an outsider flood refusals for 60 s ----------------------
cat >"$T/flood.py" <<'EOF'
import errno, os, sys, time
mnt, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
long_name = os.path.join(mnt, "x" * 255)
ids = [os.path.join(mnt, d) for d in sys.argv[4:]]
refused = other = ops = 0
end = time.monotonic() + seconds
stop = out + ".stop"  # the test may end the flood early by creating it
while time.monotonic() < end and not os.path.exists(stop):
    made_up = os.path.join(mnt, "JGAD%06d" % (ops % 1000000))  # a new dataset-like name each time
    for op in (lambda: os.mkdir(long_name), lambda: os.chmod(mnt, 0o777), lambda: os.mkdir(made_up)):
        try:
            op()
            other += 1
        except OSError as e:
            if e.errno == errno.EROFS:
                refused += 1
            else:
                other += 1
    for p in ids:  # lookups alternating between existing dataset ids
        try:
            os.stat(p)
        except OSError:
            pass
    ops += 1
with open(out, "w") as f:
    f.write("%d %d %d\n" % (refused, other, ops))
EOF
mkdir -p "$T/flood" && chmod 0777 "$T/flood"
size_before=$(stat -c %s "$LOG")
allow_before=$(grep '"user":"kt_alice"' "$LOG" | grep '"event":"open"' | grep -c '"decision":"allow"')
pids=()
for i in $(seq 1 8); do
  as kt_carol "$PY" "$T/flood.py" "$M" "$FLOOD_SECONDS" "$T/flood/$i" $D1 $D2 &
  pids+=($!)
done
# a listed user opens a file every 0.2 s during the flood
opens=0 opens_ok=0
end=$((SECONDS + FLOOD_SECONDS))
while [ "$SECONDS" -lt "$end" ]; do
  opens=$((opens + 1))
  as kt_alice cmp -s "$M/$D1/f1.bin" "$T/d1/f1.bin" && opens_ok=$((opens_ok + 1))
  sleep 0.2
done
for p in "${pids[@]}"; do wait "$p"; done
attempts=$(cat "$T/flood"/* | awk '{s += $1} END {print s + 0}')
others=$(cat "$T/flood"/* | awk '{s += $2} END {print s + 0}')
stop_kura "$T/mnt" # writes the summaries still due
growth=$(($(stat -c %s "$LOG") - size_before))
tail -c +"$((size_before + 1))" "$LOG" | grep '"user":"kt_carol"' >"$T/carol.jsonl"
one_by_one=$(grep '"event":"write-denied"' "$T/carol.jsonl" | grep -vc '"dataset"')
summarised=$(grep '"event":"refusals"' "$T/carol.jsonl" | grep -v '"dataset"' | sum_counts)
allow_after=$(grep '"user":"kt_alice"' "$LOG" | grep '"event":"open"' | grep -c '"decision":"allow"')
diag "flood: 8 processes x ${FLOOD_SECONDS} s: $attempts refused writes ($others other outcomes), log grew by $growth bytes" \
  "flood: $one_by_one write refusals recorded one by one, $summarised counted in summaries" \
  "flood: kt_alice: $opens_ok of $opens opens served, $((allow_after - allow_before)) allow records"
check "flood: the processes were refused (EROFS) many times ($attempts)" test "$attempts" -gt 1000
check "flood: the log grew by less than 2 MB ($growth bytes)" test "$growth" -lt 2000000
read -r all_metric all_log < <(compare "$LOG" all_refusals)
read -r ro_metric _ < <(compare "$LOG" 'kura_refusals_total{reason="read_only"}')
check "flood: every refused write reached the daemon's count ($ro_metric = $attempts + $(other_write_refusals "$LOG") by others)" \
  test "$ro_metric" = "$((attempts + $(other_write_refusals "$LOG")))"
check "flood: every refusal is recorded one by one or in a summary ($all_metric counted, $all_log in the log)" \
  test -n "$all_metric" -a "$all_metric" = "$all_log"
check "flood: the refused writes are among them ($one_by_one + $summarised >= $attempts)" \
  test "$((one_by_one + summarised))" -ge "$attempts"
check "flood: each dataset id probed has its summary, in the PI's view" \
  bash -c "grep '\"event\":\"refusals\"' '$T/carol.jsonl' | grep -q '\"dataset\":\"$D1\"' &&
           grep '\"event\":\"refusals\"' '$T/carol.jsonl' | grep -q '\"dataset\":\"$D2\"'"
check "flood: one refusal-flood alert for kt_carol" \
  test "$(grep '"event":"alert"' "$T/carol.jsonl" | grep -c '"reason":"refusal flood"')" = 1
check "flood: notify_command ran once for it" test "$(grep -c 'KURA_EVENT=refusal-flood' "$T/notified.txt" 2>/dev/null)" = 1
check "flood: every open of the listed user during the flood succeeded ($opens_ok of $opens)" \
  test "$opens_ok" = "$opens" -a "$opens" -gt "$((FLOOD_SECONDS * 2))"
check "flood: ... each with its allow record" test "$((allow_after - allow_before))" -ge "$opens"
check "flood: the log verifies, summaries included" kuractl audit verify
require "mount again" mount_kura "$T/mnt"
check_output "flood: the PI sees the summaries of her dataset" "refusals .*$D1.*count: [0-9]+" \
  as kt_alice "$KURACTL" -c "$KCONF" audit --dataset "$D1"
d1_refused=$(($(grep '"event":"open"' "$T/carol.jsonl" | grep '"decision":"deny"' | grep -c "\"dataset\":\"$D1\"") +
  $(grep '"event":"refusals"' "$T/carol.jsonl" | grep "\"dataset\":\"$D1\"" | sum_counts)))
check_output "flood: the usage report counts kt_carol's summarised refusals too ($d1_refused)" "^kt_carol,.*,$d1_refused," \
  as kt_alice "$KURACTL" -c "$KCONF" report usage "$D1" --csv
stop_kura "$T/mnt"

# ---- the reserve: refusals stop short of it ---------------------------------
L=$T/logfs
mkdir -p "$L"
require "mount an 8 MiB tmpfs for the log" mount -t tmpfs -o size=8m tmpfs "$L"
on_exit "umount -l '$L'"
sed -e "s|^audit_log = .*|audit_log = $L/audit.jsonl|" -e 's|^reserve_mb = .*|reserve_mb = 2|' \
  -e 's|^refusals_per_hour = .*|refusals_per_hour = 1000000|' "$KCONF" >"$T/reserve.conf"
KCONF=$T/reserve.conf
require "mount with the log on it (reserve 2 MiB, no bound per user)" mount_kura "$T/mnt"
rm -f "$T/flood"/*
# One process floods until the log's file system is down to the reserve (its
# pace varies with the machine: a fixed time did not always get there), then
# 3 s more, so some refusals are held back.
avail_kb() { df -k --output=avail "$L" | tail -n 1; }
as kt_carol "$PY" "$T/flood.py" "$M" 300 "$T/flood/r" &
flood_pid=$!
for _ in $(seq 1 2400); do
  [ "$(avail_kb)" -gt 2400 ] && kill -0 "$flood_pid" 2>/dev/null || break
  sleep 0.1
done
check "reserve: the flood brought the log's file system down to the reserve ($(avail_kb) KiB free)" test "$(avail_kb)" -le 2400
sleep 3
touch "$T/flood/r.stop"
wait "$flood_pid"
free_kb=$(avail_kb)
diag "reserve: $(cut -d' ' -f1 "$T/flood/r") refusals; $free_kb KiB left free on the log's file system"
check "reserve: the refusals stopped short of the last 2 MiB ($free_kb KiB free)" test "$free_kb" -ge 1900
served=0
for i in $(seq 1 20); do as kt_alice cmp -s "$M/$D1/f2.bin" "$T/d1/f2.bin" && served=$((served + 1)); done
check "reserve: the listed user's 20 opens are all served" test "$served" = 20
wait_for 10 closes_logged 20 '"path":"f2.bin"' "$L/audit.jsonl"
check "reserve: ... with 20 allow and 20 close records" bash -c \
  "[ \$(grep '\"path\":\"f2.bin\"' '$L/audit.jsonl' | grep -c '\"decision\":\"allow\"') = 20 ] &&
   [ \$(grep '\"path\":\"f2.bin\"' '$L/audit.jsonl' | grep -c '\"event\":\"close\"') = 20 ]"
mount -o remount,size=24m "$L"
stop_kura "$T/mnt"
recorded=$(grep '"user":"kt_carol"' "$L/audit.jsonl" | grep '"event":"write-denied"' | grep -vc '"dataset"')
counted=$(grep '"event":"refusals"' "$L/audit.jsonl" | grep '"user":"kt_carol"' | grep -v '"dataset"' | sum_counts)
read -r all_metric all_log < <(compare "$L/audit.jsonl" all_refusals)
check "reserve: the refusals held back were counted, and summarised once there was room ($all_metric counted, $all_log in the log: $recorded writes one by one, $counted summarised)" \
  test -n "$all_metric" -a "$all_metric" = "$all_log" -a "$counted" -gt 0 -a "$((recorded + counted))" -ge "$(cut -d' ' -f1 "$T/flood/r")"
check "reserve: the log verifies" kuractl audit verify

# ---- reads through an open file when the log cannot be written -------------
S=$T/smalllog
mkdir -p "$S"
require "mount a 256 KiB tmpfs for the log" mount -t tmpfs -o size=256k tmpfs "$S"
on_exit "umount -l '$S'"
sed -e "s|^audit_log = .*|audit_log = $S/audit.jsonl|" -e 's|^reserve_mb = .*|reserve_mb = 0|' "$KCONF" >"$T/full.conf"
KCONF=$T/full.conf
require "mount with the log on it" mount_kura "$T/mnt"
# reader.py FILE LIMIT: opens, reads 10 bytes, says "ready", waits for "go",
# then reads the file round and round up to LIMIT bytes or an error,
# starting past what the first read may have brought into the page cache
# (reads from the cache never reach kurafs); then waits for "again" and
# tries one more read there; writes what happened.
cat >"$T/reader.py" <<'EOF'
import os, sys, time
path, limit, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_RDONLY)
os.read(fd, 10)
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
total, err = 0, "none"
while total < limit:
    try:
        n = len(os.pread(fd, 131072, (total + 150000) % 200000))
    except OSError as e:
        err = e.strerror
        break
    total += n
with open(d + "/result", "w") as f:
    f.write("%d %s\n" % (total, err))
while not os.path.exists(d + "/again"):
    time.sleep(0.05)
try:
    os.pread(fd, 4096, 180000)
    again = "served"
except OSError as e:
    again = e.strerror
with open(d + "/again_result", "w") as f:
    f.write(again + "\n")
os.close(fd)
EOF
R=$T/reader && mkdir -p "$R" && chmod 0777 "$R"
# 1. the log fails under an open handle: reads stop until it can be written
as kt_alice "$PY" "$T/reader.py" "$M/$D2/g.bin" 600000 "$R" &
rpid=$!
wait_for 10 test -e "$R/ready"
dd if=/dev/zero of="$S/filler" bs=4k status=none 2>/dev/null
dd if=/dev/zero of="$S/filler2" bs=512 status=none 2>/dev/null
for i in $(seq 1 40); do as kt_alice cat "$M/$D1/f1.bin" >/dev/null 2>&1 || break; done
touch "$R/go"
wait_for 10 test -e "$R/result"
check_output "log full: a file opened before gets no byte more (EIO)" "^0 Input/output error" cat "$R/result"
rm -f "$S/filler" "$S/filler2"
as kt_alice cat "$M/$D1/f1.bin" >/dev/null
touch "$R/again"
wait_for 10 test -e "$R/again_result"
check_output "space freed, the log written again: the same handle reads again" "^served" cat "$R/again_result"
wait "$rpid"
# 2. another program fills the disk and nothing else is written: the
#    handle's bulk-read alert (due at one dataset's worth, 200000 bytes) and
#    its close record come out of the reserve set aside in a file
rm -f "$R"/*
stop_kura "$T/mnt"
sed -i 's|^reserve_mb = .*|reserve_mb = 1|' "$KCONF"
mount -o remount,size=4m "$S"
require "mount with a 1 MiB reserve" mount_kura "$T/mnt"
check "the reserve is set aside in a file" test "$(stat -c %s "$S/.audit.jsonl.reserve")" = 1048576
as kt_alice "$PY" "$T/reader.py" "$M/$D2/g.bin" 1200000 "$R" &
rpid=$!
wait_for 10 test -e "$R/ready"
dd if=/dev/zero of="$S/filler" bs=4k status=none 2>/dev/null
dd if=/dev/zero of="$S/filler2" bs=512 status=none 2>/dev/null
touch "$R/go"
wait_for 10 test -e "$R/result"
touch "$R/again"
wait_for 10 test -e "$R/again_result"
wait "$rpid" # closed while the disk is still full
read -r total err_word <"$R/result"
diag "disk filled by another program: the handle read $total bytes (6 x the dataset), then: $err_word"
check "disk full: the bulk-read alert was written (from the reserve)" \
  bash -c "grep '\"reason\":\"bulk read\"' '$S/audit.jsonl' | grep '\"dataset\":\"$D2\"' | grep -q '\"user\":\"kt_alice\"'"
# (repeated reads of a file one user alone has open come from the page
# cache: kurafs serves, and counts, each byte once)
wait_for 10 closes_logged 2 '"path":"g.bin"' "$S/audit.jsonl"
closed=$(grep '"event":"close"' "$S/audit.jsonl" | grep '"path":"g.bin"' | grep -o '"bytes":[0-9]*' | tail -n 1 | cut -d: -f2)
check "disk full: so was the close record, with the bytes served (${closed:-none}, the whole file at least)" \
  test "${closed:-0}" -ge 200000 -a "$total" -ge 1200000
rm -f "$S/filler" "$S/filler2"
check "a new open is served and recorded again" as kt_alice cmp -s "$M/$D2/g.bin" "$T/d2/g.bin"
stop_kura "$T/mnt"
check "the log verifies after the failures" kuractl audit verify
done_testing
