#!/usr/bin/env bash
# Where an open's CPU goes (bench/README.md, "Where an open's time goes"):
#   bench/profile_opens.sh BUILD_DIR [SECONDS] [OUT_DIR] [OPENERS] [FILES]
# as root, under the shared lock (flock -o /tmp/kura-it.lock ...). Sets up a
# throwaway kura server (tests/integration/lib.sh: everything removed on
# exit), mounts it with BUILD_DIR's kurafs (the release build), and has one
# listed user open and close one 64 KiB file in a loop (bench_io opens) in
# OPENERS threads (default 1); with FILES > 1, FILES such files in turn
# (more than the daemon keeps the opened keys of: every open finds none):
#  1. SECONDS without a profiler: the daemon's CPU time (utime + stime of
#     all its threads, /proc/PID/stat) per open+close;
#  2. SECONDS under `perf record --call-graph dwarf`, then `perf report
#     --children` into OUT_DIR/report.txt (OUT_DIR/perf.data kept).
set -uo pipefail
build=$(cd "${1:?usage: bench/profile_opens.sh BUILD_DIR [SECONDS] [OUT_DIR] [OPENERS] [FILES]}" && pwd) || exit 1
secs=${2:-5}
openers=${4:-1}
files=${5:-1}
out=$(mkdir -p "${3:-/tmp/kura-profile}" && cd "${3:-/tmp/kura-profile}" && pwd) || exit 1
top=$(cd "$(dirname "$0")/.." && pwd)
for p in "$build/kurafs" "$build/kuractl" "$build/bench/bench_io"; do
  [ -x "$p" ] || { echo "missing $p (make VARIANT=release all $build/bench/bench_io)"; exit 1; }
done
command -v perf >/dev/null || { echo "perf is not installed (linux-perf)"; exit 1; }
KURA_BUILD=$build KURA_TOP=$top
. "$top/tests/integration/lib.sh"

ID=JGAD000170 U=kt_prof
make_user "$U"
# The daemon keeps user names only from an account file changed at least a
# second earlier (include/kura/pwcache.h); useradd just changed it.
sleep 2
kura_init || exit 1
mkdir -p "$T/data" && head -c 65536 /dev/urandom >"$T/data/small.bin" || exit 1
for ((i = 1; i < files; i++)); do head -c 65536 /dev/urandom >"$T/data/small$i.bin" || exit 1; done
chmod -R a+rX "$T/data"
kuractl dataset add "$ID" --pi "$U" --period "$(day -1)..$(day 30)" >/dev/null || exit 1
kuractl dataset import "$ID" --encrypt "$T/data" >/dev/null || exit 1
mount_kura "$T/mnt" || exit 1
install -m 0755 "$build/bench/bench_io" "$KURA_USER_BIN/"
F=$T/mnt/$ID/small.bin
if ((files > 1)); then F=$T/mnt/$ID; fi
opens() { as "$U" "$KURA_USER_BIN/bench_io" opens "$F" --seconds "$1" --threads "$openers"; }
ticks() { awk '{print $14 + $15}' "/proc/$KURAFS_PID/stat"; }
hz=$(getconf CLK_TCK)

opens 1 >/dev/null || { echo "the warm-up opens failed"; exit 1; }
t0=$(ticks)
o=$(opens "$secs") || { echo "opens failed: $o"; exit 1; }
t1=$(ticks)
n=$(sed -n 's/.*opens=\([0-9]*\).*/\1/p' <<<"$o")
echo "kurafs of $(git -C "$build/../.." rev-parse --short HEAD 2>/dev/null)$(git -C "$build/../.." diff --quiet HEAD -- src include 2>/dev/null || echo +dirty), $openers opener(s), $files file(s), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "without profiler: $o"
awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" \
  'BEGIN {printf "daemon CPU: %.2f s for %d opens+closes, %.3f ms per open+close\n", t / hz, n, 1000 * t / hz / n}'

perf record -q --call-graph dwarf,16384 -F 997 -p "$KURAFS_PID" -o "$out/perf.data" -- sleep "$((secs + 1))" \
  >/dev/null 2>&1 &
perf_pid=$!
sleep 0.5
o=$(opens "$secs") || { echo "opens under perf failed: $o"; exit 1; }
wait "$perf_pid"
echo "under perf: $o"
perf report -i "$out/perf.data" --children --stdio --no-demangle -g none --percent-limit 0.5 2>/dev/null \
  >"$out/report.txt"
echo "perf report: $out/report.txt"
