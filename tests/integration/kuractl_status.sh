#!/usr/bin/env bash
# kuractl status --json (issue 20): one JSON object with the text's parts as
# members (daemon and overview for operators only; lockdown, datasets,
# history, refusals for everyone; ethics and reminders, filled for the PI
# and operators), each value equal to what the text shows
# the same caller: root, an operator through the daemon, the PI, a listed
# researcher and a removed user. Nobody sees in JSON what their text hides.
. "$(dirname "$0")/lib.sh"

ID=JGAD000081 OTHER=JGAD000082
for u in kt_alice kt_bob kt_carol kt_dave kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
require "dataset $ID (PI alice)" one_file_dataset "$ID" kt_alice reads.bin 1000
require "dataset $OTHER (PI dave)" one_file_dataset "$OTHER" kt_dave other.bin 10
require "bob listed" kuractl user add "$ID" kt_bob
require "carol listed" kuractl user add "$ID" kt_carol
require "mount" mount_kura "$T/mnt"
check "carol reads" as kt_carol cmp -s "$T/mnt/$ID/reads.bin" "$T/$ID/reads.bin"
require "the PI removes carol" as kt_alice "$KURACTL" -c "$KCONF" user remove "$ID" kt_carol
check_fails "carol is refused now" as kt_carol cat "$T/mnt/$ID/reads.bin"
check_fails "bob is refused a dataset he is not in" as kt_bob cat "$T/mnt/$OTHER/other.bin"

# compare WHO: status and status --json as WHO agree, member by member
cat >"$T/compare.py" <<'EOF'
import json, re, sys
who, text, js = sys.argv[1], open(sys.argv[2]).read().split("\n"), json.load(open(sys.argv[3]))
operator = who in ("root", "kt_op")
want = ((["daemon"] if operator else []) + ["lockdown", "datasets", "history", "refusals", "ethics", "reminders"] +
        (["overview"] if operator else []))
assert list(js) == want, (list(js), want)
if operator:
    line = next(l for l in text if l.startswith("daemon: "))
    assert line == "daemon: " + js["daemon"]["text"], (line, js["daemon"])
    assert js["daemon"]["state"] == "running" and " mounted at " in line, js["daemon"]
assert js["lockdown"] == {"state": "off"} and not any(l.startswith("LOCKDOWN") for l in text)
def section(start, stop=lambda l: not l.strip()):
    if start not in text:
        return []
    i = text.index(start) + 1
    out = []
    while i < len(text) and not stop(text[i]):
        out.append(text[i]); i += 1
    return out
mine = section(next(l for l in text if l.startswith("DATASET ") and "ROLE" in l))
mine = [l for l in mine if not l.startswith("(you are not listed")]
rows = []
for l in mine:
    state = l[71:]
    rows.append({"dataset": l[0:20].strip(), "role": l[21:37].strip(), "from": l[38:48].strip(),
                 "until": l[49:59].strip(), "days_left": int(l[60:69]), "state": state.split(", ")[0],
                 "notes": ", ".join(state.split(", ")[1:])})
assert js["datasets"] == rows, (js["datasets"], rows)
hist = []
for l in section("your grants' history:"):
    m = re.match(r"^(\S+) +(\S+) +(\S+) +by (you|the PI|an operator) +(.*)$", l)
    assert m, l
    hist.append(dict(zip(("dataset", "time", "action", "by", "after"), m.groups())))
assert js["history"] == hist, (js["history"], hist)
refs = []
for l in section(next((l for l in text if l.startswith("your refusals")), "-")):
    t, rest = l.split(None, 1)
    m = re.match(r"^(\S+) +(\S+): (.*)$", rest)
    refs.append({"time": t, "dataset": m.group(1), "path": m.group(2), "reason": m.group(3)} if m and
                rest != "refused (not a dataset of yours)" else {"time": t, "dataset": "", "path": "", "reason": rest})
assert js["refusals"] == refs, (js["refusals"], refs)
# the PI's and the operators' records (both arrays empty, and no table, for others)
eth = []
for l in section("ethics approvals:")[1:]:
    f = l.split(None, 2)
    none = f[1] == "-"
    eth.append({"dataset": f[0], "until": "" if none else f[1], "approval": "" if none else f[2]})
assert js["ethics"] == eth, (js["ethics"], eth)
rem = []
for l in section("reminders (sent by kurafs through notify_command):")[1:]:
    rem.append({"dataset": l[0:20].strip(), "user": "" if l[21:37].strip() == "-" else l[21:37].strip(),
                "reminder": l[38:62].strip(), "due": l[63:73].strip(), "state": l[75:]})
