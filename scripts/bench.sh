#!/usr/bin/env bash
# kura's benchmark suite (make bench): sets up kura and its peers on this
# machine in the same run — a kura server, gocryptfs (Debian package) and the
# plain file on the same ext4 disk — and measures them alternating, in
# several rounds, then prints every round, and a table of medians, ratios and
# goals (issues 4-7, 17). The same text goes to
# bench/results/<date>-<short commit>.txt.
#   scripts/bench.sh [BUILD_DIR]            (default build/release; needs root)
# Environment:
#   BENCH_ROUNDS=3      rounds of every comparison (medians are reported)
#   BENCH_LARGE=1       sequential read of 8 GiB instead of 1 GiB
#   BENCH_SECONDS=3     duration of each random-read and opens run
#   BENCH_ONLY=LIST     comma-separated sections: crypto,seq,rand,readers,
#                       samtools,opens,handles,revoke,rss,tree,cluster
#                       (default: all)
#   BENCH_HANDLES=5000  open handles of the memory-per-handle measurement
#   BENCH_DIR=/var/tmp  where the data goes (a disk, not tmpfs: the peers
#                       read their files from the same disk)
#   BENCH_TREE_FILES=100000  files of the mount-time tree (in 100 datasets)
#   BENCH_CLUSTER_LEASE=2  the cluster nodes' lease_seconds
#   BENCH_CLUSTER_REVOKES=20  revocations measured across the 3 nodes
#   BENCH_CLUSTER_NODE_CPU=30  percent of one core each node (its daemon
#                       and its openers) may use in the opens run with a CPU
#                       budget per node, as if each had a machine of its own
#   BENCH_CLUSTER_TRACE=DIR  keep in DIR what shows where a revocation's time
#                       goes: PostgreSQL's log of every statement's duration,
#                       checkpoints and lock waits, the nodes' log, each
#                       revocation's start, Dirty/Writeback and the disk's
#                       writes every 100 ms, every fdatasync's wait of a
#                       probe beside the nodes (bench/fsync_probe.py), and
#                       the CPU time of each program during the opens runs
# Every read is cold (sync; drop_caches before it). Reads through kura run
# as a listed, non-root user; gocryptfs and ext4 are read as root. Mounts,
# daemons, users and temporary files are removed on exit, Ctrl-C or failure.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
build=$(cd "${1:-build/release}" && pwd) || exit 2
ROUNDS=${BENCH_ROUNDS:-3}
LARGE=${BENCH_LARGE:-0}
SECS=${BENCH_SECONDS:-3}
ONLY=${BENCH_ONLY:-all}
TREE_FILES=${BENCH_TREE_FILES:-100000}
HANDLES=${BENCH_HANDLES:-5000}
READERS=32
KURACTL=$build/kuractl
KURAFS=$build/kurafs
IO=$build/bench/bench_io
mkdir -p bench/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit+dirty"
results=bench/results/$(date +%F)-$commit.txt
out=$(mktemp bench/results/.bench.XXXXXX.tmp)
chmod 0644 "$out"
failed=0

# ---- cleanup: every mount, daemon, user and temp dir, also on failure ----
W=
cleanups=()
on_exit() { cleanups+=("$*"); }
cleanup() {
  local i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[$i]}" >/dev/null 2>&1 || true; done
  [ -n "$W" ] && rm -rf "$W"
  rm -f "$out"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

log() { printf '%s\n' "$*" | tee -a "$out"; }
note() { log "   $*"; }
want() { [ "$ONLY" = all ] || [[ ",$ONLY," == *",$1,"* ]]; }
fail() { note "FAILED: $*"; failed=1; }

# ---- numbers ----
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }   # kv KEY "k=v k=v": value of KEY
div() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0 || a == "nan" || b == "nan") print "nan"; else printf "%.2f", a / b}'; }
declare -A M   # medians by name, for the summary
declare -a SUMMARY
# row LABEL KURA GOCRYPTFS EXT4 RATIO GOAL VERDICT
row() { SUMMARY+=("$(printf '%-44s %10s %10s %10s %7s  %-9s %s' "$@")"); }
# verdict VALUE OP LIMIT: met / NOT met
verdict() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {if (v == "nan") {print "n/a"; exit}
  ok = op == ">=" ? v >= l : v < l; print ok ? "met" : "NOT met"}'; }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now_ns() { date +%s%N; }

# ---- users: a listed reader (kura serves no plaintext to root) ----
READER=kura_bench
REVOKEE=kura_bench2
make_user() {
  id -u "$1" >/dev/null 2>&1 && return 0
  useradd -M -N -s /usr/sbin/nologin "$1" && on_exit "userdel '$1'"
}
as_reader() { setpriv --reuid="$READER" --regid="$(id -g "$READER")" --init-groups -- "$@"; }
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"; }
period() { echo "$(TZ=Asia/Tokyo date -d '-1 days' +%F)..$(TZ=Asia/Tokyo date -d '30 days' +%F)"; }

# ---- mounts ----
declare -A KPID
# kura_mount CONF MNT: kurafs in the foreground, in the background; waits until it serves.
# In a session of its own, as kurafs is when it daemonizes (libfuse's
# fuse_daemonize calls setsid) or runs as a service: with the kernel's
# autogroups a session is a scheduling group, and gocryptfs, PostgreSQL and
# a researcher's login are sessions of their own too.
kura_mount() {
  local conf=$1 mnt=$2 i
  mkdir -p "$mnt"
  setsid "$KURAFS" -c "$conf" -f "$mnt" >>"$W/kurafs.log" 2>&1 &
  KPID[$mnt]=$!
  on_exit "fusermount3 -u '$mnt' || umount -l '$mnt'; kill ${KPID[$mnt]}"
  for i in $(seq 1 200); do
    grep -qs " $mnt fuse.kurafs" /proc/mounts && return 0
    kill -0 "${KPID[$mnt]}" 2>/dev/null || break
    sleep 0.05
  done
  fail "kurafs did not mount $mnt: $(tail -n 3 "$W/kurafs.log")"
  return 1
}
kura_umount() {
  local mnt=$1 i
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
  for i in $(seq 1 200); do kill -0 "${KPID[$mnt]}" 2>/dev/null || break; sleep 0.05; done
  kill "${KPID[$mnt]}" 2>/dev/null
  wait "${KPID[$mnt]}" 2>/dev/null
  unset "KPID[$mnt]"
}
gc_mount() {
  mkdir -p "$2"
  gocryptfs -q -extpass 'echo bench' "$1" "$2" >>"$W/gocryptfs.log" 2>&1 || { fail "gocryptfs mount $2"; return 1; }
  on_exit "fusermount3 -u '$2' || umount -l '$2'"
}
gc_init() { mkdir -p "$1" && gocryptfs -init -q -extpass 'echo bench' -scryptn 10 "$1" >>"$W/gocryptfs.log" 2>&1; }

# ---- header ----
log "kura benchmarks — $(date -Iseconds), commit $commit, host $(uname -n), kernel $(uname -r)"
log "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) ($(nproc) cores), memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), load: $(cut -d' ' -f1-3 /proc/loadavg)"
log "rounds: $ROUNDS, random/opens runs: ${SECS}s, all reads cold (drop_caches before each)"

if want crypto; then
  log ""
  log "== Crypt4GH decryption engine (no filesystem)"
  if o=$("$build/bench/bench_c4gh" --rounds 3 2>&1); then log "$(sed 's/^/   /' <<<"$o")"; else log "$o"; fail bench_c4gh; fi
fi

fs_sections=false
for s in seq rand readers samtools opens handles revoke rss tree; do want "$s" && fs_sections=true; done
if $fs_sections && [ "$(id -u)" -ne 0 ]; then
  log ""
  log "== filesystem benchmarks skipped: they need root (mounts, drop_caches, test users)"
  fs_sections=false
  failed=1
fi

