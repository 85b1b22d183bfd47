#!/usr/bin/env bash
# kuractl check (R-CHK-1): the server's self-inspection, run as the real
# command on a temporary root built from real configuration files (each
# item made to pass, then broken), and on this machine's own "/" (every item
# answered, nothing crashes). Through the daemon an operator runs it on "/"
# only; a user who is not an operator is refused. Then kuractl report
# checklist, the PI's checklist built on it: its formats and languages, its
# record in the ledger, its signature (kuractl report verify finds an
# edited copy), and the group-sharing variant (--group).
. "$(dirname "$0")/lib.sh"

for u in kt_alice kt_carol kt_op; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init
KEYS=$(sed -n 's/^keys_dir *= *//p' "$KCONF")
require "the config names the keystore" test -n "$KEYS"

# ---- a temporary root where every item passes ----
R=$T/root
put() { mkdir -p "$(dirname "$R$1")" && printf '%b' "$2" >"$R$1"; }
# flat CMD...: CMD's output on one line (to match across items), its exit status kept
flat() { "$@" >"$T/flat.out" 2>&1; local rc=$?; tr '\n' ' ' <"$T/flat.out"; return $rc; }
# answers_all OUT RC: the exit status is 0 or 1 and OUT has a verdict line for each of the 13 items
answers_all() { [ "$2" -le 1 ] && [ "$(grep -cE '^(pass|warn|fail)  ' <<<"$1")" = 13 ]; }
put /proc/swaps 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram0 partition 1000 0 100\n'
put /proc/sys/kernel/core_pattern 'core\n'
put /etc/security/limits.d/90-kura.conf '*\thard\tcore\t0\n'
# Debian 12's sshd_config, with kura's settings in a drop-in.
put /etc/ssh/sshd_config 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n'
put /etc/ssh/sshd_config.d/50-kura.conf 'PermitRootLogin no\nAuthenticationMethods publickey,keyboard-interactive\n'
put /etc/profile.d/tmout.sh 'readonly TMOUT=900\nexport TMOUT\n'
put /var/lib/dpkg/status 'Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n\nPackage: transmission-cli\nStatus: deinstall ok config-files\nVersion: 3.00-2\n'
put /etc/nftables.conf '#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t}\n}\n'
put /etc/systemd/system/sysinit.target.wants/nftables.service '[Unit]\n'
put /run/systemd/timesync/synchronized ''
put /proc/sys/kernel/unprivileged_userns_clone '0\n'
put /proc/sys/user/max_user_namespaces '96367\n'
mkdir -p "$R$(dirname "$KEYS")"
require "copy the real keystore into the root" cp -a "$KEYS" "$R$KEYS"
put "$KEYS/.nobackup" ''
put /proc/4711/comm 'kurafs\n'
put /proc/4711/limits 'Limit                     Soft Limit           Hard Limit           Units\nMax core file size        0                    0                    bytes\n'
put /proc/4711/status 'Name:\tkurafs\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmLck:\t   20480 kB\n'

check_output "every item passes on the prepared root (exit 0)" "13 pass, 0 warn, 0 fail" kuractl check --root "$R" --lang en
check_output "the default language is Japanese, with the guideline's numbering" \
  "p2p +ファイル共有（P2P）ソフトがないこと +ガイドライン: データ利用者向け 2-2 <データサーバについて> 5" flat kuractl check --root "$R"
out=$(kuractl check --root "$R" --json)
check "--json: one array of the 13 items, each with id, verdict, guideline, title, seen and fix" python3 -c '
import json, sys
items = json.loads(sys.argv[1])
assert len(items) == 13, len(items)
assert all(set(i) == {"id", "verdict", "guideline", "title", "seen", "fix"} for i in items)
assert {i["verdict"] for i in items} == {"pass"}
assert [i["id"] for i in items][:3] == ["swap", "coredump", "ssh-password"]
' "$out"

