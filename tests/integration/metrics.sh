#!/usr/bin/env bash
# The metrics file ([metrics] textfile) through a real mount: after a
# scripted workload its numbers agree with the audit log; Prometheus' node
# exporter (Debian's, unpacked by scripts/install-deps.sh, never installed)
# reads it without error; it names no dataset or user; a stopping daemon
# leaves kura_up 0. TAP output.
. "$(dirname "$0")/lib.sh"

EXPORTER=$KURA_TOP/build/tools/prometheus-node-exporter/usr/bin/prometheus-node-exporter
require "the node exporter is unpacked (scripts/install-deps.sh)" test -x "$EXPORTER"

ID=JGAD000040
for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
mkdir -p "$T/prom" "$T/flags" && chmod 0777 "$T/flags"
PROM=$T/prom/kura.prom
sed -i -e 's|^bulk_read_multiple = .*|bulk_read_multiple = 1|' \
  -e "s|^textfile =.*|textfile = $PROM|" -e 's|^interval_seconds = .*|interval_seconds = 1|' "$KCONF"
mkdir -p "$T/data" "$T/out" && chmod 0777 "$T/out"
head -c 100000 /dev/urandom >"$T/data/a.bin"
head -c 300000 /dev/urandom >"$T/data/b.bin"
chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
require "user add bob" kuractl user add "$ID" kt_bob
require "mount" mount_kura "$T/mnt"
M=$T/mnt/$ID
LOG=$KROOT/log/audit.jsonl

value() { sed -n "s/^$1 //p" "$PROM" 2>/dev/null; }
# wait_value NAME VALUE: until the file says so (it is written every second).
wait_value() { local i; for i in $(seq 1 50); do [ "$(value "$1")" = "$2" ] && return 0; sleep 0.1; done; return 1; }

check "the file is written within the interval" wait_value kura_up 1
check "readable by the exporter (0644)" test "$(stat -c %a "$PROM")" = 644

# The workload: allowed opens, refusals of several kinds, a bulk-read alert,
# a handle stopped by a revocation.
# 5 x 100 kB by alice passes the dataset size (400 kB): one bulk-read alert
for i in 1 2 3 4 5; do as kt_alice cat "$M/a.bin" >/dev/null; done
as kt_bob cat "$M/b.bin" >/dev/null
for i in 1 2; do as kt_carol cat "$M/a.bin" >/dev/null 2>&1; sleep 0.3; done
as kt_alice cp "$M/b.bin" "$T/out/b.copy" 2>/dev/null
as kt_alice mkdir "$M/new" 2>/dev/null
as kt_bob /usr/bin/python3 "$KURA_USER_BIN/hold_read.py" "$M/b.bin" "$T/flags/go" >"$T/hold.out" 2>&1 &
holder=$!
for i in $(seq 1 100); do grep -q '^first' "$T/hold.out" 2>/dev/null && break; sleep 0.05; done
check "an open handle is counted" wait_value kura_open_handles 1
require "user remove bob" kuractl user remove "$ID" kt_bob
touch "$T/flags/go"; wait "$holder"
check "bob's held handle was stopped" grep -q '^second EACCES' "$T/hold.out"
check "no handle left open" wait_value kura_open_handles 0
# alice's 5 opens of a.bin: the first reads the keystore, 4 use its kept
# keys; bob's of b.bin reads it, his held one uses it (cp was refused
# before any key); the removal's reload drops every kept key.
check "opens that used kept keys counted (4 + 1)" wait_value kura_file_keys_used_total 5
check "opens that found none kept counted (a.bin, b.bin)" wait_value kura_file_keys_not_kept_total 2
check "the removal left no file key kept" wait_value kura_file_keys_kept 0
# The file is replaced whole (a new inode) at each write: the second one after
# this point began after the last record, however slow the machine.
rewritten_twice() {
  local ino now n=0 i
  ino=$(stat -c %i "$PROM")
  for i in $(seq 1 600); do
    now=$(stat -c %i "$PROM" 2>/dev/null)
    if [ -n "$now" ] && [ "$now" != "$ino" ]; then n=$((n + 1)) ino=$now; [ "$n" -ge 2 ] && return 0; fi
    sleep 0.05
  done
  return 1
}
check "the file was written twice more after the workload" rewritten_twice

