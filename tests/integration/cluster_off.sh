#!/usr/bin/env bash
# A single server (issue 19: no [cluster] database, the default) never
# connects to a database: kurafs serving a read and kuractl making changes
# run under strace, and no connect() names a PostgreSQL socket
# (.s.PGSQL.N) or port 5432. Nor does it load libpq (src/lib/pq.h: opened
# at the first cluster connection), so no openat() names libpq.so. The
# method is checked first: a kuractl whose [cluster] database names a
# socket directory shows both in the trace. And when libpq cannot be
# loaded, cluster mode says what is missing and changes nothing.
. "$(dirname "$0")/lib.sh"
. "$KURA_TOP/tests/helpers/cluster_nodes.sh"

ID=JGAD000097
require "strace is installed" command -v strace
for u in kt_alice kt_bob; do make_user "$u"; done
require "kuractl init" kura_init
check "the config has no database (single server)" grep -Eqx 'database *=' "$KCONF"
# LeakSanitizer cannot stop a traced process; strace itself is the check.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
N=0
# traced CMD...: CMD under strace -f, its connect() calls in $T/trace.N
traced() { N=$((N + 1)); strace -f -qq -e trace=connect,openat -o "$T/trace.$N" "$@"; }
to_postgres() { grep -Eh 'PGSQL|htons\(5432\)' "$T"/trace.* ; }
opened_libpq() { grep -Eh 'openat\(.*libpq\.so' "$T"/trace.* ; }

# ---- the method sees a connection to PostgreSQL ----
cp -p "$KCONF" "$T/cluster.conf"
mkdir -p "$T/nopg"
cluster_section "$T/cluster.conf" probe "host=$T/nopg dbname=postgres user=kura connect_timeout=2"
traced "$KURACTL" -c "$T/cluster.conf" cluster status >/dev/null 2>&1
check "the trace shows a kuractl in cluster mode connecting to PostgreSQL's socket" grep -q "$T/nopg/.s.PGSQL.5432" "$T/trace.$N"
check "the trace shows a kuractl in cluster mode loading libpq" test -n "$(opened_libpq)"
rm -f "$T"/trace.*

# ---- a single server: kurafs and kuractl's changes ----
mkdir -p "$T/data" && head -c 200000 /dev/urandom >"$T/data/x.bin" && chmod -R a+rX "$T/data"
check "dataset add" traced "$KURACTL" -c "$KCONF" dataset add "$ID" --pi kt_alice --period "$(day -1)..$(day 30)"
check "import" traced "$KURACTL" -c "$KCONF" dataset import "$ID" --encrypt "$T/data"

# ---- cluster mode without a loadable libpq: a clear error, nothing changed ----
mkdir -p "$T/badlib" && echo "not a library" >"$T/badlib/libpq.so.5"
check_output_fails "cluster status without libpq names the missing package" "needs PostgreSQL's client library \\(Debian package libpq5\\)" \
  env LD_LIBRARY_PATH="$T/badlib" "$KURACTL" -c "$T/cluster.conf" cluster status
check_output_fails "user add in cluster mode without libpq fails, naming the package" "Debian package libpq5" \
  env LD_LIBRARY_PATH="$T/badlib" "$KURACTL" -c "$T/cluster.conf" user add "$ID" kt_bob
list=$(kuractl user list "$ID" 2>&1); rc=$?
check "... and kt_bob was not listed (user list: exit $rc)" bash -c '[ "$1" = 0 ] && ! grep -qw kt_bob <<<"$2"' _ "$rc" "$list"
# (kurafs without libpq: cluster_lease.sh, which has a cluster to join)
cat >"$T/kurafs-traced" <<EOF
#!/bin/sh
exec strace -f -qq -e trace=connect -o "$T/trace.kurafs" "$KURAFS" "\$@"
EOF
chmod 0755 "$T/kurafs-traced"
KURAFS=$T/kurafs-traced require "mount (kurafs under strace)" mount_kura "$T/mnt"
check "user add (told to the daemon)" traced "$KURACTL" -c "$KCONF" user add "$ID" kt_bob
check "kt_bob reads through the mount" as kt_bob cmp -s "$T/mnt/$ID/x.bin" "$T/data/x.bin"
check "dataset suspend" traced "$KURACTL" -c "$KCONF" dataset suspend "$ID" --reason "no database"
check "dataset resume" traced "$KURACTL" -c "$KCONF" dataset resume "$ID"
check "lockdown" traced "$KURACTL" -c "$KCONF" lockdown --reason "no database"
check "unlock" traced "$KURACTL" -c "$KCONF" unlock
check "user remove" traced "$KURACTL" -c "$KCONF" user remove "$ID" kt_bob
check_fails "kt_bob is refused after user remove" as kt_bob head -c 1 "$T/mnt/$ID/x.bin"
check "kuractl status" traced "$KURACTL" -c "$KCONF" status
stop_kura "$T/mnt"
check "the daemon's trace was written" test -s "$T/trace.kurafs"
check "kuractl's traces were written" test "$N" -ge 9
check "kuractl talked to the daemon (the trace sees its connects)" grep -qh 'sun_path=' "$T"/trace.[0-9]*
check "no process connected to PostgreSQL (no .s.PGSQL socket, no port 5432)" test -z "$(to_postgres)"
check "no process loaded libpq" test -z "$(opened_libpq)"
done_testing
