#!/usr/bin/env bash
# The reports read as an auditor who signs them, against the raw audit log
# (an independent python3 reading of log/audit.jsonl): what users do
# through a real mount must not make a report leave out, or misstate,
# what the log holds. A handle opened before an incident window and read
# in it; a file a shell opened and cat read (the log records the reader
# as an open naming the pid that opened, and the handle's one close under
# the opener; counted as a read-through, apart from the opens, in every
# report that counts opens); refused writes (create, unlink) into the dataset; a usage
# report made while a file read whole is still held open (the log has its
# bytes only at the close); a daemon killed with a handle open. Those
# who read while listed and are listed no more (a PI replaced by set-pi,
# a user removed, a user removed and listed again) are shown with the
# periods the ledger gives them, never as "not-listed".
# (found by an auditor's review)
. "$(dirname "$0")/lib.sh"

ID=JGAD190101
SIZE=200000
for u in kt_alice kt_bob kt_carol kt_dave; do make_user "$u"; done
require "kuractl init" kura_init
require "dataset $ID of kt_alice" one_file_dataset "$ID" kt_alice a.bin "$SIZE"
require "bob listed" kuractl user add "$ID" kt_bob --until "$(day 20)"
require "carol listed" kuractl user add "$ID" kt_carol --until "$(day 20)"
require "mount" mount_kura "$T/mnt"
LOG=$KROOT/log/audit.jsonl
F=$T/mnt/$ID/a.bin
W=$T/work
mkdir -p "$W" && chmod 0777 "$W"

# ---- before the window: bob's process opens a.bin and waits ----
as kt_bob /usr/bin/python3 -c 'import os, sys, time
f = open(sys.argv[1], "rb"); open(sys.argv[2] + "/opened", "w").close()
while not os.path.exists(sys.argv[2] + "/go"): time.sleep(0.05)
n = len(f.read()); f.close(); open(sys.argv[2] + "/done", "w").write(str(n))' "$F" "$W" &
check "before: bob's process opened a.bin" wait_for 10 test -e "$W/opened"
require "the clock moves past the last record" next_second "$(last_second)"
FROM=$(date +%s)

# ---- the window ----
touch "$W/go"
check "in: bob's process reads a.bin through the handle it opened before" wait_for 10 test -s "$W/done"
check "... whole" test "$(cat "$W/done")" = "$SIZE"
check "in: carol reads a.bin, a shell opening it for cat (cat < FILE)" as kt_carol bash -c 'cat <"$1" >/dev/null; true' _ "$F"
check_fails "in: carol's create in the dataset is refused" as kt_carol touch "$T/mnt/$ID/new"
check_fails "in: carol's unlink of a.bin is refused" as kt_carol rm -f "$F"
require "the clock moves past the window's last record" next_second "$(last_second)"
TO=$(date +%s)

kuractl report incident --from "$(stamp "$FROM")" --to "$(stamp "$TO")" --dataset "$ID" --json >"$T/incident.json" 2>&1
kuractl report usage "$ID" --json >"$T/usage.json" 2>&1
kuractl audit summary --since "$(stamp "$FROM")" --until "$(stamp "$TO")" --dataset "$ID" --json >"$T/summary.json" 2>&1
require "the reports are made" python3 -c 'import json, sys; [json.load(open(p)) for p in sys.argv[1:]]' \
  "$T/incident.json" "$T/usage.json" "$T/summary.json"

# The log read independently: a handle is an allowed open that is not a
# reader's record; its close (same uid, pid, dataset, file) carries its bytes.
cat >"$T/audit.py" <<'PY'
import datetime, json, sys
log, inc, use, frm, to, what = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), \
    int(sys.argv[4]) * 1000, int(sys.argv[5]) * 1000, sys.argv[6]
recs = [json.loads(l) for l in open(log)]
for r in recs:
    r["ms"] = int(datetime.datetime.fromisoformat(r["time"]).timestamp() * 1000)
