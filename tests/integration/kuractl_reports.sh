#!/usr/bin/env bash
# The reports from real use (issue 18, issue 20 §4; R-LOG-4): a dataset
# read through a real mount by real users, refused to an operator, with a
# bulk-read alert, a suspension, a grant to root and a withdrawal; then the
# usage report as Markdown, HTML, CSV and JSON (parsed by python3), in
# English and Japanese: the figures agree across the formats and with the
# audit log, byte counts are KiB/MiB/GiB for people and exact for
# programs, operators' refused attempts are apart from the users, root's
# period reads the same in Markdown and CSV, and the text is valid UTF-8.
. "$(dirname "$0")/lib.sh"

for u in kt_alice kt_bob kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }

ID=JGAD500005
mkdir -p "$T/data"
head -c 300000 /dev/urandom >"$T/data/a.bin"
head -c 5000 /dev/urandom >"$T/data/b.bin"
chmod -R a+rX "$T/data"
printf 'a.bin\tJGAS1\nb.bin\tJGAS2\n' >"$T/samples.tsv"
require "dataset add" kuractl dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)" --title "report cohort"
require "import" kuractl dataset import "$ID" --encrypt --samples "$T/samples.tsv" "$T/data"
require "user add bob" kuractl user add "$ID" kt_bob --until "$(day 20)"
require "user add root (waits for the PI)" kuractl user add "$ID" root
MNT=$T/mnt
require "mount" mount_kura "$MNT"
require "the PI approves root" kc kt_alice user approve "$ID" root
M=$MNT/$ID
check "bob reads a.bin whole (a bulk read: the dataset's size in a day)" as kt_bob cmp -s "$M/a.bin" "$T/data/a.bin"
check "bob reads b.bin" as kt_bob cmp -s "$M/b.bin" "$T/data/b.bin"
check "root (listed) reads b.bin" cmp -s "$M/b.bin" "$T/data/b.bin"
check_fails "operator op may not list the dataset" as kt_op ls "$M"
check_fails "... nor open a file" as kt_op cat "$M/b.bin"
require "suspend" kuractl dataset suspend "$ID" --reason "incident R-1"
require "resume" kuractl dataset resume "$ID"
require "withdraw JGAS2" kuractl withdraw "$ID" JGAS2 --ref W-REP-1 --yes

audit_quiet
kuractl audit --dataset "$ID" --json >"$T/audit.jsonl"
kc kt_alice report usage "$ID" --lang en >"$T/en.md" 2>&1
kc kt_alice report usage "$ID" --csv >"$T/users.csv" 2>&1
kc kt_alice report usage "$ID" --json >"$T/report.json" 2>&1
check "the PI gets the report as Markdown, CSV and JSON" \
  bash -c "grep -q '^# Usage report: $ID' '$T/en.md' && head -1 '$T/users.csv' | grep -q '^user,role,' && test -s '$T/report.json'"

# Figures across the formats and against the audit log (python3 parses all).
cat >"$T/agree.py" <<'EOF'
import csv, json, re, sys
T = sys.argv[1]
rep = json.load(open(T + "/report.json"))
rows = list(csv.DictReader(open(T + "/users.csv")))
md = open(T + "/en.md").read()
audit = [json.loads(l) for l in open(T + "/audit.jsonl")]
what = sys.argv[2]
users = {u["user"]: u for u in rep["users"]}
csvu = {r["user"]: r for r in rows}
def md_row(user):
    for l in md.splitlines():
        cells = [c.strip() for c in l.strip().strip("|").split("|")]
        if cells and cells[0] == user and len(cells) == 11:
            return cells
    return None
def human(n):
    if n < 1024: return "%d B" % n
    v, units = n / 1024, ["KiB", "MiB", "GiB", "TiB"]
    u = 0
    while v >= 1023.95 and u + 1 < len(units):
        v /= 1024; u += 1
    return "%.1f %s" % (v, units[u])
if what == "bytes":
    # bob's bytes: the sum of his close records' bytes in the log
    logged = sum(r.get("bytes", 0) for r in audit if r["event"] == "close" and r.get("user") == "kt_bob")
    b = users["kt_bob"]
    ok = logged == 305000 and b["bytes_read"] == logged and int(csvu["kt_bob"]["bytes_read"]) == logged
    ok = ok and md_row("kt_bob")[6] == human(logged) == "297.9 KiB"
    sys.exit(0 if ok else 1)
