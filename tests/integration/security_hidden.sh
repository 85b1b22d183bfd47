#!/usr/bin/env bash
# What is hidden stays hidden (issue 14 §5), as real users through a real
# mount and the real control socket:
#  - an outsider never waits on a dataset's lock: while a change holds it,
#    their refused `kuractl user list ID` answers at once, as for a missing id;
#  - an outsider's lookup of an existing dataset id and of a missing one
#    cost the same (both are refused and recorded alike): medians of
#    alternating lookups, their ratio printed and held close to 1;
#  - link counts: the state directory is root's alone (the daemon closes an
#    old 0755 one), so nobody else can stat datasets/ or store/, whose link
#    counts are the number of datasets;
#  - inode numbers are not catalog positions: a listed user's inode numbers
#    stay the same when a dataset hidden from them is added before theirs
#    (positions would shift, and their gaps count hidden things).
. "$(dirname "$0")/lib.sh"

ID=JGAD140501 MISSING=JGAD149999
for u in kt_alice kt_carol kt_dave; do make_user "$u"; done
require "kuractl init" kura_init
require "dataset $ID of kt_alice" one_file_dataset "$ID" kt_alice a.bin 10000
STATE=$(sed -n 's/^state_dir = //p' "$KCONF")
check "kuractl init makes the state directory 0700" test "$(stat -c %a "$STATE")" = 700
chmod 0755 "$STATE" # as installs before issue 14 left it
require "mount" mount_kura "$T/mnt"
DSDIR=$STATE/datasets/$ID
check "the daemon closes an old 0755 state directory (now $(stat -c %a "$STATE"))" test "$(stat -c %a "$STATE")" = 700
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

# ---- lookups: an existing id costs an outsider what a missing one does ----
cat >"$T/lookup_timing.py" <<'PY'
import os, statistics, sys, time
mnt, existing, missing, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
times = {existing: [], missing: []}
for i in range(2 * n):                  # alternating, so load hits both alike
    name = existing if i % 2 == 0 else missing
    t0 = time.perf_counter()
    try:
        os.stat(os.path.join(mnt, name))
        sys.exit("the outsider could stat " + name)
    except FileNotFoundError:
        pass
    times[name].append(time.perf_counter() - t0)
e, m = statistics.median(times[existing]), statistics.median(times[missing])
print("%.1f %.1f %.2f" % (e * 1e6, m * 1e6, e / m))
PY
read -r e_us m_us ratio < <(as kt_carol /usr/bin/python3 "$T/lookup_timing.py" "$T/mnt" "$ID" "$MISSING" 200)
diag "outsider lookups, median of 200 each: existing $ID ${e_us} us, missing $MISSING ${m_us} us, ratio $ratio"
check "an outsider's lookup of an existing id costs what a missing one does (ratio $ratio in 0.5..2)" \
  python3 -c "import sys; r = float('${ratio:-0}'); sys.exit(0 if 0.5 <= r <= 2 else 1)"
n_missing=$(grep -c '"path":"/'"$MISSING"'"' "$KROOT/log/audit.jsonl")
n_existing=$(grep -c '"path":"/'"$ID"'".*"detail":"lookup"' "$KROOT/log/audit.jsonl")
diag "lookup records: existing $n_existing, missing $n_missing"
# (Equal counts, not 200 each: refusals may be aggregated, but never one kind only.)
check "both kinds of lookup are recorded alike ($n_existing and $n_missing records)" test "$n_missing" -gt 0 -a "$n_missing" = "$n_existing"
check "the PI's lookup of a missing file in her dataset is not recorded" bash -c "
  setpriv --reuid=kt_alice --regid=$(id -g kt_alice) --init-groups stat '$T/mnt/$ID/no-such-file' 2>/dev/null
  ! grep -q '\"path\":\"/$ID/no-such-file\"' '$KROOT/log/audit.jsonl'"

# ---- inode numbers do not count hidden datasets ----
HIDDEN=JGAD140500 # sorts before $ID
inodes() { as kt_alice stat -c '%i %n' "$T/mnt/$ID" "$T/mnt/$ID/a.bin"; }
before=$(inodes)
require "add dataset $HIDDEN, hidden from kt_alice" one_file_dataset "$HIDDEN" kt_carol h.bin 1000
check "the hidden dataset is served (to its PI)" as kt_carol cmp -s "$T/mnt/$HIDDEN/h.bin" "$T/$HIDDEN/h.bin"
for d in datasets store; do
  check_fails "another user cannot stat $d/ (its link count counts datasets)" as kt_alice stat "$STATE/$d"
done
check_fails "another user cannot stat the state directory's entries at all" as kt_alice ls "$STATE"
after=$(inodes)
diag "kt_alice's inodes before: $(echo $before)" "after: $(echo $after)"
check "a listed user's inode numbers do not change when a hidden dataset is added" test "$before" = "$after"
root_ino=$(as kt_alice stat -c %i "$T/mnt")
check "the root's inode is 1" test "$root_ino" = 1
check "the dataset's inode is not a small position" test "$(as kt_alice stat -c %i "$T/mnt/$ID")" -gt 65536

# ---- a refusal tells an outsider nothing of a hidden dataset's state ----
# (kt_dave: kt_carol's refusals above spent her bound, and are counted now)
require "suspend $ID" kuractl dataset suspend "$ID" --reason "hidden state"
check_fails "kt_dave's look at suspended $ID is refused" as kt_dave stat "$T/mnt/$ID"
check "... recorded as 'not listed', as a made-up id is, not as suspended" bash -c \
  "grep '\"user\":\"kt_dave\"' '$KROOT/log/audit.jsonl' | grep '\"dataset\":\"$ID\"' | tail -1 | grep -q '\"reason\":\"not listed\"'"
require "resume $ID" kuractl dataset resume "$ID"

# ---- one refusal bound per user, whichever dataset is named ----
# With a bound per dataset, an outsider's look at an existing hidden id was
# still written and synced once made-up names had spent theirs, and took
# longer than a made-up one: a clock told them which ids exist. Now the
# existing id's refusal is counted at once too, for its dataset's summary.
stop_kura "$T/mnt"
LOG=$KROOT/log/audit.jsonl
sed -i 's/^refusals_per_hour = .*/refusals_per_hour = 5/' "$KCONF"
require "mount with a bound of 5 refusals an hour" mount_kura "$T/mnt"
for i in 1 2 3 4 5 6; do as kt_carol stat "$T/mnt/JGAD14990$i" >/dev/null 2>&1; done
carol_at_id() { grep '"user":"kt_carol"' "$LOG" | grep -c "\"dataset\":\"$1\""; }
before_id=$(carol_at_id "$ID")
check_fails "kt_carol's look at $ID is refused" as kt_carol stat "$T/mnt/$ID"
check "made-up names spent her bound: her refusal at existing $ID is counted, not written on its own" \
  test "$(carol_at_id "$ID")" = "$before_id"
stop_kura "$T/mnt"
check "... and is in a summary naming $ID once the daemon stops" \
  bash -c "grep '\"event\":\"refusals\"' '$LOG' | grep '\"user\":\"kt_carol\"' | grep -q '\"dataset\":\"$ID\"'"
done_testing