reader = lambda r: (r.get("detail") or "").startswith("reads through a file pid ")
handles = []
for r in recs:
    key = (r.get("uid"), r.get("pid"), r.get("dataset"), r.get("path"))
    if r["event"] == "open" and r["decision"] == "allow" and not reader(r):
        handles.append({"key": key, "user": r.get("user"), "open": r["ms"], "close": None, "bytes": 0, "time": r["time"]})
    elif r["event"] == "close":
        for h in reversed(handles):
            if h["key"] == key and h["close"] is None:
                h["close"], h["bytes"] = r["ms"], r.get("bytes", 0)
                break
def refused(r):
    return r.get("decision") == "deny" and r["event"] in ("open", "write-denied")
users = {u["user"]: u for u in inc["users"]}
ok = True
if what == "incident-bytes":
    # every user whose handle was open in the window, with the bytes its close gave
    want = {}
    for h in handles:
        if h["open"] < to and (h["close"] is None or h["close"] >= frm):
            want[h["user"]] = want.get(h["user"], 0) + h["bytes"]
    got = {u: users[u]["bytes_read"] for u in want if u in users}
    ok = want == got and want.get("kt_bob") == int(sys.argv[7])
    if not ok: print("# log:", want, "report:", got)
elif what == "incident-still-open":
    # a row "not closed" is a handle the log has not closed
    closed = {(h["key"][1], h["time"]) for h in handles if h["close"] is not None}
    bad = [o for o in inc["opens"] if o["bytes_read"] == "still-open" and
           not any(h["key"][1] == int(o["pid"]) and h["time"] == o["time"] and h["close"] is None for h in handles)]
    ok = not bad
    if bad: print("# said not closed, but no open handle of the log:", bad)
elif what == "incident-refused":
    want = {}
    for r in recs:
        if frm <= r["ms"] < to and r.get("dataset") == "JGAD190101":
            n = r.get("count", 0) if r["event"] == "refusals" else 1 if refused(r) else 0
            if n: want[r.get("user")] = want.get(r.get("user"), 0) + n
    got = {u: users[u]["refused"] for u in want if u in users}
    ok = want == got and want.get("kt_carol") == 2
    if not ok: print("# log:", want, "report:", got)
elif what == "usage-refused":
    rows = {u["user"]: u for u in use["users"]}
    want = {}
    for r in recs:
        if r.get("dataset") == "JGAD190101":
            n = r.get("count", 0) if r["event"] == "refusals" else 1 if refused(r) else 0
            if n: want[r.get("user")] = want.get(r.get("user"), 0) + n
    got = {u: rows[u]["refused"] for u in want if u in rows}
    ok = want == got and want.get("kt_carol") == 2
    if not ok: print("# log:", want, "report:", got)
elif what == "usage-opens-bytes":
    # opens are the files opened (a reader's record apart, as read_throughs)
    rows = {u["user"]: u for u in use["users"]}
    for u in ("kt_alice", "kt_bob", "kt_carol"):
        allowed = [r for r in recs if r["event"] == "open" and r["decision"] == "allow" and r.get("user") == u]
        opens, reads = sum(1 for r in allowed if not reader(r)), sum(1 for r in allowed if reader(r))
        b = sum(r.get("bytes", 0) for r in recs if r["event"] == "close" and r.get("user") == u)
        ok = ok and rows[u]["opens"] == opens and rows[u]["read_throughs"] == reads and rows[u]["bytes_read"] == b
        if not ok: print("#", u, "log: opens", opens, "read-throughs", reads, "bytes", b, "report:", rows[u])
    ok = ok and rows["kt_carol"]["read_throughs"] >= 1
elif what == "incident-read-throughs":
    # per user: opens are the handles open in the window (before it too), read-throughs the readers' records in it
    for u in ("kt_bob", "kt_carol"):
        opens = sum(1 for h in handles if h["user"] == u and h["open"] < to and (h["close"] is None or h["close"] >= frm))
        reads = sum(1 for r in recs if frm <= r["ms"] < to and r["event"] == "open" and r["decision"] == "allow" and
                    r.get("user") == u and reader(r))
        ok = ok and users[u]["opens"] == opens and users[u]["read_throughs"] == reads
        if not ok: print("#", u, "log: opens", opens, "read-throughs", reads, "report:", users[u])
    ok = ok and users["kt_carol"]["read_throughs"] >= 1