# ---- each broken in turn: fail (exit 1) or warn (exit 0) ----
put /etc/ssh/sshd_config.d/50-kura.conf 'PermitRootLogin no\n'
check_output_fails "sshd allows passwords: ssh-password fails, exit 1" \
  "fail  ssh-password .*" kuractl check --root "$R" --lang en
check_output_fails "... and says what it saw" "a password alone logs in: PasswordAuthentication yes \(default\)" \
  kuractl check --root "$R" --lang en
check_output_fails "... a missing second factor is a warning" "warn  ssh-mfa " kuractl check --root "$R" --lang en
put /etc/ssh/sshd_config.d/50-kura.conf 'PermitRootLogin no\nAuthenticationMethods publickey,keyboard-interactive\n'
check_output "AuthenticationMethods publickey,keyboard-interactive: passes again" "pass  ssh-password" \
  kuractl check --root "$R" --lang en

put /proc/sys/kernel/unprivileged_userns_clone '1\n'
check_output_fails "unprivileged user namespaces on: userns fails, saying which setting" \
  "fail  userns .*kernel.unprivileged_userns_clone = 1" flat kuractl check --root "$R" --lang en
put /proc/sys/user/max_user_namespaces '0\n'
check_output "... user.max_user_namespaces = 0 passes too" "pass  userns .*user.max_user_namespaces = 0" \
  flat kuractl check --root "$R" --lang en
rm "$R/proc/sys/kernel/unprivileged_userns_clone"
put /proc/sys/user/max_user_namespaces '96367\n'
check_output_fails "... and without Debian's switch, a limit above 0 fails" \
  "fail  userns .*user.max_user_namespaces = 96367" flat kuractl check --root "$R" --lang en
put /proc/sys/kernel/unprivileged_userns_clone '0\n'

rm "$R$KEYS/.nobackup"
check_output "no backup marker: a warning, which does not fail (exit 0)" \
  "warn  backup-exclusion.*12 pass, 1 warn, 0 fail" flat kuractl check --root "$R" --lang en
touch "$R$KEYS/.nobackup"

chmod 0644 "$R$KEYS/$(ls "$R$KEYS" | grep -m1 '\.sec$\|audit.key')"
check_output_fails "a keystore file readable by others fails" "fail  keystore .*not root-only" \
  flat kuractl check --root "$R" --lang en
rm -rf "$R$KEYS" && cp -a "$KEYS" "$R$KEYS" && touch "$R$KEYS/.nobackup"

put /var/lib/dpkg/status 'Package: qbittorrent-nox\nStatus: install ok installed\nVersion: 4.5.2-3\n'
check_output_fails "a file-sharing package installed fails, named" "fail  p2p .*qbittorrent-nox" \
  flat kuractl check --root "$R" --lang en
put /var/lib/dpkg/status 'Package: bash\nStatus: install ok installed\n'

printf 'table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n' >"$T/running.nft"
check_output_fails "--ruleset: the running rules accept everything: fail" "fail  firewall .*lets everything in" \
  flat kuractl check --root "$R" --ruleset "$T/running.nft" --lang en

# ---- bad usage: a clear error, exit 2 ----
check "--lang fr is refused (exit 2)" test "$(kuractl check --lang fr >/dev/null 2>&1; echo $?)" = 2
check_output_fails "a relative --root is refused" "absolute" kuractl check --root root

# ---- this machine's own / (what it says depends on the machine) ----
out=$(kuractl check --lang en 2>&1); rc=$?
check "on / every item is answered (exit 0 or 1)" answers_all "$out" "$rc"
check "on / no sanitizer report" test -z "$(grep -E 'AddressSanitizer|runtime error' <<<"$out")"

# ---- a running kurafs: its hardening is seen; operators ask through it ----
require "mount" mount_kura "$T/mnt"
out=$(kuractl check --lang en 2>&1)
# kurafs says at start what check's userns item says, on this machine.
if grep -q '^fail  userns' <<<"$out"; then
  check "userns fails here: kurafs warned of it at start" grep -q 'kurafs: unprivileged user namespaces are on.*item userns' "$KURAFS_LOG"
