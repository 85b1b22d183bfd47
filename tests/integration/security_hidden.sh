#!/usr/bin/env bash
# What is hidden stays hidden (issue 14 §5), as real users through a real
# mount and the real control socket:
#  - an outsider never waits on a dataset's lock: while a change holds it,
#    their refused `kuractl user list ID` answers at once, as for a missing id.
. "$(dirname "$0")/lib.sh"

ID=JGAD140501 MISSING=JGAD149999
for u in kt_alice kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
mkdir -p "$T/data"
head -c 10000 /dev/urandom >"$T/data/a.bin"
chmod -R a+rX "$T/data"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
require "import" kuractl dataset import "$ID" --encrypt "$T/data"
require "mount" mount_kura "$T/mnt"
DSDIR=$(sed -n 's/^state_dir = //p' "$KCONF")/datasets/$ID
require "the dataset's lock file" test -e "$DSDIR/.lock"

# Milliseconds a command takes, its output discarded.
elapsed_ms() { local t0; t0=$(date +%s%N); "$@" >/dev/null 2>&1; echo $((($(date +%s%N) - t0) / 1000000)); }

# ---- an outsider never waits on a dataset's lock ----
(exec 9<>"$DSDIR/.lock" && flock 9 && exec sleep 30) &
holder=$!
on_exit "kill $holder"
sleep 0.3
ms=$(elapsed_ms as kt_carol "$KURACTL" -c "$KCONF" user list "$ID")
diag "outsider's user list of a locked dataset: $ms ms"
check "while a change holds the lock, an outsider's user list is refused at once ($ms ms < 5000)" test "$ms" -lt 5000
out=$(as kt_carol "$KURACTL" -c "$KCONF" user list "$ID" 2>&1)
missing=$(as kt_carol "$KURACTL" -c "$KCONF" user list "$MISSING" 2>&1)
check "... with the refusal a missing id gets" test "${out//$ID/X}" = "${missing//$MISSING/X}"
for cmd in ledger "report usage" "user remove"; do
  # shellcheck disable=SC2086
  ms=$(elapsed_ms as kt_carol "$KURACTL" -c "$KCONF" $cmd "$ID" kt_carol)
  check "while locked, an outsider's $cmd answers at once ($ms ms)" test "$ms" -lt 5000
done
kill "$holder"; wait "$holder" 2>/dev/null
check "the PI still lists the users" as kt_alice "$KURACTL" -c "$KCONF" user list "$ID"

stop_kura "$T/mnt"
done_testing