if $fs_sections; then
  for p in "$KURACTL" "$KURAFS" "$IO" "$build/bench/fuse_null"; do [ -x "$p" ] || { log "missing $p (run: make bench)"; exit 1; }; done
  KURA_EXTRA_PACKAGES="gocryptfs samtools strace" scripts/install-deps.sh || { log "cannot install gocryptfs/samtools/strace"; exit 1; }
  W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kura-bench.XXXXXX")
  chmod 0755 "$W"
  log "data under $W ($(df -T "$W" | awk 'NR == 2 {print $1 ", " $2}'))"
  make_user "$READER"
  make_user "$REVOKEE"

  # One kura server with the benchmark files, one gocryptfs with the same plaintext.
  SRV=$W/srv CONF=$W/srv/kura.conf KM=$W/kura GM=$W/gc.mnt ID=JGAD900001
  mkdir -p "$SRV" "$W/plain" && chmod 0755 "$SRV"
  "$KURACTL" -c "$CONF" init --root "$SRV" >/dev/null || { log "kuractl init failed"; exit 1; }
  "$KURACTL" -c "$CONF" dataset add "$ID" --pi "$READER" --period "$(period)" >/dev/null || exit 1
  # The handles section holds more opens than the default cap of one user.
  sed -i "s/^max_open_per_user = .*/max_open_per_user = $((HANDLES + 16))/" "$CONF"
  grep -q "^max_open_per_user = $((HANDLES + 16))\$" "$CONF" || fail "cannot raise max_open_per_user"
  AUDIT_DIR=$(dirname "$(sed -n 's/^audit_log = //p' "$CONF")")
  SEQ_MIB=$([ "$LARGE" = 1 ] && echo 8192 || echo 1024)
  t0=$(now_ns)
  if want seq || want rand || want rss; then
    head -c "${SEQ_MIB}M" /dev/urandom >"$W/plain/big.bin"
  fi
  if want samtools; then
    python3 bench/make_bam.py "$W/plain/reads.bam" >/dev/null || { log "make_bam.py failed"; exit 1; }
  fi
  head -c 65536 /dev/urandom >"$W/plain/small.bin"   # opens, revocation
  if want readers; then
    mkdir -p "$W/plain/readers"
    for ((i = 0; i < READERS; i++)); do head -c 16M /dev/urandom >"$W/plain/readers/reader$i.bin"; done
  fi
  if want rss; then mkdir -p "$W/rss" && head -c 2G /dev/zero >"$W/rss/stream.bin"; fi
  chmod -R a+rX "$W/plain"
  "$KURACTL" -c "$CONF" dataset import "$ID" --encrypt "$W/plain" >/dev/null || { log "import failed"; exit 1; }
  [ -d "$W/rss" ] && { "$KURACTL" -c "$CONF" dataset import "$ID" --encrypt "$W/rss" >/dev/null || exit 1; rm -f "$W/rss/stream.bin"; }
  gc_init "$W/gc.cipher" && gc_mount "$W/gc.cipher" "$GM" || exit 1
  cp -r "$W/plain/." "$GM/"
  sync
  kura_mount "$CONF" "$KM" || exit 1
  K=$KM/$ID
  # bench/fuse_null: kura's cache rules and readahead with no work of its
  # own, serving the big file's plaintext in whole 64 KiB blocks as kura
  # reads whole segments (zeros when there is none): the FUSE floor under
  # kura's opens and reads on this machine ("null" below). Its d/s adds one
  # durable record per open, group-committed, in kura's audit directory
  # (the floor under kura's opens, "nullsync" below).
  NM=$W/null.mnt
  mkdir -p "$NM"
  setsid "$build/bench/fuse_null" "$NM" $([ -f "$W/plain/big.bin" ] && echo "$W/plain/big.bin") \
    --sync "$AUDIT_DIR/null-sync.log" --sync-in-place "$AUDIT_DIR/null-in-place.log" >>"$W/fuse_null.log" 2>&1 &
  NPID=$!
  on_exit "fusermount3 -u '$NM' || umount -l '$NM'; kill $NPID"
  for i in $(seq 1 200); do grep -qs " $NM fuse" /proc/mounts && break; sleep 0.05; done
  grep -qs " $NM fuse" /proc/mounts || fail "fuse_null did not mount $NM: $(tail -n 3 "$W/fuse_null.log")"
  log "setup: ${SEQ_MIB} MiB file, BAM and small files in kura, gocryptfs and ext4 in $(( ($(now_ns) - t0) / 1000000 )) ms"
  if [ -f "$W/plain/big.bin" ]; then
    as_reader cmp -s "$K/big.bin" "$W/plain/big.bin" && cmp -s "$GM/big.bin" "$W/plain/big.bin" ||
      fail "the big file read through kura or gocryptfs differs from the plaintext"
  fi
fi

# run_rounds NAME SYSTEMS... : for each round, each system (order rotated),
# drop caches and call measure_<NAME> SYSTEM, which prints one number.
run_rounds() {
  local name=$1; shift
  local systems=("$@") r k s v
  local n=${#systems[@]}
  declare -gA VALS=()
  for ((r = 0; r < ROUNDS; r++)); do
    local line="round $((r + 1)):"
    for ((k = 0; k < n; k++)); do
      s=${systems[$(((r + k) % n))]}
      drop_caches
      # Not in $(...): measurements may remount and keep counts.
      if "measure_$name" "$s" >"$W/measure.out"; then v=$(cat "$W/measure.out"); else fail "$name on $s: $(cat "$W/measure.out")"; v=nan; fi
      VALS[$s]+="$v "
      line+=" $s=$v"
    done
    note "$line"
  done
  for s in "${systems[@]}"; do M[$name.$s]=$(tr ' ' '\n' <<<"${VALS[$s]}" | grep -v '^$' | median); done
}

# null serves only big.bin, as d/f.
path_of() { case $1 in kura) echo "$K/$2" ;; gocryptfs) echo "$GM/$2" ;; ext4) echo "$W/plain/$2" ;; null) echo "$NM/d/f" ;; esac; }
reader_of() { case $1 in kura | null) echo as_reader ;; esac; }

if $fs_sections && want seq; then
  for bs in 1048576 131072; do
    log ""
    log "== Cold sequential read of ${SEQ_MIB} MiB, read(2) of $((bs / 1024)) KiB (MB/s)"
    measure_seq() { local o; o=$($(reader_of "$1") "$IO" seq "$(path_of "$1" big.bin)" --bs "$BS") || { echo "$o"; return 1; }; kv MBps "$o"; }
    BS=$bs run_rounds seq kura gocryptfs ext4 null
    for s in kura gocryptfs ext4 null; do M[seq$bs.$s]=${M[seq.$s]}; done
    note "median: kura ${M[seq.kura]}, gocryptfs ${M[seq.gocryptfs]}, ext4 ${M[seq.ext4]}, null FUSE ${M[seq.null]}"
  done
fi

if $fs_sections && want rand; then
  for bs in 4096 65536; do
    for th in 1 8; do
      log ""
      log "== Random reads of $((bs / 1024)) KiB, $th thread(s), ${SECS}s from cold (IOPS)"
      measure_rand() { local o; o=$($(reader_of "$1") "$IO" rand "$(path_of "$1" big.bin)" --bs "$BS" --threads "$TH" --seconds "$SECS") || { echo "$o"; return 1; }; kv iops "$o"; }
      # ext4: the disk's own rate for this block size and thread count;
      # null: FUSE reading whole 64 KiB blocks, as kura reads segments.
      BS=$bs TH=$th run_rounds rand kura gocryptfs ext4 null
      for s in kura gocryptfs ext4 null; do M[rand$bs.$th.$s]=${M[rand.$s]}; done
      note "median: kura ${M[rand.kura]}, gocryptfs ${M[rand.gocryptfs]}, ext4 ${M[rand.ext4]}, null FUSE ${M[rand.null]}"
    done
  done
fi

if $fs_sections && want readers; then
  log ""
  log "== $READERS concurrent readers of different 16 MiB files, read(2) of 128 KiB, cold (aggregate MB/s)"
  measure_readers() { local o; o=$($(reader_of "$1") "$IO" readers "$(path_of "$1" readers)" --bs 131072 --threads "$READERS") || { echo "$o"; return 1; }; kv MBps "$o"; }
  run_rounds readers kura gocryptfs ext4
  note "median: kura ${M[readers.kura]}, gocryptfs ${M[readers.gocryptfs]}, ext4 ${M[readers.ext4]}"
fi

if $fs_sections && want samtools; then
  log ""
  regions=$(tr '\n' ' ' <"$W/plain/reads.regions")
  log "== samtools view -c of $(wc -l <"$W/plain/reads.regions") random 1 kb regions of a $(($(stat -c %s "$W/plain/reads.bam") >> 20)) MiB indexed BAM, cold (seconds)"
  declare -A SAM_COUNT=()
  measure_samtools() {
    local t0 t1 c
    t0=$(now_ns)
    # shellcheck disable=SC2086
    c=$($(reader_of "$1") samtools view -c "$(path_of "$1" reads.bam)" $regions) || return 1
    t1=$(now_ns)
    SAM_COUNT[$1]=$c
    awk -v d=$((t1 - t0)) 'BEGIN {printf "%.3f", d / 1e9}'
  }
  run_rounds samtools kura gocryptfs ext4
  note "median: kura ${M[samtools.kura]}, gocryptfs ${M[samtools.gocryptfs]}, ext4 ${M[samtools.ext4]}"
  # shellcheck disable=SC2086
  ref=$(samtools view -c "$W/plain/reads.bam" $regions)
  for s in kura gocryptfs; do
    [ "${SAM_COUNT[$s]:-}" = "$ref" ] || fail "samtools on $s counted ${SAM_COUNT[$s]:-nothing} reads, on the plaintext $ref"
  done