assert js["reminders"] == rem, (js["reminders"], rem)
assert (len(eth) > 0) == (who in ("root", "kt_op", "kt_alice")), (who, eth)
if operator:
    over = []
    for l in section("all datasets (operator view):")[1:]:
        f = l.split(None, 8)
        over.append({"dataset": f[0], "kind": f[1], "level": f[2], "pi": f[3], "from": f[4], "until": f[5],
                     "users": int(f[6]), "files": int(f[7]), "state": f[8].split(", ")[0],
                     "notes": ", ".join(f[8].split(", ")[1:])})
    assert js["overview"] == over, (js["overview"], over)
print(json.dumps(js))
EOF
# status_pair WHO: status and status --json of WHO into $T/WHO.txt and $T/WHO.json
status_pair() {
  local who=$1
  if [ "$who" = root ]; then
    kuractl status >"$T/$who.txt" 2>&1 && kuractl status --json >"$T/$who.json" 2>"$T/$who.err"
  else
    as "$who" "$KURACTL" -c "$KCONF" status >"$T/$who.txt" 2>&1 &&
      as "$who" "$KURACTL" -c "$KCONF" status --json >"$T/$who.json" 2>"$T/$who.err"
  fi
}
# field WHO PYTHON-EXPRESSION: the expression over the parsed JSON j is true
field() { /usr/bin/python3 -c "import json, sys; j = json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$T/$1.json"; }

for who in root kt_op kt_alice kt_bob kt_carol; do
  check "status and status --json as $who both succeed" status_pair "$who"
  check "$who: the JSON parses and every member equals the text" /usr/bin/python3 "$T/compare.py" "$who" "$T/$who.txt" "$T/$who.json"
done
# what each one is shown, beyond agreeing with the text
check "root: two datasets in the overview, $ID with 1 file and 1 user (carol removed)" \
  field root 'len(j["overview"]) == 2 and j["overview"][0]["dataset"] == "'"$ID"'" and j["overview"][0]["files"] == 1 and j["overview"][0]["users"] == 1'
check "root is listed in no dataset" field root 'j["datasets"] == []'
check "the operator's overview is root's" field kt_op 'j["overview"] == json.load(open("'"$T/root.json"'"))["overview"]'
check "alice: her dataset, as PI, active, no overview" \
  field kt_alice 'j["datasets"][0]["dataset"] == "'"$ID"'" and j["datasets"][0]["role"] == "pi" and j["datasets"][0]["state"] == "active" and "overview" not in j'
check "bob: his dataset as co-investigator with the days left" \
  field kt_bob '[(d["dataset"], d["role"], d["days_left"]) for d in j["datasets"]] == [("'"$ID"'", "co-investigator", 30)]'
check "bob's refusal on dave's dataset does not name it" \
  field kt_bob 'any(r["reason"] == "refused (not a dataset of yours)" and r["dataset"] == "" for r in j["refusals"])'
check "... and nothing in bob's JSON names it" test "$(grep -c "$OTHER" "$T/kt_bob.json")" = 0
check "carol (removed): no dataset, her removal by the PI in her history" \
  field kt_carol 'j["datasets"] == [] and [(h["action"], h["by"]) for h in j["history"]] == [("add", "an operator"), ("remove", "the PI")]'
check "... her refusal says her access ended, naming the dataset" \
  field kt_carol 'any(r["dataset"] == "'"$ID"'" and r["reason"].startswith("access ended ") for r in j["refusals"])'
check "... and no other user's name" test "$(grep -Eo 'kt_[a-z]+' "$T/kt_carol.json" | sort -u | tr -d '\n')" = ""
check_output_fails "status refuses an unknown option" "usage|unknown" kuractl status --jsn

# ---- a new account given carol's name: none of the old account's past ----
OLD_UID=$(id -u kt_carol)
NEW_UID=$((OLD_UID + 1))
while getent passwd "$NEW_UID" >/dev/null; do NEW_UID=$((NEW_UID + 1)); done
require "carol's account is deleted" bash -c "pkill -KILL -u kt_carol; userdel kt_carol"
require "a new account takes the name kt_carol, uid $NEW_UID" useradd -M -N -u "$NEW_UID" -s /bin/bash kt_carol
check "status and status --json as the new kt_carol" status_pair kt_carol
check "... agree" /usr/bin/python3 "$T/compare.py" kt_carol "$T/kt_carol.txt" "$T/kt_carol.json"
check "the new account is shown no grant history and no refusals of the old one" \
  field kt_carol 'j["datasets"] == [] and j["history"] == [] and j["refusals"] == []'
check "... nor in the text" bash -c "! grep -q '$ID' '$T/kt_carol.txt'"

stop_kura "$T/mnt"
done_testing
