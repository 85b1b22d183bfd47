#!/usr/bin/env bash
# A report whose period reaches back past the records the audit log still
# holds ([audit] retention_years removed the oldest files, each removal
# recorded) must say from when its figures hold, not pass the use of the
# years kept for the use of the whole period: the end-of-use report covers
# a dataset's whole use, and a dataset may be used longer than the
# retention (so may an incident report's window). The log is aged by its
# records' times (audit_backdate), not by a clock. (found by an auditor's
# review)
. "$(dirname "$0")/lib.sh"

ID=JGAD000001   # audit_backdate's records name it, by kt_old (uid 60000)
make_user kt_alice
require "kuractl init" kura_init
require "dataset $ID, in use since 2019" quietly kuractl dataset add "$ID" --pi kt_alice --period "2019-01-01..$(day 30)"
LOG=$KROOT/log/audit.jsonl
old_ms=$(( $(date -d '2019-01-10T00:00:00Z' +%s) * 1000 ))
recent_ms=$(( ($(date +%s) - 400 * 86400) * 1000 ))
require "30 opens of 2019, 10 of 400 days ago, rotated at 2000 bytes" \
  bash -c "'$KURA_BUILD/tests/audit_backdate' '$KCONF' 2000 $old_ms 30 && '$KURA_BUILD/tests/audit_backdate' '$KCONF' 2000 $recent_ms 10"
require "mount (retention runs)" mount_kura "$T/mnt"
check "the files of 2019 are removed under retention" wait_for 10 grep -q '"event":"retention"' "$LOG"
stop_kura "$T/mnt"

kuractl report usage "$ID" --json >"$T/usage.json" 2>&1
kuractl report usage "$ID" --lang en >"$T/usage.md" 2>&1
# From the raw log: the first record kept, and the opens of 2019 still in it.
cat >"$T/kept.py" <<'PY'
import glob, json, sys
log, rep = sys.argv[1], json.load(open(sys.argv[2]))
recs = sorted((json.loads(l) for f in glob.glob(log + "*") if not f.endswith(".head") for l in open(f)),
              key=lambda r: r["seq"])
first = recs[0]
users = {u["user"]: u for u in rep["users"]}
print("# first record kept:", first["seq"], first["time"], "report:", rep["report"].get("audit_log_first_seq"),
      rep["report"].get("audit_log_missing_before"))
ok = first["seq"] > 1 and users["kt_old"]["opens"] == sum(1 for r in recs if r["event"] == "open" and r.get("user") == "kt_old") < 40
ok = ok and rep["report"]["audit_log_first_seq"] == first["seq"] and rep["report"]["audit_log_missing_before"] == first["time"][:19] + first["time"][23:]
sys.exit(0 if ok else 1)
PY
check "usage: the report names the first record the log holds and says the records before its time are missing" \
  python3 "$T/kept.py" "$LOG" "$T/usage.json"
check "... in the Markdown too" grep -Eq "^- Records missing from the audit log before: 20[0-9-]+T" "$T/usage.md"
kuractl report usage "$ID" --from "$(day -1)" --json >"$T/recent.json" 2>&1
check "a period after the first record kept: nothing missing (none)" \
  python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["report"]["audit_log_missing_before"] == "none" else 1)' "$T/recent.json"
kuractl report incident --from 2019-01-01 --to "$(day 0)" --dataset "$ID" --json >"$T/incident.json" 2>&1
check "incident: a window from 2019 says the same of the log" python3 -c 'import json, sys
a, b = json.load(open(sys.argv[1]))["report"], json.load(open(sys.argv[2]))["report"]
sys.exit(0 if a["audit_log_missing_before"] == b["audit_log_missing_before"] != "none" and a["audit_log_first_seq"] == b["audit_log_first_seq"] > 1 else 1)' \
  "$T/usage.json" "$T/incident.json"
missing_within() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["report"]["audit_log_missing_within"])' "$1"; }
check "a whole log from its first record kept: no record missing within" test "$(missing_within "$T/usage.json")" = 0

# A rotated file in the middle of what is kept, lost (or moved away): the
# reports count the records missing within the log they read, the number
# the raw log's sequence numbers give, as audit verify does.
require "30 more opens, rotated at 2000 bytes" "$KURA_BUILD/tests/audit_backdate" "$KCONF" 2000 "$recent_ms" 30
mid=$(ls "$LOG".* | grep -v '\.head$' | sort -V | sed -n 2p)
gone=$(wc -l <"$mid")
require "a rotated file in the middle ($(basename "$mid"), $gone records) moved away" mv "$mid" "$T/"
kuractl report usage "$ID" --json >"$T/gap.json" 2>&1
kuractl report incident --from 2019-01-01 --to "$(day 1)" --dataset "$ID" --json >"$T/gap-incident.json" 2>&1
kuractl report usage "$ID" --lang en >"$T/gap.md" 2>&1
check "usage: the records missing within the log are counted ($gone)" test "$(missing_within "$T/gap.json")" = "$gone"
check "incident: the same" test "$(missing_within "$T/gap-incident.json")" = "$gone"
check "... in the Markdown too" grep -q "^- Records missing within the audit log read (kuractl audit verify names them): $gone\$" "$T/gap.md"
check_fails "audit verify fails on the same log" kuractl audit verify
done_testing
