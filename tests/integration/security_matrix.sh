#!/usr/bin/env bash
# The permission matrix (issue 8): every operation x every role, as real Unix
# users, one TAP line per cell, with the outcome the table below expects.
#   R-ACC-1 only listed users read; R-ACC-2 an ended grant reads nothing;
#   R-ACC-4 operators manage but get no plaintext; R-ACC-5 a PI manages their
#   own dataset only; R-CPY-3 every write-class operation fails with EROFS;
#   R-LOG-1 every refusal through the mount is in the audit log (each refused
#   mount cell checks that a deny record with the caller's uid appeared).
# Roles: root (operator, not listed), op (group kura-admin, not listed), pi
# (PI of D1), opi (PI of D2 only), user (listed in D1), expired (listed in
# D1, grant ended), outsider. Mount cells act on dataset D1; kuractl cells
# too, except report destruction and end-of-use (on DX, destroyed, PI kt_alice).
. "$(dirname "$0")/lib.sh"

FSOP=$KURA_USER_BIN/fsop.py
ROLES=(root op pi opi user expired outsider)
declare -A WHO=([root]=root [op]=kt_op [pi]=kt_alice [opi]=kt_dave [user]=kt_bob [expired]=kt_erin [outsider]=kt_carol)
for u in kt_op kt_alice kt_dave kt_bob kt_erin kt_carol kt_frank; do make_user "$u"; done
make_group kura-admin
usermod -a -G kura-admin kt_op
require "kuractl init" kura_init

D1=JGAD900001 D2=JGAD900002 DX=JGAD900009
mkdir -p "$T/data" "$T/imp" "$T/dx"
head -c 200000 /dev/urandom >"$T/data/a.bin"
printf 'a.bin\tS0\n' >"$T/samples.tsv"
for r in "${ROLES[@]}"; do
  head -c 1000 /dev/urandom >"$T/data/w_$r.bin"
  printf 'w_%s.bin\tSW_%s\n' "$r" "$r" >>"$T/samples.tsv"
  head -c 1000 /dev/urandom >"$T/imp/$r.bin"
done
head -c 1000 /dev/urandom >"$T/dx/x.bin"
chmod -R a+rX "$T/data" "$T/imp" "$T/dx"
require "dataset add $D1 (PI kt_alice)" kuractl dataset add "$D1" --pi kt_alice --period "$(day -10)..$(day 60)"
require "dataset add $D2 (PI kt_dave)" kuractl dataset add "$D2" --pi kt_dave --period "$(day -10)..$(day 60)"
require "import $D1" kuractl dataset import "$D1" --encrypt --samples "$T/samples.tsv" "$T/data"
require "user add kt_bob" kuractl user add "$D1" kt_bob
erin_end=$(date -d '+3 seconds' --iso-8601=seconds)
require "user add kt_erin until $erin_end" kuractl user add "$D1" kt_erin --until "$erin_end"
require "dataset add $DX, import, destroy" quietly bash -c "'$KURACTL' -c '$KCONF' dataset add $DX --pi kt_alice --period '$(day -1)..$(day 9)' &&
  '$KURACTL' -c '$KCONF' dataset import $DX --encrypt '$T/dx' && '$KURACTL' -c '$KCONF' dataset destroy $DX --yes"
require "mount" mount_kura "$T/mnt"
M=$T/mnt/$D1
LOG=$KROOT/log/audit.jsonl
while [ "$(date +%s)" -le "$(date -d "$erin_end" +%s)" ]; do sleep 0.2; done

# ---- the mount -------------------------------------------------------------
# as_role ROLE CMD...: CMD as the role's user (root stays root)
as_role() { local u=${WHO[$1]}; shift; if [ "$u" = root ]; then "$@"; else as "$u" "$@"; fi; }
uid_of() { id -u "${WHO[$1]}"; }