elif what == "summary-read-throughs":
    # --until a time counts its second
    summ = {u["user"]: u for u in json.load(open(sys.argv[7]))["users"]}
    for u in ("kt_bob", "kt_carol"):
        allowed = [r for r in recs if frm <= r["ms"] < to + 1000 and r["event"] == "open" and r["decision"] == "allow"
                   and r.get("user") == u]
        opens, reads = sum(1 for r in allowed if not reader(r)), sum(1 for r in allowed if reader(r))
        got = summ.get(u, {"opens": 0, "read_throughs": 0})
        ok = ok and got["opens"] == opens and got["read_throughs"] == reads
        if not ok: print("#", u, "log: opens", opens, "read-throughs", reads, "summary:", got)
    ok = ok and summ["kt_carol"]["read_throughs"] >= 1
else:
    ok = False
sys.exit(0 if ok else 1)
PY
audit() { python3 "$T/audit.py" "$LOG" "$T/incident.json" "$T/usage.json" "$FROM" "$TO" "$@"; }
check "incident: a handle opened before the window and read in it is in, with its bytes (as the log's close)" \
  audit incident-bytes "$SIZE"
check "incident: no row says 'not closed' of a handle the log shows closed (cat reading the shell's open)" \
  audit incident-still-open
check "incident: refused writes in the window count as refused, as in the log" audit incident-refused
check "usage: refused writes count in the users' refused attempts, as in the log" audit usage-refused
check "usage: opens, read-throughs (cat reading the shell's open) and bytes per user as in the log" audit usage-opens-bytes
check "incident: opens and read-throughs per user as in the log, apart" audit incident-read-throughs
check "audit summary: opens and read-throughs per user as in the log, apart" audit summary-read-throughs "$T/summary.json"

# ---- a usage report made while a file is held open, read whole: the log
# has no bytes for it until its close; the report must say so, not show
# the bytes as if the log had them all ----
as kt_carol /usr/bin/python3 -c 'import os, sys, time
f = open(sys.argv[1], "rb"); n = len(f.read()); open(sys.argv[2] + "/held", "w").write(str(n))
while not os.path.exists(sys.argv[2] + "/release"): time.sleep(0.05)
f.close(); open(sys.argv[2] + "/released", "w").close()' "$F" "$W" &
check "carol's process reads a.bin whole and holds it open" wait_for 10 test -s "$W/held"
kuractl report usage "$ID" --json >"$T/held.json" 2>&1
kuractl report usage "$ID" --lang en >"$T/held.md" 2>&1
cat >"$T/unclosed.py" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
rep = json.load(open(sys.argv[2]))
reader = lambda r: (r.get("detail") or "").startswith("reads through a file pid ")
open_ = []
for r in recs:
    key = (r.get("uid"), r.get("pid"), r.get("dataset"), r.get("path"))
    if r["event"] == "open" and r["decision"] == "allow" and not reader(r):
        open_.append((key, r.get("user"), r.get("path")))
    elif r["event"] == "close":
        for i in range(len(open_) - 1, -1, -1):
            if open_[i][0] == key:
                del open_[i]
                break
want = sorted((u, p) for _, u, p in open_)
got = sorted((o["user"], o["file"]) for o in rep.get("unclosed", []))
print("# log: handles without a close:", want, "report:", got)
sys.exit(0 if want == got == [("kt_carol", "a.bin")] else 1)
PY
check "usage: a handle the log has no close for is named (user, file), its bytes not in the figures" \
  python3 "$T/unclosed.py" "$LOG" "$T/held.json"