fi

# count_fdatasync PID OUT CMD...: runs CMD >OUT and prints how many
# fdatasync calls PID made meanwhile: perf stat on the syscall tracepoint
# (no ptrace slowdown of the daemon), or else strace -c.
count_fdatasync() {
  local pid=$1 cmd_out=$2; shift 2
  local f=$W/fdatasync.$$ n
  if perf stat -e syscalls:sys_enter_fdatasync -p "$pid" -x, -o "$f" -- sleep 0 >/dev/null 2>&1; then
    perf stat -e syscalls:sys_enter_fdatasync -p "$pid" -x, -o "$f" &
    local p=$!
    sleep 0.2
    "$@" >"$cmd_out"
    kill -INT "$p"; wait "$p"
    n=$(awk -F, '/sys_enter_fdatasync/ {print $1}' "$f")
  else
    strace -c -f -e trace=fdatasync -p "$pid" -o "$f" &
    local p=$!
    sleep 0.5
    "$@" >"$cmd_out"
    kill -INT "$p"; wait "$p"
    n=$(awk '/fdatasync/ {print $4}' "$f")
  fi
  echo "${n:-0}"
}

if $fs_sections && want opens; then
  log ""
  log "== Opens per second (open+close of one file, ${SECS}s), durable audit log; the disk's serial fdatasync rate beside the log"
  # kura1/kura8: 1 and 8 openers on kura (the daemon restarted, its
  # fdatasync calls counted); gocryptfs8: 8 openers; fdatasync: bench_io
  # appending 200-byte records with an fdatasync each, in the audit log's
  # directory, the physical limit of serial durable opens; null1, null8:
  # 1 and 8 openers on bench/fuse_null, the same four FUSE requests per
  # open+close as kura's with kura's cache rules and nothing else (the
  # floor of any filesystem that keeps those rules, on this machine);
  # nullsync1, nullsync8: 1 and 8 openers of its d/s, each open also
  # writing one durable record, group-committed, in kura's audit directory
  # (an open that does nothing but what issue 17 asks of kura's);
  # nullplace1, nullplace8: the same on d/p, the records written over
  # durable zeros; fdatasync_in_place: bench_io's records written so, the
  # disk's serial rate for a file that does not grow. The faster of nullsync
  # and nullplace is the floor.
  declare -A SYNCS=() OPENS=()
  measure_opens() {
    local o n th=8
    case $1 in
      null1 | null8)
        o=$(as_reader "$IO" opens "$NM/d/f" --threads "${1#null}" --seconds "$SECS") || { echo "$o"; return 1; }
        kv per_second "$o"
        return 0 ;;
      nullsync1 | nullsync8)
        o=$(as_reader "$IO" opens "$NM/d/s" --threads "${1#nullsync}" --seconds "$SECS") || { echo "$o"; return 1; }
        kv per_second "$o"
        return 0 ;;
      nullplace1 | nullplace8)
        o=$(as_reader "$IO" opens "$NM/d/p" --threads "${1#nullplace}" --seconds "$SECS") || { echo "$o"; return 1; }
        kv per_second "$o"
        return 0 ;;
      fdatasync | fdatasync_in_place)
        o=$("$IO" "$([ "$1" = fdatasync ] && echo syncs || echo syncs-in-place)" "$AUDIT_DIR/bench-syncs.tmp" --seconds "$SECS") || { echo "$o"; return 1; }
        rm -f "$AUDIT_DIR/bench-syncs.tmp"
        kv per_second "$o"
        return 0 ;;
      gocryptfs8)
        o=$("$IO" opens "$GM/small.bin" --threads 8 --seconds "$SECS") || { echo "$o"; return 1; }
        kv per_second "$o"
        return 0 ;;
      kura1) th=1 ;;
    esac
    kura_umount "$KM"; kura_mount "$CONF" "$KM" || return 1
    n=$(count_fdatasync "${KPID[$KM]}" "$W/opens.out" as_reader "$IO" opens "$K/small.bin" --threads "$th" --seconds "$SECS")
    o=$(cat "$W/opens.out")
    [ "$(kv errors "$o")" = 0 ] || { echo "$o"; return 1; }
    SYNCS[$1]+="$n "
    OPENS[$1]+="$(kv opens "$o") "
    kv per_second "$o"
  }
  run_rounds opens kura1 fdatasync fdatasync_in_place null1 nullsync1 nullplace1 kura8 gocryptfs8 null8 nullsync8 nullplace8
  : >"$AUDIT_DIR/null-sync.log" # their records say nothing; the space back
  : >"$AUDIT_DIR/null-in-place.log"
  kura_umount "$KM"; kura_mount "$CONF" "$KM"
  for s in kura1 kura8; do
    syncs=$(awk '{for (i = 1; i <= NF; i++) s += $i} END {print s + 0}' <<<"${SYNCS[$s]}")
    opens=$(awk '{for (i = 1; i <= NF; i++) s += $i} END {print s + 0}' <<<"${OPENS[$s]}")
    M[opens.syncs.$s]=$(awk -v s="$syncs" -v o="$opens" 'BEGIN {if (o == 0) print "nan"; else printf "%.0f", 1000 * s / o}')
    note "$s: fdatasync calls: $syncs for $opens opens (${M[opens.syncs.$s]} per 1000 opens; each open+close writes 2 records)"
  done
  # A serial open waits for its four requests and its one fdatasync, one
  # after the other: at best null1 * f / (null1 + f) a second, that is
  # null1 / (null1 + f) of the disk's rate f.
  M[opens.bound]=$(awk -v n="${M[opens.null1]}" -v f="${M[opens.fdatasync]}" 'BEGIN {if (n + f == 0 || n == "nan" || f == "nan") print "nan"; else printf "%.2f", n / (n + f)}')
  # The same with the in-place fdatasync p, still as a share of f (the
  # goal's measure): 1 / (1/null1 + 1/p) / f.
  M[opens.bound_in_place]=$(awk -v n="${M[opens.null1]}" -v p="${M[opens.fdatasync_in_place]}" -v f="${M[opens.fdatasync]}" 'BEGIN {if (n == "nan" || p == "nan" || f == "nan" || n + p == 0 || f == 0) print "nan"; else printf "%.2f", n * p / (n + p) / f}')
  note "median: 1 opener ${M[opens.kura1]}/s, disk fdatasync ${M[opens.fdatasync]}/s, null FUSE ${M[opens.null1]}/s (bound: ${M[opens.bound]} of fdatasync/s; ${M[opens.bound_in_place]} with the in-place fdatasync, ${M[opens.fdatasync_in_place]}/s), null FUSE with a durable record ${M[opens.nullsync1]}/s appended, ${M[opens.nullplace1]}/s in place; 8 openers kura ${M[opens.kura8]}/s, gocryptfs ${M[opens.gocryptfs8]}/s, null FUSE ${M[opens.null8]}/s, null FUSE with a durable record ${M[opens.nullsync8]}/s appended, ${M[opens.nullplace8]}/s in place"
  "$KURACTL" -c "$CONF" audit verify >/dev/null 2>&1 || fail "kuractl audit verify after the opens run"
fi

if $fs_sections && want handles; then
  log ""
  log "== Daemon memory per open handle: $HANDLES handles of one file held by one process (KiB)"
  pid=${KPID[$KM]}
  mem() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
  rss0=$(mem VmRSS) lck0=$(mem VmLck)
  coproc HOLD { as_reader "$IO" handles "$K/small.bin" --count "$HANDLES" 2>&1; }
  read -r -t 120 ready _ <&"${HOLD[0]}"
  if [ "$ready" = ready ]; then
    rss1=$(mem VmRSS) lck1=$(mem VmLck)
    M[handles.rss]=$(awk -v a="$rss0" -v b="$rss1" -v n="$HANDLES" 'BEGIN {printf "%.2f", (b - a) / n}')
    M[handles.lck]=$(awk -v a="$lck0" -v b="$lck1" -v n="$HANDLES" 'BEGIN {printf "%.2f", (b - a) / n}')
    note "VmRSS $rss0 -> $rss1 KiB, VmLck $lck0 -> $lck1 KiB: ${M[handles.rss]} KiB resident, ${M[handles.lck]} KiB locked per handle"
  else
    fail "the holder did not open $HANDLES handles: $ready"
  fi
  exec {HOLD[1]}>&-
  wait "$HOLD_PID"
