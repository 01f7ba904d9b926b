#!/usr/bin/env bash
# The main job on the embedded defaults: a throwaway PostgreSQL 15 cluster with
# stockelt preloaded and its background worker, the stand-in API server, a
# handful of symbols queued for the worker (fetch into bronze, a table of the
# database; ingest into silver; gold refreshed once the batch is done), and the
# answers to the three business questions printed, then the dashboard built from it
# (dashboard/build.sh, as the README's read-only role) and left served on 127.0.0.1: the site
# is static, so it outlives the cluster. The prices are generated: the stand-in answers like
# the API with deterministic made-up histories, no real data.
# STOCKELT_KEEP=1 leaves the cluster and the stand-in running for exploring with psql;
# STOCKELT_DASHBOARD=none builds no dashboard.
set -euo pipefail
source "$(dirname "$0")/../test/lib.sh"

symbols=(IBM AAPL MSFT TSCO.LON BRK-B)
work=$(mktemp -d /tmp/stockelt-demo.XXXXXX)
finished=	# set once the demo has run to its end: only then is there a cluster worth keeping

cleanup() {
	set +e
	if [ -n "${STOCKELT_KEEP:-}" ] && [ -n "$finished" ]; then
		print_how_to_explore
		return
	fi
	stop_cluster "$work"
	stop_standin "$work"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_demo() {
	as_run_user "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/socket" -U postgres -d postgres "$@"
}

# With STOCKELT_KEEP set: how to connect to the cluster left running, and how to stop it.
print_how_to_explore() {
	local as_user=''
	[ "$(id -u)" -eq 0 ] && as_user="runuser -u $run_user -- "
	cat <<EXPLORE

The demo's cluster is still running (STOCKELT_KEEP is set), with the stand-in API on $STANDIN.
Its data is generated, as above. Explore it with psql:

  $pg_bindir/psql -h $work/socket -U postgres -d postgres

The worker keeps serving the database postgres; the free key's limits still hold
(SELECT * FROM stockelt_usage() shows what is left of the day's 25 calls), and the stand-in
answers any symbol with a generated history. When done, stop both and remove the directory:

  ${as_user}$pg_bindir/pg_ctl -D $work/data -m fast stop; kill $(cat "$work/standin.pid"); rm -rf $work
EXPLORE
}

main() {
	bash "$top/test/install-deps.sh" --demo
	build_and_install
	ensure_run_user
	apikey=demo$(random_token)
	start_standin "$work" "$apikey"
	write_secret_file "$work/api_key" "$apikey"
	start_cluster "$work" "stockelt.api_base_url = '$STANDIN/query'
stockelt.api_key_file = '$work/api_key'"

	echo "The data below is generated: the stand-in API server on 127.0.0.1 answers like Alpha"
	echo "Vantage with made-up, deterministic price histories. No real market data is fetched."
	echo
	psql_demo -c "CREATE EXTENSION stockelt"
	# Twenty-odd years of weekly history each, so that the 52-week windows and the
	# dividend streaks have something to say.
	# A London listing trades on the London calendar.
	for symbol in "${symbols[@]}"; do
		case $symbol in
		*.LON) exchange='&exchange=LSE' ;;
		*) exchange='' ;;
		esac
		"$top/test/standinctl" symbol "symbol=$symbol&weeks=1100$exchange"
	done
	# The limits are the defaults of a free key: one call a second, 25 a day.
	echo "Company overviews (synchronous calls, through the same limiter)…"
	for symbol in "${symbols[@]}"; do
		psql_demo -At -c "SELECT stockelt_ingest(stockelt_fetch_overview('$symbol'))" >/dev/null
	done
	echo "Queueing ${symbols[*]} for the background worker (fetch → bronze → silver, then gold)…"
	psql_demo -At -c "SELECT count(*) || ' jobs queued' FROM stockelt_enqueue(ARRAY['$(IFS=,; echo "${symbols[*]}" | sed "s/,/','/g")'])"
	wait_for_worker
	echo
	echo "Jobs:"
	psql_demo -c "SELECT symbol, state, attempts, round(fetch_ms) AS fetch_ms, round(ingest_ms) AS ingest_ms,
	                     left(bronze_key, 60) || '…' AS bronze_key
	                FROM stockelt.jobs ORDER BY id"
	echo "Bronze:"
	psql_demo -c "SELECT symbol, api_function, size_bytes, left(sha256, 16) AS sha256, store,
	                     to_char(fetched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS fetched_utc
	                FROM stockelt.bronze_objects ORDER BY fetched_at"
	echo "API calls today (the shared limiter):"
	psql_demo -c "SELECT day, used, daily_limit, remaining, throttled FROM stockelt_usage()"
	echo "Silver: the three newest weeks of each symbol"
	psql_demo -c "SELECT p.symbol, s.name, p.week_ending, p.open, p.high, p.low, p.close,
	                     p.adjusted_close, p.volume, p.dividend_amount
	                FROM (SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY week_ending DESC) AS n
	                        FROM silver.weekly_adjusted_prices) p
	                LEFT JOIN silver.symbols s USING (symbol)
	               WHERE p.n <= 3 ORDER BY p.symbol, p.week_ending DESC"
	show_answers
	serve_dashboard
	finished=1
}

