#!/usr/bin/env bash
# The nevers of docs/design.md (section 10) that the object files can show:
# the policy stays pure, the Crypt4GH codec knows nothing of the rest of
# kura, the library never calls up into the daemon, and the daemon's own
# modules call one way only (docs/design.md, the daemon). Read from the
# symbols of the build's objects (nm, objdump), so a call that breaks one
# fails here even when every behaviour test still passes. No mount, no users:
# it lives here because tests/run.sh runs shell tests from this directory.
. "$(dirname "$0")/lib.sh"

LIB=$KURA_BUILD/src/lib
require "the library's objects are built ($LIB)" test -f "$LIB/policy.o" -a -f "$LIB/model.o"
# The objects of today's sources in a library folder ("" the library's own,
# c4gh the codec, cmd the command layer): an object left from a moved or
# removed file is no module.
objs() { local d=${1:-}; (cd "$KURA_TOP/src/lib/$d" && ls ./*.c) | sed "s|^\./|$LIB/${d:+$d/}|; s|\.c\$|.o|"; }

# Symbols the compiler adds (sanitizers, stack protector): not calls kura wrote.
instrumentation='^(__asan_|__ubsan_|__sanitizer_|__stack_chk_fail$)'
undefined() { nm -u "$@" | awk 'NF == 2 { print $2 }' | grep -Ev "$instrumentation" | sort -u; }
defined() { nm --defined-only "$@" | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort -u; }
# What the first list names that the second does not.
outside() { comm -23 <(printf '%s\n' "$1" | sed '/^$/d') <(printf '%s\n' "$2" | sed '/^$/d'); }

# ---- kura_policy_decide is pure: no I/O, no clock, no writable global ----
pure_libc=$(printf '%s\n' strcmp strncmp strlen memcmp memcpy memset | sort)
allowed=$(sort -u <(defined "$LIB/model.o") <(printf '%s\n' "$pure_libc"))
calls=$(outside "$(undefined "$LIB/policy.o")" "$allowed")
check "policy.o calls nothing but the model's lookups and pure string functions" test -z "$calls"
[ -z "$calls" ] || diag "policy.o also calls: $(echo $calls)"
# Objects in writable sections (.data, .bss; .data.rel.ro is read-only once loaded).
writable=$(objdump -t "$LIB/policy.o" | awk '$3 == "O" && $4 ~ /^\.(data|bss)/ && $4 !~ /^\.data\.rel\.ro/ { print $NF }' |
           grep -Ev '^(__asan|___asan|\.L)' || true)
check "policy.o holds no writable global" test -z "$writable"
[ -z "$writable" ] || diag "writable objects in policy.o: $(echo $writable)"

# ---- the codec knows nothing of the file system it serves ----
# kura symbols it may use: errors, secure memory and fsutil's byte I/O.
base=$(defined "$LIB/error.o" "$LIB/secmem.o" "$LIB/fsutil.o")
codec=$(defined $(objs c4gh))
kura_calls=$(undefined $(objs c4gh) | grep -E '^(kura_|kurafs_|fuse_)' || true)
beyond=$(outside "$kura_calls" "$(sort -u <(printf '%s\n' "$base") <(printf '%s\n' "$codec"))")
check "the c4gh objects use no kura module but error, secmem and fsutil, and no FUSE" test -z "$beyond"
[ -z "$beyond" ] || diag "c4gh also calls: $(echo $beyond)"

# ---- layers never call back up: the library calls nothing of the programs ----
programs=$(defined "$KURA_BUILD"/src/kurafs/*.o "$KURA_BUILD"/src/kuractl/*.o | grep -v '^main$')
up=$(comm -12 <(undefined $(objs) $(objs c4gh) $(objs cmd)) <(printf '%s\n' "$programs"))
fuse=$(undefined $(objs) $(objs c4gh) $(objs cmd) | grep '^fuse_' || true)
check "no library object calls a function of kurafs or kuractl" test -z "$up"
[ -z "$up" ] || diag "called up: $(echo $up)"
check "no library object calls libfuse" test -z "$fuse"
[ -z "$fuse" ] || diag "libfuse calls in the library: $(echo $fuse)"

# ---- the command layer sits on the library: nothing below calls into it ----
commands=$(defined $(objs cmd))
below=$(comm -12 <(undefined $(objs) $(objs c4gh)) <(printf '%s\n' "$commands"))
check "no library object outside src/lib/cmd calls the command layer" test -z "$below"
[ -z "$below" ] || diag "called up into src/lib/cmd: $(echo $below)"
# ---- the command table is at the top of the command layer: the commands it
# lists take nothing from it (a change called as a function is given its
# row), so dispatch and commands form no circle ----
table_users=$(for o in $(objs cmd); do
    [ "$(basename "$o")" = cmd_main.o ] && continue
    comm -12 <(undefined "$o") <(defined "$LIB/cmd/cmd_main.o") | sed "s|^|$(basename "$o"): |"
done)
check "no command object calls a function of cmd_main.o (the table, dispatch)" test -z "$table_users"
[ -z "$table_users" ] || diag "calls into cmd_main.o: $(echo $table_users)"

# ---- the daemon: one direction, main.c a leaf, state only in struct kurafs ----
FS=$KURA_BUILD/src/kurafs
# The objects of today's sources (an object left from a removed file is no module).
modules=$(cd "$KURA_TOP/src/kurafs" && ls *.c | sed 's/\.c$//')
missing=$(for m in $modules; do [ -f "$FS/$m.o" ] || echo "$m.o"; done)
require "the daemon's objects are built ($FS)" test -z "$missing"
# The layers, top first: a module calls functions of lower layers only, so
# an open reads fs_ops -> handle -> {decide, audit} -> library and nothing
# calls back up (decide and audit share a layer: neither calls the other).
layers=(
    "main"
    "fs_ops cluster_node"
    "fs_refuse maintain"
    "revoke"
    "holders"
    "handle"
    "state"
    "acl decide audit"
    "caller clock metrics pagecache cache_rules"
    "ship"
)
declare -A rank
for i in "${!layers[@]}"; do
    for m in ${layers[$i]}; do rank[$m]=$i; done
done
unplaced=$(for m in $modules; do [ -n "${rank[$m]+x}" ] || echo "$m"; done)
check "every module of src/kurafs has a layer in this test" test -z "$unplaced"
[ -z "$unplaced" ] || diag "not placed: $(echo $unplaced)"
upward=""
for a in $modules; do
    for b in $modules; do
        [ "$a" != "$b" ] && [ -n "${rank[$a]+x}" ] && [ -n "${rank[$b]+x}" ] || continue
        [ "${rank[$a]}" -lt "${rank[$b]}" ] && continue
        called=$(comm -12 <(undefined "$FS/$a.o") <(defined "$FS/$b.o"))
        [ -z "$called" ] || upward+="$a -> $b: $(echo $called); "
    done
done
check "no daemon module calls one of its own layer or above" test -z "$upward"
[ -z "$upward" ] || diag "calls against the layers: $upward"

# main.c only assembles: nothing calls it, and only it starts and stops.
others=$(for m in $modules; do [ "$m" = main ] || echo "$FS/$m.o"; done)
into_main=$(comm -12 <(undefined $others) <(defined "$FS/main.o" | grep -v '^main$'))
check "no daemon module calls a function of main.c" test -z "$into_main"
[ -z "$into_main" ] || diag "called in main.c: $(echo $into_main)"
lifecycle='^(kurafs_[a-z_]+_(init|start|stop|attach|detach|free)|kurafs_add_[a-z]+_ops|handle_table_free|fuse_(new|mount|unmount|destroy|loop|loop_mt)|kura_ctl_server_(start|stop))$'
starts=$(undefined $others | grep -E "$lifecycle" || true)
check "only main.c starts, stops and assembles the daemon's parts" test -z "$starts"
[ -z "$starts" ] || diag "also called outside main.c: $(echo $starts)"
tables=$(cd "$KURA_TOP/src/kurafs" && grep -lE 'struct fuse_operations[[:space:]]+[A-Za-z_]' *.c | grep -vx main.c || true)
check "no file but main.c defines a fuse_operations table" test -z "$tables"
[ -z "$tables" ] || diag "fuse_operations defined in: $tables"

# The decision knows no log and no FUSE: not by a call, not by a header.
decide_calls=$(undefined "$FS/decide.o" | grep -E '^(kura_audit_|kurafs_audit|audit_|fuse_)' || true)
check "decide.o calls no audit function and no libfuse" test -z "$decide_calls"
[ -z "$decide_calls" ] || diag "decide.o calls: $(echo $decide_calls)"
require "the compiler's dependency file of decide.o is there" test -f "$FS/decide.d"
decide_headers=$(tr ' \\' '\n\n' < "$FS/decide.d" | grep -E '(audit|fuse[^/]*)\.h$' || true)
check "decide.c includes no audit header and no FUSE header, not even through another" test -z "$decide_headers"
[ -z "$decide_headers" ] || diag "decide.c reaches: $(echo $decide_headers)"

# No state outside struct kurafs (every request reads it from private_data),
# but the one a signal handler needs: a handler is given no context.
state_objects=""
for m in $modules; do
    w=$(objdump -t "$FS/$m.o" | awk '$3 == "O" && $4 ~ /^\.(data|bss)/ && $4 !~ /^\.data\.rel\.ro/ { print $NF }' |
        grep -Ev '^(__asan|___asan|__odr_asan|__ubsan|\.L)' || true)
    [ "$m" = main ] && w=$(printf '%s\n' "$w" | grep -vx signals || true)
    [ -z "$w" ] || state_objects+="$m.o: $(echo $w); "
done
check "no module of src/kurafs keeps file-scope mutable state (main.c's signal state aside)" test -z "$state_objects"
[ -z "$state_objects" ] || diag "writable objects: $state_objects"

done_testing
