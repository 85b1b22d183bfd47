#!/usr/bin/env bash
# The audit log's summary for its regular review (R-LOG-9): kuractl audit
# summary counts, per dataset, the users who opened files, opens allowed,
# reads through another process's open (apart from the opens),
# bytes read, refusals by reason and alerts, and the refusals outside any
# dataset; the counts are compared with the JSONL read independently here.
# A PI sees their datasets only. kurafs sends it on [audit] summary_weekday
# through notify_command (KURA_EVENT=audit-summary, the text in KURA_FILE),
# once: not again after a restart.
. "$(dirname "$0")/lib.sh"

for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
LOG=$KROOT/log/audit.jsonl
NOTES=$T/notices
notice_lines "$NOTES" '[ "$KURA_EVENT" = audit-summary ] && cp "$KURA_FILE" '"$T"'/sent.$(date +%s%N) && echo "file $KURA_FILE" >>'"$NOTES"
today=$(TZ=Asia/Tokyo date +%a | tr 'A-Z' 'a-z')
sed -i "s|^summary_weekday = .*|summary_weekday = $today|" "$KCONF"
require "a dataset of alice's" one_file_dataset JGAD000030 kt_alice f.bin 100000
require "bob listed" kuractl user add JGAD000030 kt_bob
require "mount" mount_kura "$T/mnt"
M=$T/mnt/JGAD000030

for i in $(seq 1 100); do grep -q '^file ' "$NOTES" 2>/dev/null && break; sleep 0.1; done
check "the weekly summary is sent on its day (audit-summary)" test "$(grep -c '^audit-summary ' "$NOTES")" = 1
check "KURA_FILE names the summary in the state directory" grep -qx "file $KROOT/lib/audit-summary.md" "$NOTES"
check "the file sent is the summary, signed" bash -c "grep -q '^# Audit log summary' '$T'/sent.* && grep -q 'kura-signature' '$T'/sent.*"
check "the file is root's alone" test "$(stat -c %a "$KROOT/lib/audit-summary.md")" = 600
check_output "it verifies as a report signed on this server" "the signature verifies" kuractl report verify "$KROOT/lib/audit-summary.md"
check "it is marked as sent" grep -q "^-	-	audit-summary $(TZ=Asia/Tokyo date +%F)	" "$KROOT/lib/reminders.tsv"

# opens and refusals through the mount
for i in 1 2; do as kt_alice cat "$M/f.bin" >/dev/null; done
as kt_bob cat "$M/f.bin" >/dev/null
for i in 1 2 3; do as kt_carol cat "$M/f.bin" >/dev/null 2>&1; done
as kt_bob cp "$M/f.bin" "$T/copy" 2>/dev/null
as kt_carol mkdir "$T/mnt/outside" 2>/dev/null
as kt_bob touch "$M/new" 2>/dev/null
audit_quiet