else
  check "userns passes here: kurafs did not warn of it" bash -c "! grep -q 'item userns' '$KURAFS_LOG'"
fi
check "the daemon item sees a running kurafs's core limit 0" grep -Eq "kurafs \(pid [0-9]+\): core limit 0" <<<"$out"
kc() { local u=$1; shift; as "$u" "$KURACTL" -c "$KCONF" "$@"; }
out=$(kc kt_op check --lang en 2>&1); rc=$?
check "an operator (group kura-admin) runs check through the daemon: every item" answers_all "$out" "$rc"
check_output_fails "through the daemon --root is refused" "root on the server" kc kt_op check --root "$R"
check_output_fails "through the daemon --ruleset is refused" "root on the server" kc kt_op check --ruleset "$T/running.nft"
check_output_fails "a user who is not an operator is refused" "only an operator" kc kt_carol check

# ---- report checklist: the PI's, through the daemon ----
D=JGAD300001
require "dataset add $D (PI alice)" kuractl dataset add "$D" --pi kt_alice --period "$(day -1)..$(day 300)"
kc kt_alice report checklist "$D" >"$T/cl.md" 2>"$T/cl.err"; rc=$?
check "the PI makes the checklist (exit 0)" test "$rc" = 0
check "it names the guideline's items in Japanese, check's and the site's" grep -q \
  "データ利用者向け 2-2 [\\]<データサーバについて[\\]> 5.*ファイル共有.*kuractl check p2p" "$T/cl.md"
check "the site's items are blanks for the PI (記入欄)" test "$(grep -c '| 記入欄 | （記入欄） |' "$T/cl.md")" -ge 8
check "kura's own answers: access limited to the listed users, the ledger verified" \
  grep -q "kura はデータセット $D を研究代表者 kt_alice と登録された 0 名の利用者にのみ提供する" "$T/cl.md"
check "the made-at and dataset items of every report" grep -q '^- 作成日時：' "$T/cl.md"
check_output "its SHA-256 is in the dataset's ledger" "checklist-report $D: .*-> markdown .*report sha256=$(sha256sum <"$T/cl.md" | cut -c1-64)" \
  kuractl ledger "$D"
check_output "report verify: the copy's signature verifies" "the signature verifies" kc kt_alice report verify "$T/cl.md"
sed 's/| 不適合 |/| 適合 |/; s/| 要確認 |/| 適合 |/' "$T/cl.md" >"$T/cl-edited.md"
differs() { ! cmp -s "$1" "$2"; }
check "(the edit changed the copy)" differs "$T/cl.md" "$T/cl-edited.md"
check_output_fails "report verify: an edited copy does not verify" "cl-edited.md does NOT verify" \
  kc kt_alice report verify "$T/cl-edited.md"
sed 's/^| ledger | /| ledgeR | /' "$T/cl.md" >"$T/cl-byte.md"
check "(one byte changed)" test "$(cmp -l "$T/cl.md" "$T/cl-byte.md" | wc -l)" = 1
check_output_fails "... nor does a copy with one byte changed" "does NOT verify" kc kt_alice report verify "$T/cl-byte.md"
check_output_fails "the old --verify option is gone, saying what replaced it (exit 2)" \
  "--verify is gone: check a copy with kuractl report verify cl.md" kc kt_alice report checklist "$D" --verify cl.md
