#!/usr/bin/env bash
# Root's own `kuractl dataset import` of a directory a user can write (a
# PI's or a downloader's incoming directory): the user swaps one of its
# subdirectories for a symbolic link while the import runs (found by a
# hostile review). What root's import reads and what --remove-source
# deletes must be what the walk found below the directory named, never a
# file reached through a link planted there afterwards: neither a
# root-only file encrypted into the user's dataset (then served to them)
# nor a root-only file unlinked.
# The swap is made at a fixed point: strace stops kuractl (SIGSTOP) once
# it made the system call named, the user swaps, kuractl goes on.
. "$(dirname "$0")/lib.sh"

C4GH=$KURA_BUILD/tests/c4gh_tool
READ=$KURA_BUILD/tests/kura_read_stored
make_user kt_isw
require "c4gh_tool and kura_read_stored are built" test -x "$C4GH" -a -x "$READ"
require "strace is installed" command -v strace
require "kuractl init" kura_init
ID=JGAD300077
require "dataset add (PI kt_isw)" kuractl dataset add "$ID" --pi kt_isw --period "$(day -1)..$(day 30)"
PUB=$T/ds.pub
require "kuractl pubkey ID" bash -c "'$KURACTL' -c '$KCONF' pubkey $ID >'$PUB'"

# A root-only directory: what the user must never reach through root.
V=$T/vault
mkdir -m 0700 "$V"
printf 'ROOT-ONLY-SECRET\n' >"$V/secret"
cp "$V/secret" "$V/victim"

# run_stopped SYSCALLS PATHS CMD...: runs CMD under strace, stopping it
# once it made the first of SYSCALLS (a comma-separated list) on one of
# PATHS (colon-separated: by name, or through a descriptor of it);
# STRACE_PID is strace's pid. The stopped process is strace's child.
# STRACE_MORE: more system calls to trace (not stopped at), on the same
# paths, into the file STRACE_OUT; STRACE_WHEN: stop at the Nth call.
run_stopped() {
  local call=$1 paths=$2 p; shift 2
  local args=()
  IFS=: read -ra ps <<<"$paths"
  for p in "${ps[@]}"; do args+=(-P "$p"); done
  ASAN_OPTIONS=detect_leaks=0 strace -qq -f -o "${STRACE_OUT:-/dev/null}" "${args[@]}" \
    -e trace="$call${STRACE_MORE:+,$STRACE_MORE}" -e inject="$call":signal=STOP:when="${STRACE_WHEN:-1}" "$@" >"$T/import.out" 2>&1 &
  STRACE_PID=$!
}
# await_stop SECONDS: sets CHILD to strace's child once it is held by the
# injected SIGSTOP. A traced call's own stop also shows as "t", for
# microseconds: held means stopped at two looks 300 ms apart.
stopped() { case "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" in T|t) return 0 ;; esac; return 1; }
await_stop() {
  local i c
  for ((i = 0; i < $1 * 10; i++)); do
    c=$(pgrep -P "$STRACE_PID" | head -n 1)
    if [ -n "$c" ] && stopped "$c"; then
      sleep 0.3
      stopped "$c" && CHILD=$c && return 0
    fi
    sleep 0.1
  done
  return 1
}
# resume: lets the held child go on, and waits at most 60 s for the import
# to end (strace killed after that: a test must not hang).
# (strace is this shell's child: once it ended it is a zombie until waited)
ended() { case "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" in '' | Z) return 0 ;; esac; return 1; }
resume() {
  kill -CONT "$CHILD"
  wait_for 60 ended "$STRACE_PID" || kill -9 "$STRACE_PID" "$CHILD" 2>/dev/null
  wait "$STRACE_PID"
}
# swap DIR TARGET: as kt_isw, DIR becomes a symbolic link to TARGET
swap() { as kt_isw bash -c "mv '$1' '$1.old' && ln -s '$2' '$1'"; }
# swap_midway WHEN SECONDS DIR: once the import run_stopped started stops
# (WHEN), kt_isw swaps DIR for a link to the root-only directory, and the
# import goes on to its end.
swap_midway() {
  require "the import stops $1" await_stop "$2"
  require "kt_isw swaps $(basename "$3") for a link to the root-only directory" swap "$3" "$V"
  resume
  diag "import: $(tr '\n' ' ' <"$T/import.out")"
}

# ---- --encrypt: the file read after the swap ----
IN=$T/incoming
mkdir -p "$IN/sub"
head -c 300000 /dev/urandom >"$IN/a.bin"
printf 'decoy\n' >"$IN/sub/secret"
chown -R kt_isw: "$IN"
run_stopped fstat,newfstatat,statx "$IN/a.bin" "$KURACTL" -c "$KCONF" dataset import "$ID" --encrypt "$IN"
swap_midway "once it opened its first file" 10 "$IN/sub"
served=$("$READ" "$KCONF" "$ID" sub/secret 2>/dev/null)
check "the root-only file is not encrypted into kt_isw's dataset" test "$served" != "ROOT-ONLY-SECRET"
check "... the import is refused, naming the file" grep -q "incoming/sub/secret" "$T/import.out"

# ---- --remove-source: the file unlinked after the swap ----
IN2=$T/incoming2
mkdir -p "$IN2/sub2"
"$C4GH" encrypt --recipient "$PUB" <<<"first" >"$IN2/a2.c4gh"
"$C4GH" encrypt --recipient "$PUB" <<<"second" >"$IN2/sub2/victim"
chown -R kt_isw: "$IN2"
run_stopped unlink,unlinkat "$IN2/a2.c4gh:$IN2" "$KURACTL" -c "$KCONF" dataset import "$ID" --remove-source "$IN2"
swap_midway "at its first removal" 20 "$IN2/sub2"
check "the import went through" grep -q "^sub2/victim	" "$KROOT/lib/datasets/$ID/files.tsv"
check "--remove-source did not delete the root-only file behind the link" test -f "$V/victim"
check "... and says the source it could not remove remains" grep -q "1 source file(s) remain" "$T/import.out"