since=$(TZ=Asia/Tokyo date +%F)
require "kuractl audit summary --json" bash -c "'$KURACTL' -c '$KCONF' audit summary --since $since --json >'$T/summary.json'"
# The same counts from the JSONL, independently (the records of today in
# the server's zone, written before the summary was asked for).
cat >"$T/expect.py" <<'PY'
import json, sys
from datetime import datetime
from zoneinfo import ZoneInfo
since = datetime.fromisoformat(sys.argv[2]).replace(tzinfo=ZoneInfo("Asia/Tokyo"))
users, refusals, alerts = {}, {}, {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if datetime.fromisoformat(r["time"]) < since:
        continue
    ds = r.get("dataset") or "outside"
    ev, dec = r["event"], r["decision"]
    if ev == "open" and dec == "allow" and "dataset" in r:
        reader = (r.get("detail") or "").startswith("reads through a file pid ")
        u = users.setdefault((ds, r.get("user", "-")), [0, 0, 0]); u[2 if reader else 0] += 1
    elif ev == "close" and r.get("bytes", 0) > 0 and "dataset" in r:
        u = users.setdefault((ds, r.get("user", "-")), [0, 0, 0]); u[1] += r["bytes"]
    elif ev == "refusals" or (dec == "deny" and ev in ("open", "write-denied")):
        k = (ds, r.get("reason", "-")); refusals[k] = refusals.get(k, 0) + (r.get("count", 1) if ev == "refusals" else 1)
    elif ev == "alert":
        k = (ds, r.get("reason", "-")); alerts[k] = alerts.get(k, 0) + 1
order = lambda k: (k[0] == "outside", k)
out = {"datasets": [], "users": [], "refusals": [], "alerts": []}
for ds in sorted({k[0] for k in list(users) + list(refusals) + list(alerts)}, key=lambda d: (d == "outside", d)):
    mine = {k: v for k, v in users.items() if k[0] == ds}
    out["datasets"].append({"dataset": ds, "users": sum(1 for v in mine.values() if v[0] > 0 or v[2] > 0),
                            "opens": sum(v[0] for v in mine.values()), "read_throughs": sum(v[2] for v in mine.values()),
                            "bytes_read": sum(v[1] for v in mine.values()),
                            "refusals": sum(v for k, v in refusals.items() if k[0] == ds),
                            "alerts": sum(v for k, v in alerts.items() if k[0] == ds)})
out["users"] = [{"dataset": k[0], "user": k[1], "opens": v[0], "read_throughs": v[2], "bytes_read": v[1]} for k, v in sorted(users.items(), key=lambda kv: order(kv[0]))]
out["refusals"] = [{"dataset": k[0], "reason": k[1], "count": v} for k, v in sorted(refusals.items(), key=lambda kv: order(kv[0]))]
out["alerts"] = [{"dataset": k[0], "reason": k[1], "count": v} for k, v in sorted(alerts.items(), key=lambda kv: order(kv[0]))]
print(json.dumps(out, sort_keys=True))
PY
python3 "$T/expect.py" "$LOG" "$since" >"$T/expect.json"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d.pop("report"); print(json.dumps(d, sort_keys=True))' "$T/summary.json" >"$T/got.json"
check "the summary's counts equal the log's, counted apart" cmp "$T/expect.json" "$T/got.json"
[ "$(cat "$T/expect.json")" = "$(cat "$T/got.json")" ] || diag "expected $(cat "$T/expect.json")" "got $(cat "$T/got.json")"
check "alice 2 opens, bob 1, 100000 bytes each read" \
  python3 -c 'import json, sys; u = {x["user"]: x for x in json.load(open(sys.argv[1]))["users"]}; sys.exit(not (u["kt_alice"]["opens"] == 2 and u["kt_bob"]["opens"] == 1 and u["kt_alice"]["bytes_read"] == 200000))' "$T/summary.json"
check "refusals by reason: not listed 3, guard 1, read-only 1, and outside any dataset" \
  python3 -c 'import json, sys; r = {(x["dataset"], x["reason"]): x["count"] for x in json.load(open(sys.argv[1]))["refusals"]}; sys.exit(not (r[("JGAD000030", "not listed")] == 3 and r[("JGAD000030", "guard")] == 1 and r[("JGAD000030", "read-only")] == 1 and r[("outside", "read-only")] >= 1))' "$T/summary.json"
check_output "the text form: a row per dataset (2 users, 3 opens, no read-through, 300000 bytes, 5 refusals, 2 bulk-read alerts)" \
  '^\| JGAD000030 \| 2 \| 3 \| 0 \| 293\.0 KiB \| 5 \| 2 \|' \
  kuractl audit summary --since "$since"
as kt_alice "$KURACTL" -c "$KCONF" audit summary --since "$since" --json >"$T/alice.json" 2>&1
check "the PI sees her dataset" grep -q '"dataset":"JGAD000030"' "$T/alice.json"
check "... and not the refusals outside any dataset" bash -c "! grep -q outside '$T/alice.json'"
check_output_fails "a listed user who is not a PI is refused" "only operators and the PI" \
  as kt_bob "$KURACTL" -c "$KCONF" audit summary --since "$since"
check_output_fails "--since is required" "--since .* is required" kuractl audit summary
check_output_fails "--until before --since is refused" "before --since" kuractl audit summary --since "$since" --until 2020-01-01
stop_kura "$T/mnt"

# Restart: a dataset whose 60-day reminder falls due then; the tick sends the
# summary (if due) before the reminders, so once the reminder is out, the
# summary would have been too.
require "a dataset ending in 50 days" kuractl dataset add JGAD000031 --pi kt_alice --period "$(day -1)..$(day 50)"
require "mount again" mount_kura "$T/mnt"
for i in $(seq 1 100); do grep -q '^expiry-warning JGAD000031' "$NOTES" 2>/dev/null && break; sleep 0.1; done
check "the tick ran after the restart (the new reminder is out)" grep -q '^expiry-warning JGAD000031' "$NOTES"
check "the summary is not sent again after a restart" test "$(grep -c '^audit-summary ' "$NOTES")" = 1
stop_kura "$T/mnt"
check "kuractl audit verify passes" kuractl audit verify
done_testing