check "... exit 2" test "$(kc kt_alice report checklist "$D" --verify "$T/cl.md" >/dev/null 2>&1; echo $?)" = 2
kc kt_alice report checklist "$D" --html --lang en >"$T/cl.html" 2>/dev/null
check "--html: one A4 page with a Japanese font named" grep -q '@page { size: A4' "$T/cl.html"
check "--html: fonts-noto-cjk's family in the page" grep -q 'font-family: "Noto Sans CJK JP"' "$T/cl.html"
check "--html --lang en: English items, their '<' and '>' escaped" grep -q '<td>Data users.*&lt;Data server&gt;' "$T/cl.html"
check "--html: no raw '<Data server>' left" test -z "$(grep '<Data server>' "$T/cl.html")"
check "--html: the site's items are marked blanks" test "$(grep -c '<span class="blank">(to be filled in)</span></td></tr>' "$T/cl.html")" -ge 8
check_output "--html: signed, and the signature verifies" "the signature verifies" kuractl report verify "$T/cl.html"
sed 's/>pass</>fail</' "$T/cl.html" >"$T/cl-edited.html"
check "(the HTML edit changed the copy)" differs "$T/cl.html" "$T/cl-edited.html"
check_output_fails "... an edited HTML copy does not verify" "does NOT verify" kuractl report verify "$T/cl-edited.html"
kc kt_alice report checklist "$D" --lang en >"$T/cl-en.md" 2>/dev/null
check "--lang en: the English title and items" grep -q "^# NBDC human data security guidelines checklist: the data server's part: $D" "$T/cl-en.md"
check "--lang en: kura's own answers in English" grep -q "kura serves dataset $D to its PI kt_alice and 0 listed users only" "$T/cl-en.md"
check_output "--lang en: signed too" "the signature verifies" kc kt_alice report verify "$T/cl-en.md"
kc kt_alice report checklist "$D" --html >"$T/cl-ja.html" 2>/dev/null
check "--html (ja): a Japanese page with the checklist's title" grep -q '<h1>NBDCヒトデータ取扱いセキュリティガイドラインチェックリスト（データサーバ部分）：'"$D"'</h1>' "$T/cl-ja.html"
check_output "--html (ja): signed" "the signature verifies" kuractl report verify "$T/cl-ja.html"
out=$(kc kt_alice report checklist "$D" --json 2>/dev/null)
check "--json: every row (13 of check, 4 of kura, 8 of the site) with id, ref, item, answer, note" python3 -c '
import json, sys
doc = json.loads(sys.argv[1])
assert doc["report"]["type"] == "checklist", doc["report"]
assert doc["report"]["pi"] == "kt_alice"
rows = doc["checklist"]
assert len(rows) == 25, len(rows)
assert all(set(r) == {"id", "ref", "item", "answer", "note"} for r in rows)
assert sum(r["answer"] == "site" for r in rows) == 8
assert all(r["note"] == "" for r in rows if r["answer"] == "site")
assert {r["answer"] for r in rows} <= {"pass", "warn", "fail", "site"}
assert [r["id"] for r in rows][13:17] == ["access", "ledger", "audit-log", "level"]
' "$out"
check_output "--csv: the items table, a header of the column keys" '^id,ref,item,answer,note' kc kt_alice report checklist "$D" --csv --lang en
check "--csv: one line per row (25 and the header)" test "$(kc kt_alice report checklist "$D" --csv 2>/dev/null | wc -l)" = 26
check_output "every format is recorded in the ledger" "checklist-report $D: .*-> csv .*report sha256=" kuractl ledger "$D"
check_output_fails "two formats at once are refused" "give one" kc kt_alice report checklist "$D" --csv --json
check_output_fails "a user who is not the PI is refused" "only the PI of dataset $D or an operator" kc kt_carol report checklist "$D"

# ---- report checklist --group: the group-sharing checklist ----
A=AGDD300002
require "an AGD dataset $A (PI alice), its ethics approval recorded" kuractl dataset add "$A" --pi kt_alice \
  --period "$(day -1)..$(day 300)" --kind AGD --ethics "IRB-2026-7" --ethics-until "$(day 400)"
require "a co-investigator with the provider's approval" kc kt_alice user add "$A" kt_carol --approval "AGD-OK-42"
kc kt_alice report checklist "$A" --group >"$T/grp.md" 2>/dev/null; rc=$?
check "the PI makes the group-sharing checklist (exit 0)" test "$rc" = 0
check "its title is the group-sharing checklist's" grep -q "^# NBDCヒトデータグループ共有データ取扱いセキュリティガイドラインチェックリスト（データサーバ部分）：$A" "$T/grp.md"
check "group-data: an AGD dataset is group-shared data (適合)" grep -q '^| group-data | .* | 適合 | データセット '"$A"' は AGD' "$T/grp.md"
check "group-users: who may read, by role, from the grants" \
  grep -q "^| group-users | .* | 適合 | 読めるのは研究代表者 kt_alice、共同研究者 1 名、委託先 0 名のみ" "$T/grp.md"