if what == "opens":
    for u in ("kt_bob", "root", "kt_alice"):
        logged = sum(1 for r in audit if r["event"] == "open" and r["decision"] == "allow" and r.get("user") == u)
        m = md_row(u)
        if not (users[u]["opens"] == logged == int(csvu[u]["opens"]) == int(m[4])):
            sys.exit(1)
    sys.exit(0)
if what == "same":
    # every users row says the same in JSON, CSV and Markdown (periods too)
    if sorted(users) != sorted(csvu):
        sys.exit(1)
    for name, u in users.items():
        c, m = csvu[name], md_row(name)
        for k in ("from", "until", "opens", "refused"):
            if str(u[k]) != c[k]:
                sys.exit(1)
        if m is None or [m[2], m[3]] != [u["from"], u["until"]]:
            sys.exit(1)
    sys.exit(0)
if what == "root":
    r = users["root"]
    m = md_row("root")
    sys.exit(0 if r["role"] == "co-investigator" and re.match(r"\d{4}-\d\d-\d\d$", r["until"])
             and m[2:4] == [csvu["root"]["from"], csvu["root"]["until"]] else 1)
if what == "operators":
    ops = {o["user"]: o for o in rep["operator_refusals"]}
    logged = sum(1 for r in audit if r["event"] == "open" and r["decision"] == "deny" and r.get("user") == "kt_op")
    sys.exit(0 if "kt_op" not in users and "kt_op" not in csvu and ops["kt_op"]["refused"] == logged >= 2 else 1)
if what == "incidents":
    ev = [(i["event"], i["reason"]) for i in rep["incidents"]]
    bulk = [i for i in rep["incidents"] if i["reason"] == "bulk read"]
    logged = [r for r in audit if r["event"] == "alert" and r.get("reason") == "bulk read"]
    sys.exit(0 if ("suspend", "incident R-1") in ev and ("resume", "") in [(e, "") for e, _ in ev] and
             len(bulk) == len(logged) == 1 and bulk[0]["user"] == "kt_bob" and bulk[0]["bytes_read"] == logged[0]["bytes"] else 1)
if what == "changes":
    acts = [(c["action"], c["target"]) for c in rep["changes"]]
    w = rep["withdrawals"]
    sys.exit(0 if ("user-add", "kt_bob") in acts and ("user-approve", "root") in acts and
             ("withdraw", "JGAS2") in acts and ("dataset-suspend", sys.argv[3]) in acts and
             len(w) == 1 and w[0]["sample"] == "JGAS2" and w[0]["reference"] == "W-REP-1" else 1)
if what == "header":
    h = rep["report"]
    sys.exit(0 if h["type"] == "usage" and h["subject"] == sys.argv[3] and h["kind"] == "JGA" and
             h["pi"] == "kt_alice" and h["pi_institution"] == "" and h["audit_log_seq"] >= max(r["seq"] for r in audit) else 1)
sys.exit(2)
EOF
agree() { python3 "$T/agree.py" "$T" "$1" "$ID"; }
check "JSON: the report's items (type, dataset, kind, PI, a blank, where the log was read to)" agree header
check "bob's bytes read: the audit log's sum, exact in JSON and CSV, KiB in Markdown" agree bytes
check "opens per user agree with the log in every format" agree opens
check "every user's row says the same in Markdown, CSV and JSON (periods included)" agree same
check "root's period is its grant's, the same in Markdown and CSV" agree root
check "operator op's refused attempts are apart from the users, counted as in the log" agree operators
check "incidents: the bulk-read alert (as logged) and the suspension and its end" agree incidents
check "the changes to the list and the withdrawal are in the report" agree changes
check "Markdown shows operators' refusals under their own heading" grep -q "^## Operators' refused attempts" "$T/en.md"
check "Markdown names a blank the PI fills in" grep -q "^- PI's institution: (to be filled in)" "$T/en.md"
# ---- Japanese: the default for a JGA dataset ([report] lang = auto) ----
kc kt_alice report usage "$ID" >"$T/ja.md" 2>&1
check "the default report of a JGA dataset is Japanese, valid UTF-8" \
  python3 -c 'import sys; t = open(sys.argv[1], "rb").read().decode("utf-8", "strict"); sys.exit(0 if t.startswith("# 利用状況の報告：" + sys.argv[2] + "\n") else 1)' "$T/ja.md" "$ID"
