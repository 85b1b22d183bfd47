#!/usr/bin/env bash
# kuractl report incident (issue 18, R-LOG-6): who read what in a window,
# from the audit log, through a real mount as real users. Opens before,
# inside and after the window (its bounds set from the records' own times,
# the clock waited on, never slept on); the window's opens, refusals,
# bytes read, alert and suspension are counted in --json and --csv and the
# others left out; the Markdown has the Japanese blanks, the HTML renders,
# both verify; a PI reports on her own dataset only; bad windows are
# refused; --out writes a new file with the caller's rights.
. "$(dirname "$0")/lib.sh"

DS1=JGAD180101
DS2=JGAD180102
SIZE=120000
for u in kt_alice kt_bob kt_carol; do make_user "$u"; done
require "kuractl init" kura_init
require "dataset $DS1 of kt_alice" one_file_dataset "$DS1" kt_alice a.bin "$SIZE"
require "dataset $DS2 of kt_carol" one_file_dataset "$DS2" kt_carol c.bin "$SIZE"
require "bob listed on $DS1" kuractl user add "$DS1" kt_bob --until "$(day 20)"
require "mount" mount_kura "$T/mnt"
LOG=$KROOT/log/audit.jsonl
F1=$T/mnt/$DS1/a.bin
F2=$T/mnt/$DS2/c.bin
W=$T/work
mkdir -p "$W" && chmod 0777 "$W"
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
reads() { setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups cat "$2" >/dev/null; }

# ---- before the window: alice reads her dataset (and raises her bulk-read alert) ----
check "before: alice reads $DS1" reads kt_alice "$F1"
check "before: carol reads $DS2" reads kt_carol "$F2"
require "the clock moves past the last record" next_second "$(last_second)"
FROM=$(date +%s)

# ---- the window ----
check "in: bob reads $DS1 (his first full read: a bulk-read alert)" reads kt_bob "$F1"
check_fails "in: bob's cp is refused" as kt_bob cp "$F1" "$W/copy"
check "in: alice reads $DS1 again" reads kt_alice "$F1"
check_fails "in: carol is refused $DS1's file" as kt_carol cat "$F1"
require "in: $DS1 suspended" kuractl dataset suspend "$DS1" --reason "incident test"
require "in: $DS1 resumed" kuractl dataset resume "$DS1"
check "in: carol reads $DS2" reads kt_carol "$F2"
require "the clock moves past the window's last record" next_second "$(last_second)"
TO=$(date +%s)

# ---- after the window ----
check "after: bob reads $DS1 again" reads kt_bob "$F1"
check "after: alice reads $DS1 again" reads kt_alice "$F1"

WIN=(--from "$(stamp "$FROM")" --to "$(stamp "$TO")")
kuractl report incident "${WIN[@]}" --json >"$T/all.json" 2>&1
kuractl report incident "${WIN[@]}" --dataset "$DS1" --json >"$T/ds1.json" 2>&1
cat >"$T/counts.py" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
opens, events, users = r["opens"], r["events"], {u["user"]: u for u in r["users"]}
def n(user, decision, dataset):
    return sum(1 for o in opens if o["user"] == user and o["decision"] == decision and o["dataset"] == dataset)
want = {
    "bob allowed once, refused once": n("kt_bob", "allow", "JGAD180101") == 1 and n("kt_bob", "deny", "JGAD180101") == 1,
    "bob's open read the whole file": [o["bytes_read"] for o in opens if o["user"] == "kt_bob" and o["decision"] == "allow"] == [120000],
    "bob's refusal is the guard's, by cp": any(o["user"] == "kt_bob" and o["reason"] == "guard" and o["process"].endswith("/cp") for o in opens),
    "alice: one open in the window, not three": n("kt_alice", "allow", "JGAD180101") == 1,
    "carol refused at JGAD180101": n("kt_carol", "deny", "JGAD180101") >= 1,
    "bob's summary": users["kt_bob"]["opens"] == 1 and users["kt_bob"]["files_opened"] == 1 and users["kt_bob"]["bytes_read"] == 120000 and users["kt_bob"]["refused"] == 1,
    "one alert, bob's bulk read": [(e["by"], e["reason"]) for e in events if e["event"] == "alert"] == [("kt_bob", "bulk read")],
    "the suspension and resumption": [e["event"] for e in events if e["event"] in ("suspend", "resume")] == ["suspend", "resume"],
    "the blanks are there, empty": all(r["report"][k] == "" for k in ("what_happened", "cause", "measures_taken", "reported_to")),
}
if sys.argv[2] == "all":
    want["carol's read of JGAD180102 is in"] = n("kt_carol", "allow", "JGAD180102") == 1
    want["all datasets"] = r["report"]["datasets"] == "all"
