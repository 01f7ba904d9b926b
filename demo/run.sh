#!/usr/bin/env bash
# The main job on the embedded defaults: a throwaway PostgreSQL 15 cluster with
# stockelt preloaded, the stand-in API server, a handful of symbols fetched into
# bronze (a table of the database), ingested into silver, and both printed.
set -euo pipefail
source "$(dirname "$0")/../test/lib.sh"

symbols=(IBM AAPL MSFT TSCO.LON BRK-B)
work=$(mktemp -d /tmp/stockelt-demo.XXXXXX)

cleanup() {
	set +e
	stop_cluster "$work"
	stop_standin "$work"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_demo() {
	as_run_user "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/socket" -U postgres -d postgres "$@"
}

main() {
	bash "$top/test/install-deps.sh"
	build_and_install
	ensure_run_user
	apikey=demo$(random_token)
	start_standin "$work" "$apikey"
	start_cluster "$work" "stockelt.api_base_url = '$STANDIN/query'
stockelt.api_key = '$apikey'"

	psql_demo -c "CREATE EXTENSION stockelt"
	echo "Fetching ${symbols[*]} from the stand-in API into bronze…"
	for symbol in "${symbols[@]}"; do
		psql_demo -At -c "SELECT stockelt_fetch('$symbol')"
	done
	for symbol in "${symbols[@]}"; do
		psql_demo -At -c "SELECT stockelt_fetch_overview('$symbol')" >/dev/null
	done
	echo
	echo "Bronze:"
	psql_demo -c "SELECT symbol, api_function, size_bytes, left(sha256, 16) AS sha256, store,
	                     to_char(fetched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS fetched_utc
	                FROM stockelt.bronze_objects ORDER BY fetched_at"
	echo "Ingesting bronze into silver…"
	psql_demo -c "SELECT count(*) AS objects, sum(inserted) AS inserted, sum(updated) AS updated,
	                     sum(unchanged) AS unchanged
	                FROM stockelt_ingest(ARRAY(SELECT key FROM stockelt.bronze_objects ORDER BY fetched_at))"
	echo "Silver: the three newest weeks of each symbol"
	psql_demo -c "SELECT p.symbol, s.name, p.week_ending, p.open, p.high, p.low, p.close,
	                     p.adjusted_close, p.volume, p.dividend_amount
	                FROM (SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY week_ending DESC) AS n
	                        FROM silver.weekly_adjusted_prices) p
	                LEFT JOIN silver.symbols s USING (symbol)
	               WHERE p.n <= 3 ORDER BY p.symbol, p.week_ending DESC"
}

main "$@"
