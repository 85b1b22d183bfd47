#!/usr/bin/env bash
# The nevers of docs/design.md (section 10) that the object files can show:
# the policy stays pure, the Crypt4GH codec knows nothing of the rest of
# kura, and the library never calls up into the daemon. Read from the
# symbols of the build's objects (nm, objdump), so a call that breaks one
# fails here even when every behaviour test still passes. No mount, no users:
# it lives here because tests/run.sh runs shell tests from this directory.
. "$(dirname "$0")/lib.sh"

LIB=$KURA_BUILD/src/lib
require "the library's objects are built ($LIB)" test -f "$LIB/policy.o" -a -f "$LIB/model.o"

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
codec=$(defined "$LIB"/c4gh_*.o)
kura_calls=$(undefined "$LIB"/c4gh_*.o | grep -E '^(kura_|kurafs_|fuse_)' || true)
beyond=$(outside "$kura_calls" "$(sort -u <(printf '%s\n' "$base") <(printf '%s\n' "$codec"))")
check "the c4gh objects use no kura module but error, secmem and fsutil, and no FUSE" test -z "$beyond"
[ -z "$beyond" ] || diag "c4gh also calls: $(echo $beyond)"

# ---- layers never call back up: the library calls nothing of the programs ----
programs=$(defined "$KURA_BUILD"/src/kurafs/*.o "$KURA_BUILD"/src/kuractl/*.o | grep -v '^main$')
up=$(comm -12 <(undefined "$LIB"/*.o) <(printf '%s\n' "$programs"))
fuse=$(undefined "$LIB"/*.o | grep '^fuse_' || true)
check "no library object calls a function of kurafs or kuractl" test -z "$up"
[ -z "$up" ] || diag "called up: $(echo $up)"
check "no library object calls libfuse" test -z "$fuse"
[ -z "$fuse" ] || diag "libfuse calls in the library: $(echo $fuse)"

done_testing
