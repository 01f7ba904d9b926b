#!/usr/bin/env bash
# The main job on the embedded defaults: a throwaway PostgreSQL 15 cluster with
# stockelt preloaded, the stand-in API server, a handful of symbols fetched into
# bronze (a table of the database), and the bronze catalog printed.
set -euo pipefail
source "$(dirname "$0")/../test/lib.sh"

symbols=(IBM AAPL MSFT TSCO.LON BRK-B)
work=$(mktemp -d /tmp/stockelt-demo.XXXXXX)

cleanup() {
	set +e
	[ -f "$work/data/postmaster.pid" ] &&
		as_run_user "$pg_bindir/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null
	stop_standin "$work"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_cluster() {
	chmod 755 "$work"
	mkdir "$work/data" "$work/socket"
	chown "$run_user" "$work/data" "$work/socket" 2>/dev/null || true
	as_run_user "$pg_bindir/initdb" -D "$work/data" -A trust -U postgres >/dev/null
	cat >>"$work/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work/socket'
shared_preload_libraries = 'stockelt'
stockelt.api_base_url = '$STANDIN/query'
stockelt.api_key = '$apikey'
CONF
	as_run_user "$pg_bindir/pg_ctl" -D "$work/data" -l "$work/data/server.log" -w start >/dev/null
}

psql_demo() {
	as_run_user "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/socket" -U postgres -d postgres "$@"
}

main() {
	bash "$top/test/install-deps.sh"
	build_and_install
	ensure_run_user
	apikey=demo$(random_token)
	start_standin "$work" "$apikey"
	start_cluster

	psql_demo -c "CREATE EXTENSION stockelt"
	echo "Fetching ${symbols[*]} from the stand-in API into bronze…"
	for symbol in "${symbols[@]}"; do
		psql_demo -At -c "SELECT stockelt_fetch('$symbol')"
	done
	echo
	psql_demo -c "SELECT symbol, size_bytes, left(sha256, 16) AS sha256, store,
	                     to_char(fetched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS fetched_utc
	                FROM stockelt.bronze_objects ORDER BY fetched_at"
}

main "$@"