# Listed roles (pi, user) read and get EROFS on writes; everyone else finds
# nothing there (ENOENT: the dataset is invisible to them, root included).
L=(pi user)
# mount table: NAME | fsop OP | PATH | expected for listed | expected for the others
MOUNT_TABLE="
ls-root         |readdir-has|$T/mnt|ok|hidden
readdir         |readdir    |$M|ok 8|ENOENT
stat            |stat       |$M/a.bin|ok|ENOENT
open            |open       |$M/a.bin|ok|ENOENT
read            |read       |$M/a.bin|ok|ENOENT
access          |access     |$M/a.bin|ok|ENOENT
getfacl         |getfacl    |$M|ok|ENOENT
listxattr       |listxattr  |$M/a.bin|ok|ENOENT
create          |create     |$M|EROFS|ENOENT
open-write      |open-write |$M/a.bin|EROFS|ENOENT
open-rdwr+fallocate|open-rdwr|$M/a.bin|EROFS|ENOENT
truncate        |truncate   |$M/a.bin|EROFS|ENOENT
mkdir           |mkdir      |$M|EROFS|ENOENT
rmdir           |rmdir      |$M|EROFS|ENOENT
unlink          |unlink     |$M/a.bin|EROFS|ENOENT
rename          |rename     |$M/a.bin|EROFS|ENOENT
link            |link       |$M/a.bin|EROFS|ENOENT
symlink         |symlink    |$M|EROFS|ENOENT
chmod           |chmod      |$M/a.bin|EROFS|ENOENT
chown           |chown      |$M/a.bin|EROFS|ENOENT
utimens         |utime      |$M/a.bin|EROFS|ENOENT
setxattr        |setxattr   |$M/a.bin|EROFS|ENOENT
removexattr     |removexattr|$M/a.bin|EROFS|ENOENT
mknod           |mknod      |$M|EROFS|ENOENT
"

# getfacl is the real tool; its outcome in fsop's words
getfacl_op() {
  local out
  if out=$(getfacl -p "$1" 2>&1); then
    grep -q "^user:kt_alice:r-x" <<<"$out" && grep -q "^user:kt_bob:r-x" <<<"$out" &&
      ! grep -q "^user:kt_erin:" <<<"$out" && echo ok || echo "WRONG-ACL"
  else
    grep -q 'No such file' <<<"$out" && echo ENOENT || echo "FAILED"
  fi
}
export -f getfacl_op

mount_cell() {
  local role=$1 name=$2 op=$3 path=$4 want=$5 got before new logged=""
  before=$(wc -l <"$LOG")
  if [ "$op" = getfacl ]; then
    got=$(as_role "$role" bash -c 'getfacl_op "$1"' _ "$path")
  elif [ "$op" = readdir-has ]; then
    got=$(as_role "$role" /usr/bin/python3 "$FSOP" readdir-has "$path" "$D1")
  else
    got=$(as_role "$role" /usr/bin/python3 "$FSOP" "$op" "$path" "$T/data/a.bin")
  fi
  # A refusal (anything but ok and the hidden root listing) must be logged,
  # as a deny record naming the caller's uid.
  if [ "${want%% *}" != ok ] && [ "$want" != hidden ]; then
    new=$(tail -n +"$((before + 1))" "$LOG")
    if grep '"decision":"deny"' <<<"$new" | grep -q "\"uid\":$(uid_of "$role")[,}]"; then logged=" (logged)"
    else logged=" (NOT LOGGED)"; fi
  fi
  if [ "$got" = "$want" ] && [ "$logged" != " (NOT LOGGED)" ]; then
    ok "mount: $role x $name: $want$logged"
  else
    not_ok "mount: $role x $name: want $want, got $got$logged"
  fi
}