# ---- a file named directly, swapped for a link to a device ----
# Root names kt_isw's files one by one; once the first is open, kt_isw
# swaps the second for a link to a device. The import must refuse it
# without opening the device: the mere open of one can act (a watchdog
# starts counting down to a reboot, a tape rewinds). /dev/zero stands in.
IN4=$T/incoming4
mkdir -p "$IN4"
head -c 300000 /dev/urandom >"$IN4/a4.bin"
printf 'z\n' >"$IN4/z4.bin"
chown -R kt_isw: "$IN4"
# The stats that plan the import look at a4.bin and z4.bin; the third look
# is at a4.bin, open to be read.
STRACE_WHEN=3 STRACE_OUT=$T/dev.trace STRACE_MORE=openat,open run_stopped fstat,newfstatat,statx "$IN4/a4.bin:$IN4/z4.bin" \
  "$KURACTL" -c "$KCONF" dataset import "$ID" --encrypt "$IN4/a4.bin" "$IN4/z4.bin"
require "the import stops as it reads its first file" await_stop 10
require "kt_isw swaps z4.bin for a link to /dev/zero" as kt_isw bash -c "rm '$IN4/z4.bin' && ln -s /dev/zero '$IN4/z4.bin'"
resume
diag "import: $(tr '\n' ' ' <"$T/import.out")"
check "the import is refused" grep -q "z4.bin" "$T/import.out"
# (the trace names the link; only a look, O_PATH, may follow it)
no_dev_open() { ! grep -E 'open(at)?\(.*z4\.bin"' "$T/dev.trace" | grep -vq O_PATH; }
check "... without opening the device" no_dev_open
diag "$(grep -E 'open(at)?\(.*z4\.bin"' "$T/dev.trace")"

# ---- a file named directly, swapped for a link to a root-only file ----
# As above, but the link leads to a regular file: a file named is opened
# through links (root may name a link), so only its device and inode, the
# file's the plan looked at, keep the root-only file out of the dataset.
IN5=$T/incoming5
mkdir -p "$IN5"
head -c 300000 /dev/urandom >"$IN5/a5.bin"
printf 'decoy\n' >"$IN5/s5.bin"
chown -R kt_isw: "$IN5"
STRACE_WHEN=3 run_stopped fstat,newfstatat,statx "$IN5/a5.bin:$IN5/s5.bin" \
  "$KURACTL" -c "$KCONF" dataset import "$ID" --encrypt "$IN5/a5.bin" "$IN5/s5.bin"
require "the import stops as it reads its first file" await_stop 10
require "kt_isw swaps s5.bin for a link to the root-only file" \
  as kt_isw bash -c "rm '$IN5/s5.bin' && ln -s '$V/secret' '$IN5/s5.bin'"
resume
diag "import: $(tr '\n' ' ' <"$T/import.out")"
served=$("$READ" "$KCONF" "$ID" s5.bin 2>/dev/null)
check "the root-only file is not encrypted into kt_isw's dataset" test "$served" != "ROOT-ONLY-SECRET"
check "... the import is refused, naming the file" grep -q "incoming5/s5.bin" "$T/import.out"

# ---- --remove-source of a file named directly, its directory swapped ----
# A file named is removed from its directory found by its path, links
# followed: once the first source is removed, kt_isw swaps the second's
# directory for a link to the root-only one, which holds a file of the
# same name. Only the file imported may be removed.
IN6=$T/incoming6
mkdir -p "$IN6/sub6"
"$C4GH" encrypt --recipient "$PUB" <<<"sixth" >"$IN6/a6.c4gh"
"$C4GH" encrypt --recipient "$PUB" <<<"seventh" >"$IN6/sub6/b6.c4gh"
cp "$V/secret" "$V/b6.c4gh"
chown -R kt_isw: "$IN6"
run_stopped unlink,unlinkat "$IN6/a6.c4gh:$IN6" \
  "$KURACTL" -c "$KCONF" dataset import "$ID" --remove-source "$IN6/a6.c4gh" "$IN6/sub6/b6.c4gh"
swap_midway "at its first removal" 20 "$IN6/sub6"
check "the import went through" grep -q "^b6	" "$KROOT/lib/datasets/$ID/files.tsv"
check "--remove-source did not delete the root-only file of the same name" test -f "$V/b6.c4gh"
check "... and says the source it did not remove is not the file imported" \
  grep -q "did not remove source .*sub6/b6.c4gh: it is not the file imported" "$T/import.out"

# ---- names another user chose reach root's terminal escaped ----
# A file in kt_isw's directory named with an escape sequence (ESC ] 0 ;
# sets a terminal's title, ESC [ 2 J clears the screen): the message that
# refuses it names it, escaped.
IN3=$T/incoming3
mkdir -p "$IN3"
esc=$'\e]0;pwned\a\e[2Jx.bin'
printf 'x\n' >"$IN3/$esc"
chown -R kt_isw: "$IN3"
"$KURACTL" -c "$KCONF" dataset import "$ID" --encrypt "$IN3" >"$T/esc.out" 2>&1
check "the import of a name with a control character is refused" test $? -ne 0
no_controls() { ! LC_ALL=C grep -qP '[\x07\x1b]' "$1"; }
check "... and its message holds no ESC or BEL byte" no_controls "$T/esc.out"
check "... but names the file escaped" grep -qF '\x1b]0;pwned\x07' "$T/esc.out"
diag "$(cat -v "$T/esc.out")"

done_testing