check "... in the Markdown too" grep -q "^| kt_carol | a.bin | " "$T/held.md"
touch "$W/release"
check "carol's process closes a.bin" wait_for 10 test -e "$W/released"
kuractl report usage "$ID" --json >"$T/closed.json" 2>&1
check "once closed: no handle named, and carol's bytes grew by the file's size" python3 -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bytes_of = lambda r: {u["user"]: u["bytes_read"] for u in r["users"]}["kt_carol"]
sys.exit(0 if b.get("unclosed") == [] and bytes_of(b) - bytes_of(a) == int(sys.argv[3]) else 1)' "$T/held.json" "$T/closed.json" "$SIZE"

stop_kura "$T/mnt"

# ---- a daemon killed with a handle open, then started again: that handle
# is gone with it (its close never comes); a window after the start does
# not name it, a window that holds the start does, not closed ----
require "mount again" mount_kura "$T/mnt2"
as kt_bob /usr/bin/python3 -c 'import os, sys, time
f = open(sys.argv[1], "rb"); open(sys.argv[2] + "/bob-holds", "w").close()
while not os.path.exists(sys.argv[2] + "/never"): time.sleep(0.05)' "$T/mnt2/$ID/a.bin" "$W" &
check "bob's process holds a.bin open" wait_for 10 test -e "$W/bob-holds"
require "the clock moves past bob's open" next_second "$(last_second)"
BEFORE=$(date +%s)
kill -9 "$KURAFS_PID"
wait "$KURAFS_PID" 2>/dev/null
require "kurafs killed, started again (its start record)" mount_kura "$T/mnt3"
require "the clock moves past the start" next_second "$(last_second)"
AFTER=$(date +%s)
check "in: alice reads a.bin" as kt_alice cat "$T/mnt3/$ID/a.bin" >/dev/null
require "the clock moves past the last record" next_second "$(last_second)"
END=$(date +%s)
bob_rows() { kuractl report incident --from "$(stamp "$1")" --to "$(stamp "$END")" --dataset "$ID" --json |
  python3 -c 'import json, sys; print(" ".join(o["bytes_read"] for o in json.load(sys.stdin)["opens"] if o["user"] == "kt_bob"))'; }
check "a window holding the daemon's start: bob's handle, not closed" test "$(bob_rows "$BEFORE")" = "still-open"
check "a window after it: bob's handle is gone with the daemon" test -z "$(bob_rows "$AFTER")"
kuractl report incident --from "$(stamp "$AFTER")" --to "$(stamp "$END")" --dataset "$ID" --csv >"$T/after.csv" 2>&1
check "... and alice's read in it is there (the report is not empty)" grep -q '^[^,]*,kt_alice,' "$T/after.csv"
stop_kura "$T/mnt3"

# ---- the dataset destroyed: its destruction and end-of-use reports count
# carol's read-through apart from her opens, as the log has them ----
require "$ID destroyed" bash -c "'$KURACTL' -c '$KCONF' dataset destroy '$ID' --yes >/dev/null"
kuractl report end-of-use "$ID" --json >"$T/end.json" 2>&1
kuractl report destruction "$ID" >"$T/destruction.md" 2>&1
cat >"$T/ended.py" <<'PY'
import json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
end, md = json.load(open(sys.argv[2])), open(sys.argv[3]).read()
reader = lambda r: (r.get("detail") or "").startswith("reads through a file pid ")
allowed = [r for r in recs if r["event"] == "open" and r["decision"] == "allow" and r.get("user") == "kt_carol" and
           r.get("dataset") == "JGAD190101"]
opens, reads = sum(1 for r in allowed if not reader(r)), sum(1 for r in allowed if reader(r))
rows = [u for u in end["users"] if u["user"] == "kt_carol"]
got = (sum(u["opens"] for u in rows), sum(u["read_throughs"] for u in rows))
m = re.search(r"^\| kt_carol \| co-investigator \| [0-9]+ \| [^|]* \| [^|]* \| ([0-9]+) \| ([0-9]+) \| ", md, re.M)
print("# log: opens", opens, "read-throughs", reads, "end-of-use:", got, "destruction:", m and m.groups())
sys.exit(0 if reads >= 1 and got == (opens, reads) and m and tuple(map(int, m.groups())) == (opens, reads) else 1)
PY
check "end-of-use and destruction reports: carol's opens and read-throughs as in the log, apart" \
  python3 "$T/ended.py" "$LOG" "$T/end.json" "$T/destruction.md"

