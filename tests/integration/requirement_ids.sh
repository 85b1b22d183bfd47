#!/usr/bin/env bash
# docs/requirements.md stays the list of requirement ids: every id the code,
# tests, docs, man pages, scripts and config cite is defined there (a row
# "| **R-XXX-N** |"), and every id defined there is cited somewhere else.
# The fuzzers' corpora are left out: libFuzzer mutates the ids in them.
# No mount, no users: it lives here because tests/run.sh runs shell tests
# from this directory.
. "$(dirname "$0")/lib.sh"

cd "$KURA_TOP" || exit 1
REQ=docs/requirements.md
require "$REQ exists" test -f "$REQ"

cited=$(grep -rhoE 'R-[A-Z]+-[0-9]+' src include tests docs man scripts config README.md \
          --exclude-dir=corpus --exclude=requirements.md | sort -u)
defined=$(grep -oE '^\| \*\*R-[A-Z]+-[0-9]+\*\* \|' "$REQ" | grep -oE 'R-[A-Z]+-[0-9]+' | sort -u)
require "ids are cited and defined at all" test -n "$cited" -a -n "$defined"

missing=$(comm -23 <(echo "$cited") <(echo "$defined"))
check "every cited requirement id is defined in $REQ" test -z "$missing"
[ -z "$missing" ] || diag "cited but not defined: $(echo $missing)"
unused=$(comm -13 <(echo "$cited") <(echo "$defined"))
check "every id $REQ defines is cited in the code, tests or docs" test -z "$unused"
[ -z "$unused" ] || diag "defined but cited nowhere: $(echo $unused)"
repeated=$(grep -oE '^\| \*\*R-[A-Z]+-[0-9]+\*\* \|' "$REQ" | sort | uniq -d)
check "no id is defined twice" test -z "$repeated"

done_testing