else:
    want["nothing of JGAD180102"] = all(o["dataset"] == "JGAD180101" for o in opens) and "kt_carol" not in [u for u in users if users[u]["opens"]]
    want["the dataset named"] = r["report"]["datasets"] == "JGAD180101" and r["report"]["subject"] == "JGAD180101"
bad = [k for k, v in want.items() if not v]
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
check "--json, all datasets: the window's opens, bytes, refusals, alert and suspension, nothing before or after" python3 "$T/counts.py" "$T/all.json" all
check "--json, --dataset $DS1: the same for $DS1 alone" python3 "$T/counts.py" "$T/ds1.json" one

kuractl report incident "${WIN[@]}" --dataset "$DS1" --csv >"$T/opens.csv" 2>&1
check "--csv: the opens, a header of the column keys" bash -c "head -1 '$T/opens.csv' | grep -qx 'time,user,dataset,file,process,pid,decision,reason,bytes_read'"
check "--csv: bob's allowed open with its bytes, once" test "$(grep -c ",kt_bob,$DS1,a.bin,.*,allow,,$SIZE\$" "$T/opens.csv")" = 1
check "--csv: bob's refusal, once" test "$(grep -c ",kt_bob,$DS1,a.bin,[^,]*/cp,[0-9]*,deny,guard," "$T/opens.csv")" = 1
check "--csv: alice's one open of the window" test "$(grep -c ",kt_alice,$DS1,a.bin,.*,allow," "$T/opens.csv")" = 1

# ---- for people: Japanese Markdown, HTML, signed ----
check_output "the Markdown in Japanese has the blanks to fill in" "事故の概要.*（記入欄）" \
  kuractl report incident "${WIN[@]}" --dataset "$DS1" --lang ja --md
kuractl report incident "${WIN[@]}" --dataset "$DS1" --lang ja >"$T/ja.md" 2>&1
check "... the cause, the measures, to whom it was reported" bash -c "grep -q '原因' '$T/ja.md' && grep -q '対応（実施した措置）' '$T/ja.md' && grep -q '報告先・報告日時' '$T/ja.md'"
check "... bob's open in the table" grep -q "| kt_bob | $DS1 | a.bin |" "$T/ja.md"
check_output "the English Markdown says it too" "What happened.*\\(to be filled in\\)" kuractl report incident "${WIN[@]}" --lang en
require "--html to a file" kuractl report incident "${WIN[@]}" --dataset "$DS1" --html --out "$T/incident.html"
check "--html: a page with the tables" bash -c "grep -q '<!DOCTYPE html>' '$T/incident.html' && grep -q '<table' '$T/incident.html' && grep -q 'kt_bob' '$T/incident.html'"
check_output "the HTML report verifies" "the signature verifies" kuractl report verify "$T/incident.html"
check_output "the Markdown report verifies" "the signature verifies" kuractl report verify "$T/ja.md"
sed 's/kt_bob/kt_bib/' "$T/ja.md" >"$T/edited.md"
check_output_fails "an edited copy does not" "does NOT verify" kuractl report verify "$T/edited.md"
check_output_fails "--out never replaces a file" "exists" kuractl report incident "${WIN[@]}" --out "$T/incident.html"
check "... which is left as it was" kuractl report verify "$T/incident.html"

# ---- roles ----
check_output "the PI reports on her dataset, through the daemon" "kt_bob" kc kt_alice report incident "${WIN[@]}" --dataset "$DS1"
check_output_fails "the PI cannot report on another PI's dataset" "only the PI of dataset $DS2" kc kt_alice report incident "${WIN[@]}" --dataset "$DS2"
check_output_fails "the PI cannot report on every dataset" "operator" kc kt_alice report incident "${WIN[@]}"
check_output_fails "a listed user cannot report" "only the PI of dataset $DS1" kc kt_bob report incident "${WIN[@]}" --dataset "$DS1"
check "the PI writes it to her own file" kc kt_alice report incident "${WIN[@]}" --dataset "$DS1" --out "$W/alice.md"
check "... owned by her, mode 0600" test "$(stat -c '%U %a' "$W/alice.md")" = "kt_alice 600"
check_output "... and it verifies" "the signature verifies" kc kt_alice report verify "$W/alice.md"
# A relative --out names a file in the caller's working directory, not in
# the daemon's (it is resolved by the daemon, in its own).
check "a relative --out, from her directory, through the daemon" \
  bash -c "cd '$W' && setpriv --reuid=kt_alice --regid=\$(id -g kt_alice) --init-groups -- '$KURACTL' -c '$KCONF' report incident ${WIN[*]} --dataset $DS1 --out rel.md"