fi

if $fs_sections && want revoke; then
  log ""
  log "== Revocation latency: kuractl user remove returns -> first refused read on an open handle (20 runs, ms)"
  lat=() since_start=()
  for i in $(seq 1 20); do
    "$KURACTL" -c "$CONF" user add "$ID" "$REVOKEE" >/dev/null || { fail "user add"; break; }
    hold=$W/hold.$i.out   # a new file each run: the last run's "ready" must not count
    as_user "$REVOKEE" "$IO" hold "$K/small.bin" --seconds 10 >"$hold" 2>&1 &
    hp=$!
    for _ in $(seq 1 1000); do grep -qs '^ready' "$hold" && break; sleep 0.01; done
    grep -qs '^ready' "$hold" || { fail "holder did not start in 10 s: $(cat "$hold")"; kill "$hp"; break; }
    st=$("$IO" stamp "$KURACTL" -c "$CONF" user remove "$ID" "$REVOKEE")
    wait "$hp"
    r=$(awk '/^refused/ {print $2}' "$hold")
    [ -n "$r" ] || { fail "no refused read: $(cat "$hold")"; break; }
    read -r _ s0 _ s1 _ rc <<<"$st"
    [ "$rc" = 0 ] || fail "user remove exited $rc"
    lat+=("$(awk -v a="$r" -v b="$s1" 'BEGIN {printf "%.3f", (a - b) / 1e6}')")
    since_start+=("$(awk -v a="$r" -v b="$s0" 'BEGIN {printf "%.3f", (a - b) / 1e6}')")
  done
  note "from return (ms): ${lat[*]}"
  note "from start  (ms): ${since_start[*]}"
  M[revoke.median]=$(printf '%s\n' "${lat[@]}" | median)
  M[revoke.worst]=$(printf '%s\n' "${lat[@]}" | sort -g | tail -n 1)
  M[revoke.cmd]=$(printf '%s\n' "${since_start[@]}" | median)
  note "median ${M[revoke.median]} ms, worst ${M[revoke.worst]} ms after the command returned (negative: the handle was refused before it returned); median from the command's start ${M[revoke.cmd]} ms"
fi

if $fs_sections && want rss; then
  log ""
  log "== Peak daemon RSS while one 2 GiB file is read end to end, cold (1 MiB reads)"
  pid=${KPID[$KM]}
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || note "(cannot reset VmHWM: the peak includes start-up)"
  drop_caches
  before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  o=$(as_reader "$IO" seq "$K/stream.bin" --bs 1048576) || fail "streaming read: $o"
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  M[rss.peak]=$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k / 1024}')
  note "VmRSS before $((before / 1024)) MiB, VmHWM while streaming ${M[rss.peak]} MiB ($o)"
fi

if $fs_sections && want tree; then
  log ""
  ndir=100 per=$((TREE_FILES / 100))
  log "== Mount time and ls -lR with $((ndir * per)) files in $ndir datasets"
  t0=$(now_ns)
  TSRV=$W/tree-srv TCONF=$W/tree-srv/kura.conf TM=$W/tree-kura TGM=$W/tree-gc.mnt
  mkdir -p "$TSRV" && chmod 0755 "$TSRV"
  "$KURACTL" -c "$TCONF" init --root "$TSRV" >/dev/null
  gc_init "$W/tree-gc.cipher" && gc_mount "$W/tree-gc.cipher" "$TGM"
  # The same tiny files for both; kura imports run two at a time (file
  # creation on the disk is what takes the time), gocryptfs copies alongside.
  for d in $(seq -w 1 $ndir); do
    mkdir -p "$W/tree/JGAD9100$d"
    (cd "$W/tree/JGAD9100$d" && awk -v n="$per" -v d="$d" 'BEGIN {for (i = 1; i <= n; i++) {f = sprintf("f%05d.txt", i); print "dataset " d " file " i > f; close(f)}}')
    "$KURACTL" -c "$TCONF" dataset add "JGAD9100$d" --pi "$READER" --period "$(period)" >/dev/null || fail "tree: dataset add"
  done
  chmod -R a+rX "$W/tree"
  cp -r "$W/tree/." "$TGM/" &
  cpid=$!
  seq -w 1 $ndir | xargs -P 2 -I{} "$KURACTL" -c "$TCONF" dataset import JGAD9100{} --encrypt "$W/tree/JGAD9100{}" >/dev/null ||
    fail "tree: import"
  wait "$cpid" || fail "tree: copy into gocryptfs"
  rm -rf "$W/tree"
  sync
  note "setup: $(( ($(now_ns) - t0) / 1000000 )) ms"
  mt=() rss=()
  for r in $(seq 1 "$ROUNDS"); do
    drop_caches
    mkdir -p "$TM"
    s=$(now_ns)
    setsid "$KURAFS" -c "$TCONF" -f "$TM" >>"$W/kurafs.log" 2>&1 &
    KPID[$TM]=$!
    on_exit "fusermount3 -u '$TM' || umount -l '$TM'; kill ${KPID[$TM]}"
    o=$("$IO" mountwait "$TM" --seconds 30) || { fail "tree mount: $o"; break; }
    e=$(kv ns "$o")
    mt+=("$(awk -v a="$e" -v b="$s" 'BEGIN {printf "%.3f", (a - b) / 1e9}')")
    rss+=("$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/${KPID[$TM]}/status")")
    [ "$r" -lt "$ROUNDS" ] && kura_umount "$TM"
  done
  note "mount (kurafs start -> mount root answers), s: ${mt[*]}; daemon RSS after mount, MiB: ${rss[*]}"
  M[tree.mount]=$(printf '%s\n' "${mt[@]}" | median)
  M[tree.rss]=$(printf '%s\n' "${rss[@]}" | median)
  measure_ls() {
    local t0 t1 n
    if [ "$1" = kura ]; then t0=$(now_ns); n=$(as_reader ls -lR "$TM" | wc -l); t1=$(now_ns)
    else t0=$(now_ns); n=$(ls -lR "$TGM" | wc -l); t1=$(now_ns); fi
    LS_LINES[$1]=$n
    awk -v d=$((t1 - t0)) 'BEGIN {printf "%.3f", d / 1e9}'
  }
  declare -A LS_LINES=()
  run_rounds ls kura gocryptfs
  note "median: kura ${M[ls.kura]} s, gocryptfs ${M[ls.gocryptfs]} s (lines listed: kura ${LS_LINES[kura]}, gocryptfs ${LS_LINES[gocryptfs]})"
  kura_umount "$TM"
fi