# The dashboard, built from the demo's database as the README's read-only role into a
# directory of its own, and served from there on 127.0.0.1 by a server left running: the
# site holds the data it shows, so it needs neither the cluster nor the demo's directory.
serve_dashboard() {
	local site port=
	if [ "${STOCKELT_DASHBOARD:-}" = none ]; then
		echo "No dashboard (STOCKELT_DASHBOARD=none)."
		return 0
	fi
	echo
	echo "Building the dashboard (dashboard/build.sh, connected as the README's read-only role"
	echo "stockelt_dashboard; the first build installs its npm packages, a few minutes)…"
	psql_demo -c "CREATE ROLE stockelt_dashboard LOGIN; CREATE ROLE demo_etl; CREATE ROLE demo_analyst"
	bash "$top/test/readme_grants.sh" demo_etl demo_analyst stockelt_dashboard | psql_demo
	site=$(mktemp -d /tmp/stockelt-dashboard.XXXXXX)
	chmod 755 "$site"
	if ! PGHOST=$work/socket PGUSER=stockelt_dashboard bash "$top/dashboard/build.sh" --out "$site/site" \
		>"$site/build.log" 2>&1; then
		tail -30 "$site/build.log"
		echo "the dashboard did not build (its log: $site/build.log)" >&2
		return 1
	fi
	setsid "$python" -m http.server --bind 127.0.0.1 --directory "$site/site" 0 >"$site/http.log" 2>&1 </dev/null &
	echo $! >"$site/http.pid"
	for _ in $(seq 100); do
		port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$site/http.log" | head -1)
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { echo "the dashboard's web server did not start (its log: $site/http.log)" >&2; return 1; }
	cat <<SERVED

The dashboard is served on http://127.0.0.1:$port/ (a web server left running, process
$(cat "$site/http.pid"), serving the static site built in $site/site). It shows the demo's
data as it was at the end of the run, whether or not the cluster is still there. Stop it and
remove its directory with:

  kill $(cat "$site/http.pid"); rm -rf $site
SERVED
}

# Prints the queue until every job has finished and gold has been refreshed after them.
wait_for_worker() {
	local status
	for _ in $(seq 600); do
		status=$(psql_demo -At -c "SELECT count(*) FILTER (WHERE state IN ('queued', 'running', 'retry')) || ' open, '
		                                   || count(*) FILTER (WHERE state = 'done') || ' done, '
		                                   || count(*) FILTER (WHERE state = 'failed') || ' failed'
		                                   || CASE WHEN count(*) FILTER (WHERE state IN ('queued', 'running', 'retry')) = 0
		                                            AND (SELECT max(finished_at) FROM stockelt.gold_refreshes)
		                                                >= max(finished_at)
		                                           THEN ', gold refreshed' ELSE '' END
		                              FROM stockelt.jobs")
		echo "  worker: $status"
		case "$status" in *"gold refreshed"*) return 0 ;; esac
		sleep 0.5
	done
	echo "the worker did not finish in 5 minutes" >&2
	return 1
}

pct() {
	echo "to_char(100 * ($1), 'FMS999999990.0') || ' %'"
}

show_answers() {
	echo "Gold, refreshed by the worker once the batch was done:"
	psql_demo -c "SELECT full_rebuild, stocks, weeks_written,
	                     round(extract(epoch FROM finished_at - started_at) * 1000) AS ms
	                FROM stockelt.gold_refreshes ORDER BY id"
	echo "1. Weekly adjusted performance trend (the newest closed week)"
	psql_demo -c "SELECT p.symbol, s.name, p.week_ending AS week, p.adjusted_close,
	                     $(pct p.weekly_return) AS week_return, $(pct p.return_4w) AS \"4 weeks\",
	                     $(pct p.return_13w) AS \"13 weeks\", $(pct p.return_52w) AS \"52 weeks\",
	                     $(pct p.cumulative_return) AS since_first_week,
	                     round(p.moving_average_13w, 2) AS ma_13w, round(p.moving_average_52w, 2) AS ma_52w
	                FROM (SELECT DISTINCT ON (symbol) * FROM gold.weekly_performance
	                       WHERE NOT is_partial ORDER BY symbol, week_ending DESC) p
	                JOIN gold.dim_stock s USING (symbol) ORDER BY p.symbol"
	echo "2. Volume against volatility over the trailing 52 weeks (the newest closed week)"
	psql_demo -c "SELECT v.symbol, v.week_ending AS week,
	                     to_char(v.correlation, 'FMS0.000') AS correlation,
	                     $(pct v.annualised_volatility) AS annualised_volatility,
	                     to_char(v.mean_volume, 'FM999,999,999,990') AS mean_weekly_volume,
	                     (SELECT to_char(avg(correlation), 'FMS0.000') FROM gold.volume_volatility_52w a
	                       WHERE a.symbol = v.symbol) AS average_correlation
	                FROM (SELECT DISTINCT ON (symbol) * FROM gold.volume_volatility_52w
	                       WHERE correlation IS NOT NULL ORDER BY symbol, week_ending DESC) v
	               ORDER BY v.symbol"
	echo "3. Dividend growth (split-adjusted dividends per share, the last five complete years)"
	psql_demo -c "SELECT symbol, year, payments, round(dividends_per_share, 4) AS dividends_per_share,
	                     $(pct growth) AS growth, growth_streak AS years_of_growth
	                FROM (SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY year DESC) AS n
	                        FROM gold.dividend_growth WHERE complete_year) d
	               WHERE n <= 5 ORDER BY symbol, year"
	echo "   Stocks with at least 5 consecutive years of dividend growth:"
	psql_demo -c "SELECT symbol, name, growth_streak AS years, through_year,
	                     round(dividends_per_share, 4) AS dividends_per_share
	                FROM gold.dividend_growers(5)"
	echo "Data-quality checks (stockelt_check):"
	psql_demo -c "SELECT coalesce(severity, 'none') AS severity, count(check_name) AS failed
	                FROM (SELECT * FROM stockelt_check()) c RIGHT JOIN (VALUES (1)) v ON true
	               GROUP BY 1"
}

main "$@"