# ---- listed no more: alice reads, then kt_dave is made PI (set-pi); bob
# reads, is removed, is refused; carol reads, is removed, is listed again
# and reads again. Each read was made while listed: the report shows each
# with the period the ledger gives it (the roles former-pi, former-user),
# carol's two periods apart, and no one as not-listed ----
ID2=JGAD190102
require "dataset $ID2 of kt_alice" one_file_dataset "$ID2" kt_alice b.bin 1000
require "bob listed in $ID2" kuractl user add "$ID2" kt_bob --until "$(day 20)"
require "carol listed in $ID2" kuractl user add "$ID2" kt_carol --until "$(day 20)"
require "mount for $ID2" mount_kura "$T/mnt4"
G=$T/mnt4/$ID2/b.bin
check "alice (the PI) reads b.bin" as kt_alice cat "$G" >/dev/null
check "bob reads b.bin" as kt_bob cat "$G" >/dev/null
check "carol reads b.bin (her first grant)" as kt_carol cat "$G" >/dev/null
require "the clock moves past the reads" next_second "$(last_second)"
require "bob removed" kuractl user remove "$ID2" kt_bob
require "carol removed" kuractl user remove "$ID2" kt_carol
check_fails "bob, removed, is refused" as kt_bob cat "$G"
require "the clock moves past the removals" next_second "$(last_second)"
require "carol listed again" kuractl user add "$ID2" kt_carol --until "$(day 20)"
check "carol reads b.bin (her second grant)" as kt_carol cat "$G" >/dev/null
require "the clock moves past carol's read" next_second "$(last_second)"
require "kt_dave made the PI" kuractl dataset set-pi "$ID2" kt_dave
check_fails "alice, no longer the PI, is refused" as kt_alice cat "$G"
check "dave (the PI now) reads b.bin" as kt_dave cat "$G" >/dev/null
kuractl report usage "$ID2" --json >"$T/former.json" 2>&1
kuractl report usage "$ID2" --lang en >"$T/former.md" 2>&1
kuractl report usage "$ID2" --lang ja >"$T/former-ja.md" 2>&1
kuractl report usage "$ID2" --csv >"$T/former.csv" 2>&1
LEDGER2=$(find "$KROOT" -path "*/$ID2/ledger.jsonl" | head -1)
require "the ledger of $ID2 is there" test -s "$LEDGER2"
# The log and the ledger read independently: each allowed open falls in
# the period (ledger times, to the second) of the listing that held then.
cat >"$T/former.py" <<'PY'
import csv, datetime, json, sys
log, ledger, rep, md, csvf, what = sys.argv[1:7]
ID = "JGAD190102"
secs = lambda t: int(datetime.datetime.fromisoformat(t).timestamp())
recs = [json.loads(l) for l in open(log)]
led = [json.loads(l) for l in open(ledger)]
rows = json.load(open(rep))["users"]
by = lambda u: [r for r in rows if r["user"] == u]
opens = lambda u, lo, hi: sum(1 for r in recs if r["event"] == "open" and r["decision"] == "allow" and
                              r.get("dataset") == ID and r.get("user") == u and lo <= secs(r["time"]) <= hi)
t = lambda action, target: [r["time"] for r in led if r["action"] == action and r["target"] == target]
setpi = t("dataset-set-pi", ID)[0]
bob_add, = t("user-add", "kt_bob"); bob_rm, = t("user-remove", "kt_bob")
c_add1, c_add2 = t("user-add", "kt_carol"); c_rm, = t("user-remove", "kt_carol")
far = 1 << 40
ok = True
def want(cond, msg):
    global ok
    if not cond:
        ok = False
        print("#", msg)