for item in "- 報告対象期間（開始）：" "- 研究代表者：kt_alice" "- 研究代表者の所属機関：（記入欄）" "## データ利用者" \
  "| 利用者 | 役割 | 利用開始日 | 利用終了日 | アクセス回数 | 他のプロセスが開いたファイルの読み出し回数 | 読み出し量 | 拒否された試行 | 最終アクセス |" \
  "## 運用管理者の拒否された試行（データ利用者ではない）" "## 同意撤回" "## インシデント（警告・利用停止・緊急停止）"; do
  check "Japanese: $item" grep -qF -- "$item" "$T/ja.md"
done
check "Japanese: the same rows as English, roles and words in Japanese" \
  bash -c "grep -qF '| kt_bob | 共同研究者 | ' '$T/ja.md' && grep -qF '| 297.9 KiB |' '$T/ja.md' && grep -qF '| 利用停止 |' '$T/ja.md' &&
           test \"\$(grep -c '^| ' '$T/ja.md')\" = \"\$(grep -c '^| ' '$T/en.md')\""
kc kt_alice report usage "$ID" --html >"$T/ja.html" 2>&1
cat >"$T/page_check.py" <<'PY'
import re, sys
from html.parser import HTMLParser
T = sys.argv[1]
page = open(T + "/ja.html", "rb").read().decode("utf-8", "strict")
class Rows(HTMLParser):
    def __init__(self):
        super().__init__(); self.rows, self.cell, self.tags = [], None, []
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr": self.rows.append([])
        if tag in ("td", "th"): self.cell = ""
    def handle_endtag(self, tag):
        if tag in ("td", "th"): self.rows[-1].append(self.cell.strip()); self.cell = None
    def handle_data(self, d):
        if self.cell is not None: self.cell += d
p = Rows(); p.feed(page); p.close()
# Markdown's cells as a reader sees them: split at the bars not escaped,
# each backslash escape giving its character back
unescape = lambda c: re.sub(r"\\(.)", r"\1", c.strip())
md = [[unescape(c) for c in re.split(r"(?<!\\)\|", l.strip()[1:-1])] for l in open(T + "/ja.md").read().splitlines()
      if l.startswith("| ") ]
ok = page.startswith("<!DOCTYPE html>") and '<html lang="ja">' in page and "@page { size: A4;" in page
ok = ok and "Noto Sans CJK JP" in page and "IPAexGothic" in page and "script" not in p.tags and "link" not in p.tags
sys.exit(0 if ok and p.rows == md and len(md) > 5 else 1)
PY
check "--html: one printable A4 page, valid UTF-8, the same table rows as the Markdown, nothing outside" \
  python3 "$T/page_check.py" "$T"
# ---- signatures: an edited copy is found ----
check "Markdown ends in the signature line" bash -c "tail -1 '$T/ja.md' | grep -Eq '^<!-- kura-signature: blake2b-256 [0-9a-f]{64} -->$'"
check "... HTML too" bash -c "tail -1 '$T/ja.html' | grep -Eq '^<!-- kura-signature: blake2b-256 [0-9a-f]{64} -->$'"
check "... CSV and JSON, for programs, carry none" bash -c "! grep -q kura-signature '$T/users.csv' '$T/report.json'"
check_output "the PI verifies her report (a relative path, through the daemon)" "the signature verifies" kc kt_alice report verify ja.md
cp "$T/ja.md" "$T/-dash.md"
check_output "... and a copy whose name starts with a dash, after --" "the signature verifies" kc kt_alice report verify -- -dash.md
check_output "a user verifies the HTML copy" "the signature verifies" kc kt_bob report verify "$T/ja.html"
check_output "root verifies the English one (direct)" "the signature verifies" kuractl report verify "$T/en.md"
sed '0,/297\.9 KiB/s//297.8 KiB/' "$T/ja.md" >"$T/edited.md"
check "(the edit changed one character)" test "$(cmp -l "$T/ja.md" "$T/edited.md" | wc -l)" = 1
check_output_fails "one character edited: the copy does not verify" "edited.md does NOT verify" kc kt_alice report verify "$T/edited.md"
kc kt_alice report verify "$T/edited.md" >/dev/null 2>&1
check "... exit 1" test $? = 1
sed '0,/<h1>/s//<h1>X/' "$T/ja.html" >"$T/edited.html"
check_output_fails "... nor does an edited HTML page" "does NOT verify" kuractl report verify "$T/edited.html"
head -n -1 "$T/ja.md" >"$T/unsigned.md"
check_output_fails "a copy without its signature line is refused" "no kura signature" kc kt_alice report verify "$T/unsigned.md"
check_output_fails "CSV is not a signed report" "no kura signature" kc kt_alice report verify "$T/users.csv"
cp "$T/ja.md" "$T/private.md" && chmod 0600 "$T/private.md"
check_output_fails "the file is read with the caller's rights (bob cannot read root's 0600 copy)" "Permission denied" \
  kc kt_bob report verify "$T/private.md"