"$KURA_USER_BIN/prom_vs_audit.py" "$PROM" "$LOG" >"$T/compare" 2>&1
check "the comparison ran" test -s "$T/compare"
while read -r name got want; do
  check "$name agrees with the audit log (${got#metrics=}, ${want#audit=})" test "${got#metrics=}" = "${want#audit=}"
done <"$T/compare"
for reason in not_listed guard read_only; do
  check "refusals counted under reason $reason" grep -q "reason=\"$reason\"} metrics=[1-9]" "$T/compare"
done
check "the bulk-read alert is counted" test "$(value kura_alerts_total)" -ge 1
check "the revocation's latency is observed" test "$(value kura_revocation_seconds_count)" -ge 1
check "every audit write's latency is observed" \
  test "$(value kura_audit_write_seconds_count)" = "$(( $(value kura_audit_records_total) + $(value kura_audit_failures_total) ))"
check "no close record handed to the writer was lost (kura_audit_closes_lost_total 0)" \
  test "$(value kura_audit_closes_lost_total)" = 0
check "free space on the log's file system is reported" test "$(value kura_audit_log_free_bytes)" -gt 0
check "the daemon's memory is reported" test "$(value kura_daemon_resident_bytes)" -gt 0
check "no label or value names the dataset or a user" bash -c "! grep -qE '$ID|kt_|a\\.bin' '$PROM'"

# The node exporter's own parser: it serves the file, and says so.
scrape() { /usr/bin/python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
# exporter DIR: starts one on a free loopback port and sets $port (not in
# a subshell: the cleanup it registers must be this shell's)
exporter() {
  local dir=$1 pid i
  port=
  for port in $(shuf -i 20000-60000 -n 5); do
    "$EXPORTER" --web.listen-address="127.0.0.1:$port" --collector.disable-defaults --collector.textfile \
      --collector.textfile.directory="$dir" >"$T/exporter.$port.log" 2>&1 &
    pid=$!
    on_exit "kill $pid"
    for i in $(seq 1 50); do
      scrape "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null
  done
  port=
  return 1
}
exporter "$T/prom"
require "the node exporter runs on the loopback address" test -n "$port"
out=$(scrape "http://127.0.0.1:$port/metrics")
check "the exporter read kura's file without error" grep -q '^node_textfile_scrape_error 0' <<<"$out"
check "the exporter serves kura's counters as written" \
  grep -q "^kura_opens_allowed_total $(value kura_opens_allowed_total)\$" <<<"$out"
# Control: the same check fails on a damaged file.
mkdir -p "$T/bad" && sed 's/^kura_up 1$/kura_up one/' "$PROM" >"$T/bad/kura.prom"
exporter "$T/bad"
check "control: the exporter flags a damaged file" grep -q '^node_textfile_scrape_error 1' <<<"$(scrape "http://127.0.0.1:$port/metrics")"

stop_kura "$T/mnt"
check "the stopped daemon leaves kura_up 0" test "$(value kura_up)" = 0
check "no temporary file is left beside it" test "$(find "$T/prom" -type f | wc -l)" = 1

# [metrics] group: the totals move with every read, so a sole reader's
# file size shows in them (docs/security.md): with a group set the file
# is 0640 and that group's, out of other users' sight.
make_group kt_prom
usermod -a -G kt_prom kt_bob
sed -i -e 's|^group =.*|group = kt_prom|' "$KCONF"
rm -f "$PROM"
require "mount with [metrics] group = kt_prom" mount_kura "$T/mnt"
check "the file is written" wait_value kura_up 1
check "... mode 0640, group kt_prom" test "$(stat -c '%a %G' "$PROM")" = "640 kt_prom"
check "a member of kt_prom (the exporter's place) reads it" as kt_bob grep -q '^kura_up 1' "$PROM"
check "another user does not" bash -c "! setpriv --reuid=kt_carol --regid=$(id -g kt_carol) --init-groups cat '$PROM' 2>/dev/null"
stop_kura "$T/mnt"
sed -i -e 's|^group =.*|group = kt_nosuchgroup|' "$KCONF"
rm -f "$PROM"
require "mount with a group that does not exist" mount_kura "$T/mnt"
check "... the daemon says so" wait_for 10 grep -q "group kt_nosuchgroup (\\[metrics\\] group): no such group" "$KURAFS_LOG"
check "... and writes no file readable by all instead" test ! -e "$PROM"
stop_kura "$T/mnt"

done_testing