if what == "json":
    want(not [r for r in rows if r["role"] == "not-listed"], "no not-listed row: %s" % rows)
    a = by("kt_alice")
    want(len(a) == 1 and a[0]["role"] == "former-pi" and a[0]["until"] == setpi and
         a[0]["opens"] == opens("kt_alice", 0, secs(setpi)) == 1, "alice: former-pi until the set-pi: %s" % a)
    b = by("kt_bob")
    want(len(b) == 1 and b[0]["role"] == "former-user" and b[0]["from"] == bob_add and b[0]["until"] == bob_rm and
         b[0]["opens"] == opens("kt_bob", 0, far) == 1, "bob: former-user, add..removal: %s" % b)
    c = {r["role"]: r for r in by("kt_carol")}
    want(len(by("kt_carol")) == 2 and set(c) == {"former-user", "co-investigator"}, "carol: two rows: %s" % c)
    if len(c) == 2:
        want(c["former-user"]["from"] == c_add1 and c["former-user"]["until"] == c_rm and
             c["former-user"]["opens"] == opens("kt_carol", secs(c_add1), secs(c_rm)) == 1,
             "carol's first period: %s" % c["former-user"])
        want(c["co-investigator"]["from"] == c_add2[:10] and
             c["co-investigator"]["opens"] == opens("kt_carol", secs(c_add2), far) == 1,
             "carol's grant now covers her second read only: %s" % c["co-investigator"])
    d = by("kt_dave")
    want(len(d) == 1 and d[0]["role"] == "pi" and d[0]["from"] == setpi[:10] and d[0]["opens"] == 1,
         "dave: the PI since the set-pi: %s" % d)
    for u in ("kt_alice", "kt_bob", "kt_carol", "kt_dave"):
        want(sum(r["opens"] for r in by(u)) == opens(u, 0, far), "%s: every open of the log counted once" % u)
elif what == "md":
    text = open(md).read()
    cells = [[x.strip() for x in l.strip().strip("|").split("|")] for l in text.splitlines() if l.startswith("| kt_")]
    roles = sorted((x[0], x[1]) for x in cells if len(x) == 11)
    want(roles == [("kt_alice", "former PI"), ("kt_bob", "former user"), ("kt_carol", "co-investigator"),
                   ("kt_carol", "former user"), ("kt_dave", "PI")], "Markdown roles: %s" % roles)
    want("not listed" not in text, "Markdown says not listed")
    want(any(x[0] == "kt_bob" and x[2] == bob_add and x[3] == bob_rm for x in cells), "bob's period in the Markdown")
elif what == "ja":
    text = open(md).read()
    want("元研究代表者" in text and "元データ利用者" in text and "リスト外" not in text, "Japanese labels")
elif what == "csv":
    r = list(csv.DictReader(open(csvf)))
    want(sorted((x["user"], x["role"]) for x in r) == [("kt_alice", "former-pi"), ("kt_bob", "former-user"),
         ("kt_carol", "co-investigator"), ("kt_carol", "former-user"), ("kt_dave", "pi")], "CSV roles: %s" % r)
sys.exit(0 if ok else 1)
PY
former() { python3 "$T/former.py" "$LOG" "$LEDGER2" "$T/former.json" "$1" "$T/former.csv" "$2"; }
check "usage --json: the replaced PI, the removed user and the re-added one's first grant by the ledger's periods, as the log" \
  former "$T/former.md" json
check "usage (Markdown): former PI, former user, carol's two periods; no one not listed" former "$T/former.md" md
check "usage (Japanese): the former roles' labels" former "$T/former-ja.md" ja
check "usage --csv: the same roles" former "$T/former.md" csv
kuractl report secondary-data "$ID2" --json >"$T/former-sec.json" 2>&1
check "secondary-data --json: the same users table (its whole use: the same rows)" python3 -c '
import json, sys
rows = lambda p: sorted((u["user"], u["role"], u["from"], u["until"], u["opens"]) for u in json.load(open(p))["users"])
a, b = rows(sys.argv[1]), rows(sys.argv[2])
sys.exit(0 if a == b and ("kt_alice", "former-pi") in [x[:2] for x in a] else 1)' "$T/former.json" "$T/former-sec.json"
stop_kura "$T/mnt4"
done_testing