sed -i 's/^lang = auto$/lang = en/' "$KCONF"
check_output "[report] lang = en makes English the default" "^# Usage report: $ID$" kuractl report usage "$ID"
sed -i 's/^lang = en$/lang = auto/' "$KCONF"
check_output_fails "--csv and --json together are refused" "give one" kc kt_alice report usage "$ID" --csv --json
check_output_fails "an unknown language is refused" "en or ja" kc kt_alice report usage "$ID" --lang fr
check_output_fails "bob cannot read the usage report" "only (an operator|the PI|operators)" kc kt_bob report usage "$ID" --json

# ---- the destruction report as JSON ----
require "destroy" quietly kuractl dataset destroy "$ID" --yes
kc kt_alice report destruction "$ID" >"$T/destruction.txt" 2>&1
kc kt_alice report destruction "$ID" --json >"$T/destruction.json" 2>&1
cat >"$T/destruction.py" <<'PY'
import hashlib, json, sys
T, ID, stored = sys.argv[1], sys.argv[2], sys.argv[3]
h = json.load(open(T + "/destruction.json"))["report"]
text = open(T + "/destruction.txt").read()
ok = h["type"] == "destruction" and h["subject"] == ID and h["text"] == open(stored).read()
ok = ok and hashlib.sha256(h["text"].encode()).hexdigest() == h["sha256"] and text.startswith(h["text"])
ok = ok and ("matches ledger record %d (%s, sha256 %s)" % (h["ledger_seq"], h["ledger_time"], h["sha256"])) in text
sys.exit(0 if ok else 1)
PY
check "report destruction --json: the report on disk, its SHA-256 and ledger record, as the text says" \
  python3 "$T/destruction.py" "$T" "$ID" "$KROOT/lib/datasets/$ID/destruction-report.txt"

# ---- the end-of-use report (データ使用（および破棄）報告書) ----
kc kt_alice report end-of-use "$ID" >"$T/end.md" 2>&1
kc kt_alice report end-of-use "$ID" --json >"$T/end.json" 2>&1
check "end-of-use: the form's title, in Japanese for a JGA dataset" grep -qx "# データ使用（および破棄）報告書（制限公開データ用）：$ID" "$T/end.md"
check_output "--group: the group-sharing form's" "^# データ使用（および破棄）報告書（グループ共有データ用）：$ID$" \
  kc kt_alice report end-of-use "$ID" --group
for item in "- 破棄方法：暗号学的消去" "- 破棄実施者：root" "- 鍵ストア：当該データセットの鍵は残っていない" \
  "- kura外に作成された複製とその消去：（記入欄）" "- 保管する二次データ（二次データ保管申請）：（記入欄）" \
  "## 消去した鍵：各ファイルのヘッダ（データ鍵）" "## 残存複製：今も存在する鍵で暗号化された配布データ"; do
  check "end-of-use: $item" grep -qF -- "$item" "$T/end.md"
done
cat >"$T/end_check.py" <<'PY'
import json, re, sys
T, stored = sys.argv[1], sys.argv[2]
end = json.load(open(T + "/end.json"))
text = open(stored).read()
h = end["report"]
files = text[text.index("\n## Files ("):]
files = files[:files.find("\n## ", 1)]   # the files table alone: no other table's row passes for one
fps = dict((m.group(2), m.group(3)) for m in re.finditer(r"^\| (.+?) \| ([0-9a-f]+) \| \d+ \| [^|]* \| (.+) \|$", files, re.M))
erased = {e["file_id"]: e for e in end["erased_keys"]}
users = {u["user"]: u for u in end["users"]}
ok = h["type"] == "end_of_use" and h["method"] == "crypto-erasure" and h["destroyed_by"] == "root"
ok = ok and len(erased) == 2 and fps == {k: v["header_blake2b"] for k, v in erased.items()}
ok = ok and sorted(v["path"] for v in erased.values()) == ["a.bin", "b.bin"]
ok = ok and h["dataset_key"] in text and re.match(r"wrapped key file BLAKE2b-256 [0-9a-f]{64}$", h["dataset_key"])
ok = ok and users["kt_bob"]["bytes_read"] == 305000 and end["residual_copies"] == []
ok = ok and [w["sample"] for w in end["withdrawals"]] == ["JGAS2"] and h["secondary_data"] == ""
sys.exit(0 if ok else 1)
PY
check "end-of-use --json: the keys erased (fingerprints as the destruction report), who, how, the use, the blanks" \
  python3 "$T/end_check.py" "$T" "$KROOT/lib/datasets/$ID/destruction-report.txt"