check "... is written there" test -f "$W/rel.md"
check_output_fails "... and one the daemon gets relative (--out=FILE) is refused" "absolute" \
  bash -c "cd '$W' && setpriv --reuid=kt_alice --regid=\$(id -g kt_alice) --init-groups -- '$KURACTL' -c '$KCONF' report incident ${WIN[*]} --dataset $DS1 --out=rel2.md"
# --out through /proc/PID/cwd: the daemon's root rights (CAP_SYS_PTRACE)
# must not follow the magic link into carol's directory, one that alice
# cannot reach herself (an open drop box inside carol's closed home).
CAROL_HOME=$T/carol-home
mkdir -p "$CAROL_HOME/drop" && chown kt_carol "$CAROL_HOME" && chmod 0700 "$CAROL_HOME" && chmod 0777 "$CAROL_HOME/drop"
# setpriv itself in the background, not the function as: $! is then the process
setpriv --reuid=kt_carol --regid="$(id -g kt_carol)" --init-groups -- bash -c "cd '$CAROL_HOME/drop' && exec sleep 300" &
CAROL_PID=$!
on_exit "kill $CAROL_PID 2>/dev/null"
require "carol's process runs in her drop box" bash -c "for i in \$(seq 50); do [ \"\$(readlink /proc/$CAROL_PID/cwd)\" = '$CAROL_HOME/drop' ] && exit 0; sleep 0.1; done; exit 1"
check_fails "alice cannot reach carol's drop box herself" as kt_alice touch "$CAROL_HOME/drop/direct.md"
check_output_fails "--out /proc/PID/cwd/... into it is refused" "denied" \
  kc kt_alice report incident "${WIN[@]}" --dataset "$DS1" --out "/proc/$CAROL_PID/cwd/alice.md"
check "... and nothing was written there" test -z "$(ls -A "$CAROL_HOME/drop")"
kill "$CAROL_PID" 2>/dev/null

# ---- a program's name a user chose cannot steer what the report shows ----
# A copy of cat named with raw HTML (a renderer would hide what follows),
# ESC (clear the screen), CR (write over the line), U+202E (reverse what
# follows) and U+200B (a zero-width space: "ca\u200bt" would show as "cat"):
# a signed report, a terminal and a spreadsheet each show it escaped, in
# their own way, and never act on it.
EVIL_NAME="$(printf '<div hidden>[x](y)\033[2J\rca\342\200\213t\342\200\256x')"
EVIL="$W/$EVIL_NAME"
cp /usr/bin/cat "$EVIL" && chmod 0755 "$EVIL"
check "bob reads $DS1 with a program so named" quietly as kt_bob "$EVIL" "$F1"
for fmt in md html csv; do
  case $fmt in
    md) opt=() want='\<div hidden\>\[x\](y)\x1b\[2J\x0dca\u200bt\u202ex' ;;
    html) opt=(--html) want='&lt;div hidden&gt;[x](y)\x1b[2J\x0dca\u200bt\u202ex' ;;
    csv) opt=(--csv) want='<div hidden>[x](y)\x1b[2J\x0dca\u200bt\u202ex' ;;
  esac
  require "the PI's $fmt report of today" kc kt_alice report incident --from "$(day 0)" --to "$(day 0)" --dataset "$DS1" "${opt[@]}" --out "$W/evil.$fmt"
  check "$fmt: no ESC, CR, U+202E or U+200B in it" bash -c "! LC_ALL=C grep -q \$'\\033\\|\\r\\|\\xe2\\x80\\xae\\|\\xe2\\x80\\x8b' '$W/evil.$fmt'"
  check "$fmt: the name is there, escaped" grep -qF -- "$want" "$W/evil.$fmt"
done
check "md and html: no raw tag from the name (one not escaped)" bash -c "! grep -qP '(?<!\\\\)<div hidden' '$W/evil.md' '$W/evil.html'"
check "the Markdown report still verifies" kc kt_alice report verify "$W/evil.md"
kuractl audit >"$T/audit.txt" 2>&1
check "kuractl audit shows it escaped too" grep -qF '<div hidden>[x](y)\x1b[2J\x0dca\u200bt\u202ex' "$T/audit.txt"
check "... with no ESC or CR" bash -c "! LC_ALL=C grep -q \$'\\033\\|\\r' '$T/audit.txt'"