while IFS='|' read -r name op path listed others; do
  [ -n "$name" ] || continue
  name=${name// /} op=${op// /}
  for role in "${ROLES[@]}"; do
    want=$others
    [[ " ${L[*]} " == *" $role "* ]] && want=$listed
    mount_cell "$role" "$name" "$op" "$path" "$want"
  done
done <<<"$MOUNT_TABLE"
check "the data is unchanged after every attempt" as kt_bob cmp -s "$M/a.bin" "$T/data/a.bin"

# ---- kuractl -------------------------------------------------------------------
# Each cell runs one command as the role (root directly, everyone else through
# the daemon). pre_* and post_* run as root around a cell, so that every cell
# starts from the same state: post_* undoes a change that was allowed.
R=refused
OPER="ok ok $R $R $R $R $R"     # root op pi opi user expired outsider
PIS="ok ok ok $R $R $R $R"
ALL="ok ok ok ok ok ok ok"
KCTL_TABLE="
pubkey              |$OPER
dataset-add         |$OPER
dataset-import      |$OPER
dataset-extend      |$OPER
dataset-suspend     |$OPER
dataset-resume      |$OPER
dataset-destroy     |$OPER
withdraw            |$OPER
lockdown            |$OPER
unlock              |$OPER
audit-verify        |$OPER
reload              |$OPER
user-add            |$PIS
user-remove         |$PIS
user-list           |$PIS
ledger              |$PIS
report-usage        |$PIS
report-destruction  |$PIS
report-withdrawal   |$PIS
report-checklist    |$PIS
report-end-of-use   |$PIS
report-secondary-data |$PIS
audit-dataset       |$PIS
status              |$ALL
"
# extend: each allowed extension must end later than the one before
declare -A EXT_DAY=([root]=61 [op]=62 [pi]=63 [opi]=64 [user]=65 [expired]=66 [outsider]=67)
args_of() {
  local cmd=$1 role=$2
  case $cmd in
    pubkey) echo pubkey ;;
    dataset-add) echo "dataset add MXA_$role --pi kt_alice --period $(day 0)..$(day 9)" ;;
    dataset-import) echo "dataset import $D1 --encrypt $T/imp/$role.bin" ;;
    dataset-extend) echo "dataset extend $D1 --until $(day "${EXT_DAY[$role]}") --ref EXT-$role" ;;
    dataset-suspend) echo "dataset suspend $D1 --reason matrix-$role" ;;
    dataset-resume) echo "dataset resume $D1" ;;
    dataset-destroy) echo "dataset destroy MXD_$role --yes" ;;
    withdraw) echo "withdraw $D1 SW_$role --ref W-$role --yes" ;;
    lockdown) echo "lockdown --reason matrix-$role" ;;
    unlock) echo unlock ;;
    audit-verify) echo "audit verify" ;;
    reload) echo reload ;;
    user-add) echo "user add $D1 kt_frank" ;;
    user-remove) echo "user remove $D1 kt_frank" ;;
    user-list) echo "user list $D1" ;;
    ledger) echo "ledger $D1" ;;
    report-usage) echo "report usage $D1" ;;
    report-destruction) echo "report destruction $DX" ;;
    report-withdrawal) echo "report withdrawal $D1 S0" ;;
    report-checklist) echo "report checklist $D1" ;;
    report-end-of-use) echo "report end-of-use $DX" ;;
    report-secondary-data) echo "report secondary-data $D1" ;;
    audit-dataset) echo "audit --dataset $D1" ;;
    status) echo status ;;
  esac
}
pre() {
  case $1 in
    dataset-resume) kuractl dataset suspend "$D1" --reason "matrix setup" ;;
    dataset-destroy) kuractl dataset add "MXD_$2" --pi kt_alice --period "$(day 0)..$(day 9)" ;;
    unlock) kuractl lockdown --reason "matrix setup" ;;
    user-remove) kuractl user add "$D1" kt_frank ;;
  esac >/dev/null 2>&1
}
post() {
  case $1 in
    dataset-suspend | dataset-resume) kuractl dataset resume "$D1" ;;
    lockdown | unlock) kuractl unlock ;;
    user-add | user-remove) kuractl user remove "$D1" kt_frank ;;
  esac >/dev/null 2>&1
}
kctl_cell() {
  local cmd=$1 role=$2 want=$3 got rc
  # shellcheck disable=SC2046 # the arguments hold no blanks
  as_role "$role" "$KURACTL" -c "$KCONF" $(args_of "$cmd" "$role") >"$T/cell.out" 2>"$T/cell.err"
  rc=$?
  if [ "$rc" = 0 ]; then got=ok
  elif [ "$rc" = 1 ] && grep -Eq 'only (an operator|the PI|operators)' "$T/cell.err"; then got=$R
  else got="failed($rc): $(head -n 1 "$T/cell.err")"; fi
  if [ "$got" = "$want" ]; then ok "kuractl: $role x $cmd: $want"
  else not_ok "kuractl: $role x $cmd: want $want, got $got"; fi
}
while IFS='|' read -r cmd wants; do
  [ -n "$cmd" ] || continue
  cmd=${cmd// /}
  read -r -a want <<<"$wants"
  for i in "${!ROLES[@]}"; do
    pre "$cmd" "${ROLES[$i]}"
    kctl_cell "$cmd" "${ROLES[$i]}" "${want[$i]}"
    post "$cmd"
  done
done <<<"$KCTL_TABLE"

# ---- what the allowed and refused commands left behind ----
ledger=$(kuractl ledger "$D1" 2>&1)
check "the ledger of $D1 verifies" grep -q "ledger of $D1 verified" <<<"$ledger"
check "the ledger names no refused actor" test "$(grep -Ec 'kt_(dave|bob|erin|carol) \(uid' <<<"$ledger")" = 0
check "the ledger has the allowed changes by op and by the PI" \
  bash -c "grep -Eq 'kt_op \(uid [0-9]+\) +dataset-extend' <<<\"\$1\" && grep -Eq 'kt_alice \(uid [0-9]+\) +user-add kt_frank' <<<\"\$1\"" _ "$ledger"
check_output "the audit log verifies" "audit log verified" kuractl audit verify
stop_kura "$T/mnt"
done_testing
