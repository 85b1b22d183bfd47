#!/usr/bin/env bash
# The shell helpers the tests source (lib.sh and tests/helpers/*.sh) define
# each function once: a second definition silently replaces the first for
# every test that sources both, as cluster_nodes.sh's one_file_dataset once
# replaced lib.sh's with another signature. No mount, no users.
. "$(dirname "$0")/lib.sh"

cd "$KURA_TOP" || exit 1
sources=(tests/integration/lib.sh tests/helpers/*.sh)
defs=$(grep -hoE '^[A-Za-z_][A-Za-z0-9_]*\(\)' "${sources[@]}" | sort)
require "the helpers define functions at all" test -n "$defs"
check "the helpers define at least 20 functions" test "$(echo "$defs" | wc -l)" -ge 20
repeated=$(echo "$defs" | uniq -d)
check "no helper function is defined twice in ${sources[*]}" test -z "$repeated"
[ -z "$repeated" ] || diag "defined twice: $(echo $repeated)"

done_testing
