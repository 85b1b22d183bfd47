#!/usr/bin/env bash
# The cluster's authority in a real PostgreSQL (issue 19), started by this
# test in a temporary directory on a Unix socket and stopped on every path:
# one schema and one cluster id however many inits run at once; the state
# lock held by one connection and released when it dies; changes announced
# with rising epochs; leases that end; the maintenance claimed by one node
# with a lease at a time; values that reach the database only
# as parameters; a newer schema refused; a dead server reported at once.
. "$(dirname "$0")/lib.sh"

require "a private PostgreSQL" start_postgres
dead="host=$T/nowhere dbname=postgres user=kura connect_timeout=2"
mkdir -p "$T/nowhere"
"$KURA_BUILD/tests/cluster_db_check" "$PG_CONN" "$dead" >"$T/check.tap" 2>&1
while IFS= read -r line; do
  case $line in
    "ok "*) ok "${line#* - }" ;;
    "not ok "*) not_ok "${line#* - }" ;;
    "#"*) echo "$line" ;;
  esac
done <"$T/check.tap"
check "cluster_db_check ran to its end" grep -q '^1\.\.' "$T/check.tap"
check "the server holds no kura data outside its schema" \
  test -z "$(psql "$PG_CONN" -tAc "select table_name from information_schema.tables where table_schema not in ('kura','pg_catalog','information_schema')")"
done_testing