check_output "end-of-use is signed" "the signature verifies" kc kt_alice report verify "$T/end.md"
check_output_fails "end-of-use of an unknown dataset is refused" "no dataset JGAD999999" kuractl report end-of-use JGAD999999
require "another dataset" kuractl dataset add JGAD500006 --pi kt_alice --period "$(day -1)..$(day 30)"
check_output_fails "... one that is not destroyed" "is not destroyed" kuractl report end-of-use JGAD500006

# ---- the secondary-data storage request draft (二次データ保管申請書) ----
kc kt_alice report secondary-data "$ID" --data "アレル頻度の集計表" --location "/srv/lab/secure" --until 2027-12-31 \
  >"$T/sec.md" 2>&1
check "secondary-data: the form's title" grep -qx "# 二次データ保管申請書（制限公開データ用）（案）：$ID" "$T/sec.md"
for item in "- 保管する二次データ（内容・作成方法）：アレル頻度の集計表" "- 保管場所：/srv/lab/secure" "- 保管期間（終了日）：2027-12-31" \
  "- 保管の理由：（記入欄）" "- 個人識別符号の有無：（記入欄）" "- 利用終了（データ破棄）：destroyed by root" "| kt_bob | 共同研究者 |"; do
  check "secondary-data: $item" grep -qF -- "$item" "$T/sec.md"
done
check_output "secondary-data is signed" "the signature verifies" kc kt_alice report verify "$T/sec.md"
check "secondary-data --json: declared items as given, the others blank, a dataset in use not destroyed" python3 -c '
import json, subprocess, sys
def run(*a): return json.loads(subprocess.run(list(a), capture_output=True, check=True).stdout)
d = run(*sys.argv[1:4], "report", "secondary-data", sys.argv[4], "--json", "--group", "--reason", "follow-up \"study\"")["report"]
u = run(*sys.argv[1:4], "report", "secondary-data", "JGAD500006", "--json")["report"]
sys.exit(0 if d["type"] == "secondary_data_request_group" and d["reason"] == "follow-up \"study\"" and d["secondary_data"] == ""
         and d["storage_until"] == "" and u["use_ended"] == "not-destroyed" else 1)' "$KURACTL" -c "$KCONF" "$ID"
check_output_fails "a control character in a declaration is refused" "control" \
  kc kt_alice report secondary-data "$ID" --data "$(printf 'a\033[31mb')"
check_output_fails "bob cannot draft it" "only (an operator|the PI|operators)" kc kt_bob report secondary-data "$ID"

# ---- a report reads the audit log holding no lock: a change of its
# dataset goes through meanwhile (a removal or a withdrawal is not held
# up by a PI's report of a long log). strace holds the report's open of
# the audit log for 8 s, after it loaded the dataset under its lock ----
AUDIT=$(sed -n 's/^audit_log = //p' "$KCONF")
env ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -P "$AUDIT" -e trace=openat -e inject=openat:delay_enter=8000000 \
  "$KURACTL" -c "$KCONF" report usage "$ID" --csv >"$T/slow.csv" 2>"$T/slow.err" &
slow=$!
on_exit "kill $slow"
case $(uname -m) in aarch64) OPENAT=56 ;; *) OPENAT=257 ;; esac   # openat's number (x86-64: 257)
in_open() { local p; p=$(pgrep -P "$slow" kuractl) && grep -q "^$OPENAT " "/proc/$p/syscall"; }
check "the report is held in its open of the audit log" wait_for 5 in_open
check "meanwhile, dataset $ID's lock is free" flock -n "$KROOT/lib/datasets/$ID/.lock" true
s=$EPOCHREALTIME
check "meanwhile, user remove of kt_bob goes through" kuractl user remove "$ID" kt_bob
took=$(awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.1f", e - s}')
check "... at once ($took s; the report's open is held 8 s)" awk -v t="$took" 'BEGIN {exit !(t < 4)}'
check_fails "... and bob is refused at once" as kt_bob head -c 1 "$M/a.bin"
wait "$slow"
rc=$?
check "the report then finishes (exit $rc: $(head -c 300 "$T/slow.err"))" test "$rc" = 0 -a -s "$T/slow.csv"

stop_kura "$MNT"
done_testing