# ---- cluster mode (issue 19): three nodes on this machine ----
# Three kurafs (n1..n3, lease $CLEASE s) serve one state directory, with a private
# PostgreSQL on a Unix socket; n3 reaches it through a loopback proxy
# (tests/helpers/pg_proxy.py) that the partition runs stop.
cluster_node_conf() {   # FILE NODE CONN: a copy of $CC's config as node NODE
  cp -p "$CC" "$1" && sed -i '/^\[cluster\]/,$d' "$1" &&
    sed -i "s|^socket = .*|socket = $CS/run/$2.sock|; s|^audit_log = .*|audit_log = $CS/log/$2.jsonl|" "$1" &&
    printf '[cluster]\ndatabase = %s\nnode = %s\nlease_seconds = %s\n' "$3" "$2" "$CLEASE" >>"$1"
}
cluster_proxy() {       # PORT: (re)starts n3's proxy; CPORT gets its port
  rm -f "$W/proxy.port"
  /usr/bin/python3 tests/helpers/pg_proxy.py "$CPG/.s.PGSQL.5432" "$1" "$W/proxy.port" >/dev/null 2>&1 &
  CPROXY=$!
  on_exit "kill -9 $CPROXY"
  for _ in $(seq 1 200); do [ -s "$W/proxy.port" ] && break; sleep 0.01; done
  CPORT=$(cat "$W/proxy.port")
}
# holders EVERY USER FILE... : a bench_io hold on each FILE as USER, pausing
# EVERY microseconds between reads (0: a tight loop); their output in $W/hold.N
holders() {
  local every=$1 u=$2 k=0 f; shift 2
  HP=()
  for f in "$@"; do
    k=$((k + 1)); rm -f "$W/hold.$k"
    as_user "$u" setsid "$IO" hold "$f" --seconds 20 --every "$every" >"$W/hold.$k" 2>&1 & HP+=($!)
  done
  for ((f = 1; f <= k; f++)); do
    for _ in $(seq 1 1000); do grep -qs '^ready' "$W/hold.$f" && break; sleep 0.01; done
    grep -qs '^ready' "$W/hold.$f" || return 1
  done
}
# cpu_snapshot: the machine's CPU time (/proc/stat: busy and all, in ticks)
# and each process's (pid, name, utime + stime).
# cpu_group NAME PERCENT: a CPU cgroup whose processes together use at most
# PERCENT of one core (cgroup v2's cpu.max, or v1's CFS quota), removed on
# exit; CG_PROCS is its cgroup.procs, CG_STAT its cpu.stat. Fails when
# neither hierarchy lets one be made.
cpu_group() {
  local name=$1 pct=$2 d root
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    root=/sys/fs/cgroup d=$root/$name
    grep -qw cpu "$root/cgroup.subtree_control" || echo +cpu >"$root/cgroup.subtree_control" || return 1
    mkdir "$d" && echo "$((pct * 1000)) 100000" >"$d/cpu.max" || return 1
  elif [ -d /sys/fs/cgroup/cpu ]; then
    root=/sys/fs/cgroup/cpu d=$root/$name
    mkdir "$d" && echo 100000 >"$d/cpu.cfs_period_us" && echo "$((pct * 1000))" >"$d/cpu.cfs_quota_us" || return 1
  else
    return 1
  fi
  on_exit "while read -r p; do echo \$p >'$root/cgroup.procs'; done <'$d/cgroup.procs'; rmdir '$d'"
  CG_PROCS=$d/cgroup.procs CG_STAT=$d/cpu.stat
}
# in_group PROCS CMD...: runs CMD in the cgroup whose cgroup.procs is PROCS.
in_group() { sh -c 'echo $$ >"$0" && exec "$@"' "$@"; }
machine_cpu() { awk 'NR == 1 {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
cpu_snapshot() {
  echo "machine $(machine_cpu)"
  local f l
  for f in /proc/[0-9]*/stat; do
    read -r l 2>/dev/null <"$f" || continue
    local name=${l#*(}; name=${name%)*}; local rest=${l##*) }
    set -- $rest
    echo "${f//[^0-9]/} ${name// /_} $(( ${12} + ${13} ))"
  done
}
# cpu_used LABEL BEFORE AFTER: the machine's busy share of its cores, and
# the CPU seconds used meanwhile by each program (processes summed by name;
# one started meanwhile counts whole; one that ended meanwhile, as the
# openers, only in the machine's share) that used more than 1% of one core.
cpu_used() {
  awk -v label="$1" -v hz="$(getconf CLK_TCK)" -v cores="$(nproc)" '
    NR == FNR {if ($1 == "machine") {bbusy = $2; ball = $3} else b[$1] = $3; next}
    $1 == "machine" {busy = $2 - bbusy; all = $3 - ball; next}
    {d = $3 - b[$1]; if (d > 0) u[$2] += d}
    END {printf "%s\n  machine: %.0f%% busy of %d cores over %.2f s\n", label, 100 * busy / all, cores, all / cores / hz
      for (c in u) if (u[c] / (all / cores) > 0.01) printf "  %-20s %6.2f s CPU\n", c, u[c] / hz}' "$2" "$3"
}
CLEASE=${BENCH_CLUSTER_LEASE:-2} CREVOKES=${BENCH_CLUSTER_REVOKES:-20} CTRACE=${BENCH_CLUSTER_TRACE:-}
p99() { sort -g | awk '{a[NR] = $1} END {i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print NR ? a[i] : "nan"}'; }
if want cluster; then
  log ""
  log "== Cluster mode: 3 nodes, one state directory, a private PostgreSQL, lease $CLEASE s"
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ "$(id -u)" -ne 0 ] || [ ! -x "$pgbin/initdb" ]; then
    fail "the cluster section needs root and PostgreSQL (scripts/install-deps.sh)"
  else
    [ -n "$W" ] || { W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/kura-bench.XXXXXX") && chmod 0755 "$W"; }
    make_user "$READER"
    make_user "$REVOKEE"
    CPG=$W/cluster-pg CS=$W/cluster CC=$W/cluster/kura.conf CID=JGAD900019
    mkdir -p "$CPG" "$CS" "$W/cplain" && chown postgres: "$CPG" && chmod 0700 "$CPG" && chmod 0755 "$CS"
    runuser -u postgres -- "$pgbin/initdb" -D "$CPG/data" -A trust -U kura --no-sync >"$W/initdb.log" 2>&1
    on_exit "runuser -u postgres -- '$pgbin/pg_ctl' -D '$CPG/data' -m immediate -w stop"
    # What can hold a statement up is logged in every run (it costs nothing
    # until it happens): a statement over 250 ms, a lock waited for over
    # 100 ms, a checkpoint, an autovacuum; the WAL's syncs are timed.
    pgopts="-k $CPG -c listen_addresses='' -c log_line_prefix='%m [%p] %a ' -c log_checkpoints=on"
    pgopts+=" -c log_lock_waits=on -c deadlock_timeout=100ms -c log_autovacuum_min_duration=0 -c track_wal_io_timing=on"
    if [ -n "$CTRACE" ]; then
      mkdir -p "$CTRACE" || fail "cannot make $CTRACE"
      pgopts+=" -c log_min_duration_statement=0"
    else
      pgopts+=" -c log_min_duration_statement=250"
      on_exit "cp '$CPG/server.log' '$CTRACE/postgresql.log'; cp '$W/kurafs.log' '$CTRACE/kurafs.log'"
      # Dirty and Writeback (kB) and the disk's completed writes and ms writing, every 100 ms.
      ( while :; do
          printf '%s %s %s\n' "$EPOCHREALTIME" "$(awk '/^(Dirty|Writeback):/ {printf "%s=%s ", $1, $2}' /proc/meminfo)" \
            "$(awk '$3 == "vda" {print "writes=" $8, "write_ms=" $11, "inflight=" $12}' /proc/diskstats)"
          sleep 0.1
        done >"$CTRACE/memory.log" ) &
      on_exit "kill $!"
      /usr/bin/python3 bench/fsync_probe.py "$W" "$CTRACE/fsync-probe.log" &
      CPROBE=$!
      on_exit "kill $CPROBE"
    fi
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$CPG/data" -o "$pgopts" -w \
      -l "$CPG/server.log" start >/dev/null 2>&1 || fail "PostgreSQL did not start"
    conn="host=$CPG dbname=postgres user=kura"
    head -c 65536 /dev/urandom >"$W/cplain/small.bin" && chmod -R a+rX "$W/cplain"
    "$KURACTL" -c "$CC" init --root "$CS" >/dev/null && cluster_node_conf "$CC.tmp" ctl "$conn" && mv "$CC.tmp" "$CC" &&
      "$KURACTL" -c "$CC" cluster init >/dev/null &&
      "$KURACTL" -c "$CC" dataset add "$CID" --pi "$READER" --period "$(period)" >/dev/null &&
      "$KURACTL" -c "$CC" dataset import "$CID" --encrypt "$W/cplain" >/dev/null || fail "cluster setup"
    cluster_proxy 0
    for n in 1 2 3; do
      c=$conn; [ "$n" = 3 ] && c="host=127.0.0.1 port=$CPORT dbname=postgres user=kura connect_timeout=2"
      cluster_node_conf "$W/n$n.conf" "n$n" "$c" && kura_mount "$W/n$n.conf" "$W/cm$n" || fail "node n$n"
    done
    CF=("$W/cm1/$CID/small.bin" "$W/cm2/$CID/small.bin" "$W/cm3/$CID/small.bin")
    for f in "${CF[@]}"; do
      for _ in $(seq 1 200); do as_reader head -c 1 "$f" >/dev/null 2>&1 && break; sleep 0.05; done
    done

    # Revocation: user remove's start -> the last of the three open handles
    # refused; with holders reading in a tight loop (three more busy
    # processes on the 2 cores), then with holders pausing 1 ms between reads;
    # root's kuractl with a config of no node ("ctl": it runs the change
    # itself), then both again with node n1's config (its daemon runs the
    # change on its kept database session).
    for mode in tight paced node_tight node; do
      case $mode in
        tight) key=cluster.revoke pace=0 rconf=$CC ;;
        paced) key=cluster.revoke_paced pace=1000 rconf=$CC ;;
        node_tight) key=cluster.revoke_node_tight pace=0 rconf=$W/n1.conf ;;
        node) key=cluster.revoke_node pace=1000 rconf=$W/n1.conf ;;
      esac
      lat=() ret=() spans=()
      # A process of no reader's session that sleeps 1 ms at a time, as
      # kuractl, its database backend and the nodes' listeners wait between
      # their steps: how late it wakes is the machine's scheduling delay
      # under this load, which every step of a revocation can pay.
      setsid "$IO" wakeups --seconds 3600 >"$W/wake.$mode" 2>&1 &
      WP=$!
      on_exit "kill $WP 2>/dev/null"
      for i in $(seq 1 "$CREVOKES"); do
        "$KURACTL" -c "$CC" user add "$CID" "$REVOKEE" >/dev/null 2>&1 || { fail "user add"; break; }
        holders "$pace" "$REVOKEE" "${CF[@]}" || { fail "holders did not start"; break; }
        logged=$(wc -l <"$W/kurafs.log")
        st=$("$IO" stamp "$KURACTL" -c "$rconf" user remove "$CID" "$REVOKEE")
        wait "${HP[@]}"
        last=$(awk '/^refused/ {print $2}' "$W"/hold.[123] | sort -n | tail -n 1)
        [ "$(grep -c '^refused' "$W"/hold.[123] | awk -F: '{s += $2} END {print s}')" = 3 ] || { fail "a handle was not refused"; break; }
        read -r _ s0 _ s1 _ rc <<<"$st"
        [ -n "$CTRACE" ] && echo "revocation $i mode=$mode pause_us=$pace start_ns=$s0 return_ns=$s1 last_refusal_ns=$last" >>"$CTRACE/revocations.log"
        [ "$rc" = 0 ] || fail "user remove exited $rc"
        lat+=("$(awk -v a="$last" -v b="$s0" 'BEGIN {printf "%.3f", (a - b) / 1e6}')")
        ret+=("$(awk -v a="$s1" -v b="$s0" 'BEGIN {printf "%.0f", (a - b) / 1e6}')")
        spans+=("$s0 $last")
        if awk -v l="${lat[-1]}" 'BEGIN {exit !(l > 100)}'; then
          note "$mode revocation $i, started $(date -u -d "@${s0:0:10}.${s0:10:3}" +%T.%3N), took ${lat[-1]} ms; the nodes said meanwhile:"
          tail -n +"$((logged + 1))" "$W/kurafs.log" | grep -v 'restricts user\|restriction(s) lifted' |
            sed 's/^/     /' | head -n 20 | while IFS= read -r l; do log "$l"; done
        fi
      done
      kill -TERM "$WP" && wait "$WP"
      note "$mode: a sleeping process's wake-ups, 1 ms apart: $(grep '^wakeups=' "$W/wake.$mode")"
      M[$key.late]=$(kv late_max_ms "$(grep '^wakeups=' "$W/wake.$mode")")
      # Which revocations over 50 ms had a wake-up over 50 ms late (the
      # probe's "late MS at NS", NS its end) within them.
      note "$mode: revocations over 50 ms: $(printf '%s\n' "${spans[@]}" | awk -v f="$W/wake.$mode" '
        BEGIN {while ((getline l < f) > 0) if (split(l, w, " ") == 4 && w[1] == "late") {n++; e[n] = w[4]; b[n] = w[4] - w[2] * 1e6}}
        ($2 - $1) / 1e6 > 50 {slow++; for (i = 1; i <= n; i++) if (b[i] < $2 && e[i] > $1) {hit++; break}}
        END {printf "%d, of which %d overlap a wake-up over 50 ms late (%d such wake-ups in this mode)", slow, hit, n}')"
      note "$mode: holders pausing $pace us between reads, kuractl -c $(basename "$rconf"): from user remove's start to the last node's refusal (ms): ${lat[*]}"
      note "from its start to its return (ms): ${ret[*]}"
      M[$key.median]=$(printf '%s\n' "${lat[@]}" | median)
      M[$key.p99]=$(printf '%s\n' "${lat[@]}" | p99)
      M[$key.return]=$(printf '%s\n' "${ret[@]}" | median)
      note "median ${M[$key.median]} ms, p99 ${M[$key.p99]} ms; return median ${M[$key.return]} ms"
    done
    # Every restriction and lift is logged; the rest (a lease that ended, a
    # slow renewal) is what explains a slow revocation, so it is shown whole.
    log "   node: $(grep -c 'restricts user\|restriction(s) lifted' "$W/kurafs.log") restriction and lift notices; the others:"
    grep -h 'cluster node' "$W/kurafs.log" | grep -v ' serves: \|restricts user\|restriction(s) lifted' |
      sed 's/^/   node: /' | head -n 40 | while IFS= read -r l; do log "$l"; done
    log "   database: $(psql "$conn" -tAc "select 'WAL: ' || wal_sync || ' syncs, ' || round(wal_sync_time::numeric) || ' ms syncing, ' || wal_write || ' writes, ' || round(wal_write_time::numeric) || ' ms writing' from pg_stat_wal")"
    [ -n "$CTRACE" ] || grep -h 'duration: \|lock\|checkpoint\|automatic' "$CPG/server.log" | cut -c1-240 |
      sed 's/^/   database: /' | head -n 40 | while IFS= read -r l; do log "$l"; done
    [ -n "$CTRACE" ] && note "$(awk '$1 == "sync" {n++; if ($3 > 100) a++; if ($3 > 250) b++; if ($3 > m) m = $3}
      END {printf "fsync probe (a 200-byte append and fdatasync every 50 ms) so far: %d calls, %d over 100 ms, %d over 250 ms, longest %.0f ms", n, a, b, m}' "$CTRACE/fsync-probe.log")"

    # Partition: n3's proxy stopped -> n3 refuses an open handle's next read.
    cut=()
    for i in 1 2 3; do
      holders 0 "$READER" "${CF[2]}" || { fail "holder on n3"; break; }
      t0=$(now_ns); kill -9 "$CPROXY"; wait "$CPROXY" 2>/dev/null
      wait "${HP[@]}"
      r=$(awk '/^refused/ {print $2}' "$W/hold.1")
      [ -n "$r" ] && cut+=("$(awk -v a="$r" -v b="$t0" 'BEGIN {printf "%.0f", (a - b) / 1e6}')") || fail "n3 did not refuse"
      cluster_proxy "$CPORT"
      for _ in $(seq 1 400); do as_reader head -c 1 "${CF[2]}" >/dev/null 2>&1 && break; sleep 0.05; done
    done
    M[cluster.cut.worst]=$(printf '%s\n' "${cut[@]}" | sort -g | tail -n 1)
    note "from the cut to n3's refusal (ms): ${cut[*]} (lease $((CLEASE * 1000)) ms; the goal is lease + 1 s)"

    # Opens per second: 8 openers on one node, then 8 on each of three at once.
    [ -n "$CTRACE" ] && cpu_snapshot >"$W/cpu.0"
    c0=$(machine_cpu)
    o1=$(as_reader "$IO" opens "${CF[0]}" --threads 8 --seconds "$SECS")
    c1=$(machine_cpu)
    M[cluster.opens1]=$(kv per_second "$o1")
    # The machine's CPU per open with one node (daemon, openers, kernel,
    # PostgreSQL's copy of the records): cores that 2.5 times the rate needs.
    read -r M[cluster.cpu_ms] M[cluster.cores] < <(awk -v a="$c0" -v b="$c1" -v n="$(kv opens "$o1")" -v r="${M[cluster.opens1]}" -v hz="$(getconf CLK_TCK)" -v cores="$(nproc)" '
      BEGIN {split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; all = y[2] - x[2]
        if (n + 0 == 0 || all == 0) {print "nan nan"; exit}
        ms = 1000 * busy / hz / n; printf "%.2f %.1f\n", ms, 2.5 * r * ms / 1000}')
    note "1 node: ${M[cluster.cpu_ms]} ms of the machine's CPU per open+close; 2.5 times its rate needs ${M[cluster.cores]} cores, this machine has $(nproc)"
    [ -n "$CTRACE" ] && cpu_snapshot >"$W/cpu.1" && cpu_used "1 node, $o1" "$W/cpu.0" "$W/cpu.1" >>"$CTRACE/opens-cpu.log"
    for k in 0 1 2; do as_reader "$IO" opens "${CF[$k]}" --threads 8 --seconds "$SECS" >"$W/opens.$k" 2>&1 & OP[$k]=$!; done
    wait "${OP[@]}"
    [ -n "$CTRACE" ] && cpu_snapshot >"$W/cpu.2" && cpu_used "3 nodes, $(cat "$W"/opens.[012] | tr '\n' ' ')" "$W/cpu.1" "$W/cpu.2" >>"$CTRACE/opens-cpu.log"
    M[cluster.opens3]=$(cat "$W"/opens.[012] | sed -n 's/.*per_second=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s}')
    note "opens/s: 1 node ${M[cluster.opens1]}, 3 nodes together ${M[cluster.opens3]}"

    # The same with a CPU budget per node (its daemon and its openers), as on
    # machines of their own; PostgreSQL and the disk stay shared, so the
    # ratio shows whether the database holds 3 nodes back. A node throttled
    # in every period used all of its budget: the budget limited it.
    CBUDGET=${BENCH_CLUSTER_NODE_CPU:-30} CGP=() CGS=()
    for n in 1 2 3; do
      cpu_group "kura-bench-n$n-$$" "$CBUDGET" && echo "${KPID[$W/cm$n]}" >"$CG_PROCS" || { CGP=(); break; }
      CGP+=("$CG_PROCS") CGS+=("$CG_STAT")
    done
    if [ ${#CGP[@]} -eq 3 ]; then
      # throttled STAT: "nr_throttled nr_periods" now; throttled_since STAT
      # BEFORE: "T/P", the periods of the run, and in how many of them the
      # group used all of its budget.
      throttled() { awk '$1 == "nr_periods" {p = $2} $1 == "nr_throttled" {t = $2} END {print t, p}' "$1"; }
      throttled_since() { throttled "$1" | awk -v b="$2" '{split(b, x, " "); print $1 - x[1] "/" $2 - x[2]}'; }
      budget_opens() { in_group "${CGP[$1]}" setpriv --reuid="$READER" --regid="$(id -g "$READER")" --init-groups -- \
        "$IO" opens "${CF[$1]}" --threads 8 --seconds "$SECS"; }
      b0=$(throttled "${CGS[0]}")
      o=$(budget_opens 0)
      M[cluster.opens1b]=$(kv per_second "$o")
      t1=$(throttled_since "${CGS[0]}" "$b0")
      for k in 0 1 2; do TB[$k]=$(throttled "${CGS[$k]}"); done
      c0=$(machine_cpu)
      for k in 0 1 2; do budget_opens "$k" >"$W/opens.$k" 2>&1 & OP[$k]=$!; done
      wait "${OP[@]}"
      c1=$(machine_cpu)
      t3=$(for k in 0 1 2; do throttled_since "${CGS[$k]}" "${TB[$k]}"; done | tr '\n' ' ')
      M[cluster.opens3b]=$(cat "$W"/opens.[012] | sed -n 's/.*per_second=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s}')
      note "each node held to $CBUDGET% of a core: 1 node ${M[cluster.opens1b]} opens/s (it used its whole budget in $t1 periods of 100 ms), 3 nodes together ${M[cluster.opens3b]} ($(cat "$W"/opens.[012] | sed -n 's/.*per_second=\([0-9]*\).*/\1/p' | tr '\n' ' '); whole budget used in ${t3}periods; the machine $(awk -v a="$c0" -v b="$c1" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2])}')% busy, load $(cut -d' ' -f1 /proc/loadavg))"
    else
      fail "no CPU cgroup for the budgeted opens run (cgroup v2 with the cpu controller, or v1's cpu hierarchy)"
    fi
    for n in 1 2 3; do kura_umount "$W/cm$n"; done
  fi
fi

# ---- summary ----
ratio() { div "${M[$1]:-nan}" "${M[$2]:-nan}"; }
# below RATIO GOAL NOTE: what a null FUSE filesystem's ratio says of the
# goal: below it, no design under kura's cache rules and the format's
# whole-segment reads meets it on this machine.
below() {
  awk -v r="$1" -v g="$2" -v n="$3" 'BEGIN {
    if (r == "nan") print n; else if (r < g) print "floor below " g ": no design under these rules meets the goal here " n; else print "floor at or above " g " " n }'
}
if want seq && [ -n "${M[seq1048576.kura]:-}" ]; then
  for bs in 1048576 131072; do
    r=$(ratio "seq$bs.kura" "seq$bs.gocryptfs")
    row "seq read ${SEQ_MIB} MiB, $((bs / 1024)) KiB reads (MB/s)" "${M[seq$bs.kura]}" "${M[seq$bs.gocryptfs]}" "${M[seq$bs.ext4]}" "$r" ">= 1.0" "$(verdict "$r" ">=" 1.0)"
  done
  r=$(ratio seq131072.kura seq131072.ext4)
  row "  128 KiB reads, kura / ext4" "-" "-" "-" "$r" ">= 0.8" "$(verdict "$r" ">=" 0.8) (ratio: vs ext4)"
  r=$(ratio seq131072.null seq131072.ext4)
  row "  null FUSE, 64 KiB blocks, no decryption" "${M[seq131072.null]}" "-" "-" "$r" "" "$(below "$r" 0.8 "(ratio: vs ext4)")"
fi
if want rand && [ -n "${M[rand4096.1.kura]:-}" ]; then
  for bs in 4096 65536; do
    for th in 1 8; do
      goal=$([ $bs = 4096 ] && [ $th = 8 ] && echo 0.5 || echo 1.0)
      r=$(ratio "rand$bs.$th.kura" "rand$bs.$th.gocryptfs")
      row "random $((bs / 1024)) KiB reads, $th thread(s) (IOPS)" "${M[rand$bs.$th.kura]}" "${M[rand$bs.$th.gocryptfs]}" "${M[rand$bs.$th.ext4]}" "$r" ">= $goal" "$(verdict "$r" ">=" "$goal")"
      r=$(ratio "rand$bs.$th.null" "rand$bs.$th.gocryptfs")
      row "  null FUSE, 64 KiB blocks, no decryption" "${M[rand$bs.$th.null]:-nan}" "-" "-" "$r" "" "$(below "$r" "$goal" "")"
    done
  done
fi
if want readers && [ -n "${M[readers.kura]:-}" ]; then
  r=$(ratio readers.kura readers.gocryptfs)
  row "$READERS readers of different files (MB/s)" "${M[readers.kura]}" "${M[readers.gocryptfs]}" "${M[readers.ext4]}" "$r" ">= 1.0" "$(verdict "$r" ">=" 1.0)"
fi
if want samtools && [ -n "${M[samtools.kura]:-}" ]; then
  r=$(ratio samtools.gocryptfs samtools.kura)   # time: gocryptfs / kura = kura's speed ratio
  row "samtools 300 region queries (s)" "${M[samtools.kura]}" "${M[samtools.gocryptfs]}" "${M[samtools.ext4]}" "$r" ">= 0.8" "$(verdict "$r" ">=" 0.8)"
fi
if want opens && [ -n "${M[opens.kura1]:-}" ]; then
  r=$(ratio opens.kura1 opens.fdatasync)
  row "opens/s, 1 opener, durable audit log" "${M[opens.kura1]}" "-" "-" "$r" ">= 0.8" "$(verdict "$r" ">=" 0.8) (ratio: vs fdatasync/s)"
  row "  the disk's serial fdatasync/s" "${M[opens.fdatasync]}" "-" "-" "-" "" "(appending)"
  row "  the same, in place" "${M[opens.fdatasync_in_place]:-nan}" "-" "-" "$(ratio opens.fdatasync_in_place opens.fdatasync)" "" "(over durable zeros: no size to write)"
  row "  fdatasync calls per 1000 opens" "${M[opens.syncs.kura1]}" "-" "-" "-" "" ""
  row "  null FUSE filesystem, 1 opener (opens/s)" "${M[opens.null1]}" "-" "-" "-" "" ""
  row "  bound: its requests + one fdatasync" "-" "-" "-" "${M[opens.bound]}" "" "(appending)"
  row "  bound: its requests + one in place" "-" "-" "-" "${M[opens.bound_in_place]:-nan}" "" ""
  r=$(ratio opens.nullsync1 opens.fdatasync)
  row "  measured: null FUSE + one durable record" "${M[opens.nullsync1]:-nan}" "-" "-" "$r" "" "(appended)"
  r=$(ratio opens.nullplace1 opens.fdatasync)
  row "  the same, the record in place" "${M[opens.nullplace1]:-nan}" "-" "-" "$r" "" ""
  # The floor: the faster of the two logs, bound or measured.
  r=$(awk -v a="${M[opens.bound]}" -v b="${M[opens.bound_in_place]:-nan}" -v c="$(ratio opens.nullsync1 opens.fdatasync)" -v d="$r" 'BEGIN {m = "nan"; split(a " " b " " c " " d, v, " "); for (i = 1; i <= 4; i++) if (v[i] != "nan" && (m == "nan" || v[i] + 0 > m + 0)) m = v[i]; print m}')
  row "  floor: the best of these" "-" "-" "-" "$r" "" "$(below "$r" 0.8 "")"
  r=$(ratio opens.kura8 opens.gocryptfs8)
  row "opens/s, 8 openers, durable audit log" "${M[opens.kura8]}" "${M[opens.gocryptfs8]}" "-" "$r" ">= 0.5" "$(verdict "$r" ">=" 0.5)"
  row "  fdatasync calls per 1000 opens" "${M[opens.syncs.kura8]}" "-" "-" "-" "" ""
  r=$(ratio opens.null8 opens.gocryptfs8)
  row "  null FUSE filesystem, 8 openers" "${M[opens.null8]:-nan}" "-" "-" "$r" "" "$(below "$r" 0.5 "")"
  r=$(ratio opens.nullsync8 opens.gocryptfs8)
  row "  the same, one durable record per open" "${M[opens.nullsync8]:-nan}" "-" "-" "$r" "" "(appended)"
  r2=$(ratio opens.nullplace8 opens.gocryptfs8)
  row "  the same, the record in place" "${M[opens.nullplace8]:-nan}" "-" "-" "$r2" "" ""
  best=$(awk -v a="$r" -v b="$r2" 'BEGIN {if (a == "nan") print b; else if (b == "nan" || a + 0 >= b + 0) print a; else print b}')
  row "  floor: the faster of these" "-" "-" "-" "$best" "" "$(below "$best" 0.5 "")"
  floor=$(awk -v a="${M[opens.nullsync8]:-nan}" -v b="${M[opens.nullplace8]:-nan}" 'BEGIN {if (a == "nan") print b; else if (b == "nan" || a + 0 >= b + 0) print a; else print b}')
  r=$(div "${M[opens.kura8]}" "$floor")
  row "  kura against that floor" "-" "-" "-" "$r" "" ""
fi
if want handles && [ -n "${M[handles.lck]:-}" ]; then
  # The daemon locks its memory as it is touched (mlockall ONFAULT): its
  # resident memory is its locked memory; VmLck counts the locked mappings,
  # touched or not. Under 4 KiB a handle: 10,000 open files in under 40 MiB
  # (docs/operator.md, "Open files and the locked-memory budget").
  row "locked (resident) memory per open handle (KiB)" "${M[handles.rss]}" "-" "-" "-" "< 4" "$(verdict "${M[handles.rss]}" "<" 4)"
  row "  locked mappings (VmLck) per open handle (KiB)" "${M[handles.lck]}" "-" "-" "-" "" ""
fi
if want revoke && [ -n "${M[revoke.median]:-}" ]; then
  row "revocation latency, median of 20 (ms)" "${M[revoke.median]}" "-" "-" "-" "< 10" "$(verdict "${M[revoke.median]}" "<" 10)"
  row "  worst of 20 (ms)" "${M[revoke.worst]}" "-" "-" "-" "" ""
fi
if want cluster && [ -n "${M[cluster.revoke.median]:-}" ]; then
  row "revocation across 3 nodes, median of $CREVOKES (ms)" "${M[cluster.revoke.median]}" "-" "-" "-" "" "(start -> last node refuses; holders in a tight loop)"
  row "  p99 of $CREVOKES (ms)" "${M[cluster.revoke.p99]}" "-" "-" "-" "< 50" "$(verdict "${M[cluster.revoke.p99]}" "<" 50)"
  row "  a sleeping process's latest wake-up (ms)" "${M[cluster.revoke.late]:-nan}" "-" "-" "-" "" "(over 50: the machine starved processes)"
  row "  return, median (ms)" "${M[cluster.revoke.return]}" "-" "-" "-" "" "(start -> every node applied it)"
  row "the same, holders pausing 1 ms, median (ms)" "${M[cluster.revoke_paced.median]:-nan}" "-" "-" "-" "" ""
  row "  p99 of $CREVOKES (ms)" "${M[cluster.revoke_paced.p99]:-nan}" "-" "-" "-" "< 50" "$(verdict "${M[cluster.revoke_paced.p99]:-nan}" "<" 50)"
  row "  a sleeping process's latest wake-up (ms)" "${M[cluster.revoke_paced.late]:-nan}" "-" "-" "-" "" "(over 50: the machine starved processes)"
  row "  return, median (ms)" "${M[cluster.revoke_paced.return]:-nan}" "-" "-" "-" "" ""
  row "root on node n1 (its daemon), tight loop, median (ms)" "${M[cluster.revoke_node_tight.median]:-nan}" "-" "-" "-" "" ""
  row "  p99 of $CREVOKES (ms)" "${M[cluster.revoke_node_tight.p99]:-nan}" "-" "-" "-" "< 50" "$(verdict "${M[cluster.revoke_node_tight.p99]:-nan}" "<" 50)"
  row "  a sleeping process's latest wake-up (ms)" "${M[cluster.revoke_node_tight.late]:-nan}" "-" "-" "-" "" "(over 50: the machine starved processes)"
  row "  return, median (ms)" "${M[cluster.revoke_node_tight.return]:-nan}" "-" "-" "-" "" ""
  row "root on node n1 (its daemon), paced, median (ms)" "${M[cluster.revoke_node.median]:-nan}" "-" "-" "-" "" ""
  row "  p99 of $CREVOKES (ms)" "${M[cluster.revoke_node.p99]:-nan}" "-" "-" "-" "< 50" "$(verdict "${M[cluster.revoke_node.p99]:-nan}" "<" 50)"
  row "  a sleeping process's latest wake-up (ms)" "${M[cluster.revoke_node.late]:-nan}" "-" "-" "-" "" "(over 50: the machine starved processes)"
  row "  return, median (ms)" "${M[cluster.revoke_node.return]:-nan}" "-" "-" "-" "" ""
  row "partition to refusal, worst of 3 (ms)" "${M[cluster.cut.worst]:-nan}" "-" "-" "-" "< $((CLEASE * 1000 + 1000))" "$(verdict "${M[cluster.cut.worst]:-nan}" "<" $((CLEASE * 1000 + 1000))) (lease $CLEASE s + 1 s)"
  r=$(ratio cluster.opens3 cluster.opens1)
  row "opens/s, 3 nodes together vs 1 node" "${M[cluster.opens3]:-nan}" "-" "-" "$r" ">= 2.5" "$(verdict "$r" ">=" 2.5)"
  row "  machine CPU per open+close, 1 node (ms)" "${M[cluster.cpu_ms]:-nan}" "-" "-" "-" "" ""
  row "  cores 2.5x one node's rate needs" "${M[cluster.cores]:-nan}" "-" "-" "-" "" "(this machine: $(nproc))"
  r=$(ratio cluster.opens3b cluster.opens1b)
  row "opens/s, 3 nodes vs 1, ${CBUDGET:-30}% of a core each" "${M[cluster.opens3b]:-nan}" "-" "-" "$r" ">= 2.5" "$(verdict "$r" ">=" 2.5) (the database and the disk shared)"
fi
if want rss && [ -n "${M[rss.peak]:-}" ]; then
  row "peak daemon RSS streaming 2 GiB (MiB)" "${M[rss.peak]}" "-" "-" "-" "< 64" "$(verdict "${M[rss.peak]}" "<" 64)"
fi
if want tree && [ -n "${M[tree.mount]:-}" ]; then
  row "mount, $((TREE_FILES / 1000))k files in 100 datasets (s)" "${M[tree.mount]}" "-" "-" "-" "< 2" "$(verdict "${M[tree.mount]}" "<" 2)"
  row "  daemon RSS after that mount (MiB)" "${M[tree.rss]}" "-" "-" "-" "" ""
  r=$(ratio ls.gocryptfs ls.kura)
  row "ls -lR of that tree (s)" "${M[ls.kura]:-nan}" "${M[ls.gocryptfs]:-nan}" "-" "$r" "" "(ratio = gocryptfs time / kura time)"
fi
if [ ${#SUMMARY[@]} -gt 0 ]; then
  log ""
  log "== Summary: medians of $ROUNDS rounds; ratio = kura / gocryptfs speed (> 1: kura faster)"
  log "$(printf '%-44s %10s %10s %10s %7s  %-9s %s' metric kura gocryptfs ext4 ratio goal "")"
  for l in "${SUMMARY[@]}"; do log "$l"; done
fi

mv "$out" "$results"
log_done="written to $results"
echo
echo "$log_done"
exit "$failed"