check "data-manager: the PI, changes in the ledger" grep -q '^| data-manager | .* | 適合 | 研究代表者 kt_alice：リストの変更' "$T/grp.md"
check "provider-approval: every user's approval is recorded (適合)" grep -q '^| provider-approval | .* | 適合 |' "$T/grp.md"
check "the ethics approval recorded is said, not left blank" grep -q '^- 倫理審査委員会の承認：IRB-2026-7$' "$T/grp.md"
check "... and its end" grep -q "^- 倫理審査委員会の承認の期限：$(day 400)\$" "$T/grp.md"
check "a dataset with none recorded: both blanks for the PI" \
  test "$(grep -cE '^- 倫理審査委員会の承認(の期限)?：（記入欄）$' "$T/cl.md")" = 2
check "the group's site items are blanks (same institution, group only, off-premise server)" \
  test "$(grep -cE '^\| (same-institution|group-only|off-premise-server) \| .* \| 記入欄 \| （記入欄） \|$' "$T/grp.md")" = 3
check "the table of who in the group may read: the PI and carol with the approval" \
  grep -q '^| kt_carol | 共同研究者 | .* | AGD-OK-42 | 利用可 |' "$T/grp.md"
check "... and the PI" grep -q '^| kt_alice | 研究代表者 | ' "$T/grp.md"
check_output "the group checklist is signed" "the signature verifies" kc kt_alice report verify "$T/grp.md"
check_output "its ledger record says it is the group one" "checklist-report $A: .*-> markdown group .*report sha256=$(sha256sum <"$T/grp.md" | cut -c1-64)" \
  kuractl ledger "$A"
out=$(kc kt_alice report checklist "$A" --group --json 2>/dev/null)
check "--group --json: 13 + 4 + 4 rows of kura, 8 + 3 of the site, and the group's users" python3 -c '
import json, sys
doc = json.loads(sys.argv[1])
assert doc["report"]["type"] == "checklist_group", doc["report"]
rows = {r["id"]: r for r in doc["checklist"]}
assert len(doc["checklist"]) == 32, len(doc["checklist"])
assert rows["group-data"]["answer"] == "pass" and rows["provider-approval"]["answer"] == "pass"
assert sum(r["answer"] == "site" for r in rows.values()) == 11
users = doc["group_users"]
assert [(u["user"], u["role"], u["state"]) for u in users] == [("kt_alice", "pi", "served"), ("kt_carol", "co-investigator", "served")], users
assert users[1]["provider_approval"] == "AGD-OK-42"
' "$out"
kc kt_alice report checklist "$A" --group --html --lang en >"$T/grp.html" 2>/dev/null
check "--group --html --lang en: the English group title" grep -q "<h1>NBDC human data group-sharing security guidelines checklist" "$T/grp.html"
check_output "--group --html: signed" "the signature verifies" kuractl report verify "$T/grp.html"
check "--group on a JGA dataset: said not group-shared data (要確認)" \
  grep -q '^| group-data | .* | 要確認 | データセット '"$D"' は JGA の制限公開データ' <(kc kt_alice report checklist "$D" --group 2>/dev/null)
check_output "an AGD dataset's checklist without --group points to the group-sharing one" \
  "dataset $A is AGD \(group-shared data\): its form is the group-sharing checklist, --group" kc kt_alice report checklist "$A"
check "... a JGA dataset's does not" test -z "$(grep -- '--group' "$T/cl.err")"
check "without --group no group items" test -z "$(grep -E '^\| (group-data|group-users|same-institution) ' "$T/cl.md")"
stop_kura "$T/mnt"

done_testing