# A file's name comes from the archive's delivery: listings show it escaped.
DS3=JGAD180103
ODD_NAME="$(printf 'ok\342\200\256txt.exe\302\2332J')"
require "dataset $DS3 with a file named with U+202E and a C1 CSI" one_file_dataset "$DS3" kt_alice "$ODD_NAME" 100
kuractl dataset files "$DS3" >"$T/files.txt" 2>&1
kuractl ledger "$DS3" >"$T/ledger.txt" 2>&1
check "dataset files: the name escaped" grep -qF 'ok\u202etxt.exe\u009b2J' "$T/files.txt"
check "... never raw" bash -c "! LC_ALL=C grep -q \$'\\xe2\\x80\\xae\\|\\xc2\\x9b' '$T/files.txt'"
check "ledger: never raw" bash -c "! LC_ALL=C grep -q \$'\\xe2\\x80\\xae\\|\\xc2\\x9b' '$T/ledger.txt'"

# A file named as a spreadsheet formula: the CSV keeps it text (a leading ').
DS4=JGAD180104
FORMULA='=HYPERLINK("x.example","y").bin'
require "dataset $DS4 with a file named $FORMULA" one_file_dataset "$DS4" kt_alice "$FORMULA" 100
require "bob listed in $DS4" quietly kuractl user add "$DS4" kt_bob
check "bob reads it" quietly as kt_bob cat "$T/mnt/$DS4/$FORMULA"
require "the PI's CSV report of it" kc kt_alice report incident --from "$(day 0)" --to "$(day 0)" --dataset "$DS4" --csv --out "$W/formula.csv"
check "csv: the file's name is a text cell" grep -qF "\"'=HYPERLINK(\"\"x.example\"\",\"\"y\"\").bin\"" "$W/formula.csv"
check "... and no cell starts a formula" bash -c "! grep -qE '(^|,)\"?[=+@-]' '$W/formula.csv'"

# ---- access ended while a file is open: the revocation is an event ----
install -m 0755 "$KURA_TOP/tests/helpers/hold_read.py" "$KURA_USER_BIN/"
mkdir -p "$T/flags"
require "the clock moves past the last record" next_second "$(last_second)"
RFROM=$(date +%s)
as kt_bob /usr/bin/python3 "$KURA_USER_BIN/hold_read.py" "$F1" "$T/flags/go" >"$T/hold.out" 2>&1 &
HOLD=$!
require "bob holds $DS1's file open" wait_for 20 grep -q "first ok" "$T/hold.out"
require "bob removed from $DS1 while he holds it" quietly kuractl user remove "$DS1" kt_bob
touch "$T/flags/go"
wait "$HOLD"
check "... his next read is refused" grep -q "second EACCES" "$T/hold.out"
require "the clock moves past the window's last record" next_second "$(last_second)"
RTO=$(date +%s)
kuractl report incident --from "$(stamp "$RFROM")" --to "$(stamp "$RTO")" --dataset "$DS1" --json >"$T/revoked.json" 2>&1
check "the incident report lists the revocation of bob's open handle, as the log has it" python3 -c '
import json, sys
ev = [e for e in json.load(open(sys.argv[1]))["events"] if e["event"] == "revocation"]
log = [json.loads(l) for l in open(sys.argv[2])]
rev = [r for r in log if r["event"] == "revocation" and r.get("user") == "kt_bob" and r.get("dataset") == sys.argv[3]]
sys.exit(0 if rev and [(e["by"], e["detail"]) for e in ev] == [(r["user"], r["detail"]) for r in rev[-len(ev):]]
         and any(e["detail"] == "open handle stopped" for e in ev) else 1)' "$T/revoked.json" "$LOG" "$DS1"

# ---- bad windows ----
check_output_fails "--from after --to is refused" "after --from" kuractl report incident --from "$(stamp "$TO")" --to "$(stamp "$FROM")"
check_output_fails "a bad date is refused" "--from" kuractl report incident --from 2026-13-45 --to "$(day 0)"
check_output_fails "--to is required" "--to" kuractl report incident --from "$(day 0)"
check_output_fails "two formats are refused" "give one" kuractl report incident "${WIN[@]}" --csv --json
check_output "a date counts whole: today holds the window's opens" "kt_bob" kuractl report incident --from "$(day 0)" --to "$(day 0)" --csv

stop_kura "$T/mnt"
done_testing
