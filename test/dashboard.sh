#!/usr/bin/env bash
# The dashboard's browser test: a throwaway cluster filled by the worker from the stand-in
# API, the README's read-only dashboard role created by its GRANT recipe as written,
# dashboard/build.sh run as that role (and refused as a superuser), the built site served on
# 127.0.0.1, and test/dashboard_browser.cjs driving Debian's chromium headless over every
# page. Expected counts and numbers come from gold, queried here. Prints "ok   - …" or
# "FAIL - …" per check; screenshots go to WORK/screenshots.
# Usage: dashboard.sh WORK
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=$1
mkdir -p "$work"
work=$(cd "$work" && pwd)
symbols=(IBM AAPL MSFT TSCO.LON)
failed=0
http_pid=

cleanup() {
	set +e
	[ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null && wait "$http_pid" 2>/dev/null
	stop_cluster "$work"
	stop_standin "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; failed=1; }

psql_as() {
	local role=$1
	shift
	as_run_user "$pg_bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work/socket" -U "$role" -d postgres "$@"
}

ensure_run_user
chmod 755 "$work"
apikey=dash$(random_token)
start_standin "$work" "$apikey"
write_secret_file "$work/api_key" "$apikey"
start_cluster "$work" "stockelt.api_base_url = '$STANDIN/query'
stockelt.api_key_file = '$work/api_key'"
psql_as postgres -c "CREATE EXTENSION stockelt"
for symbol in "${symbols[@]}"; do
	case $symbol in
	*.LON) exchange='&exchange=LSE' ;;
	*) exchange='' ;;
	esac
	"$top/test/standinctl" symbol "symbol=$symbol&weeks=600$exchange"
done
psql_as postgres -c "SELECT stockelt_ingest(stockelt_fetch_overview('IBM'))" >/dev/null
psql_as postgres -c "SELECT count(*) FROM stockelt_enqueue(ARRAY['$(IFS=,; echo "${symbols[*]}" | sed "s/,/','/g")'])" >/dev/null
wait_done() {
	local status
	for _ in $(seq 600); do
		status=$(psql_as postgres -c "SELECT count(*) FILTER (WHERE state IN ('queued', 'running', 'retry')) = 0
			AND coalesce((SELECT max(finished_at) FROM stockelt.gold_refreshes) >= max(finished_at), false)
			FROM stockelt.jobs")
		[ "$status" = t ] && return 0
		sleep 0.5
	done
	return 1
}

if wait_done; then ok "the worker fetched ${symbols[*]} and refreshed gold"; else fail "the worker did not finish in 5 minutes"; exit 1; fi
# A job that fails for good (an invalid call), for the pipeline page's failures.
"$top/test/standinctl" next "message=invalid_call"
psql_as postgres -c "SELECT count(*) FROM stockelt_enqueue(ARRAY['BADCALL'])" >/dev/null
for _ in $(seq 120); do
	[ "$(psql_as postgres -c "SELECT state FROM stockelt.jobs WHERE symbol = 'BADCALL'")" = failed ] && break
	sleep 0.5
done

# The README's recipe, as written, with the dashboard's role named as build.sh expects.
psql_as postgres -c "CREATE ROLE stockelt_dashboard LOGIN; CREATE ROLE dash_etl; CREATE ROLE dash_analyst"
bash "$top/test/readme_grants.sh" dash_etl dash_analyst stockelt_dashboard | psql_as postgres >/dev/null

# What the pages must show, from gold, read as the dashboard's role.
psql_as stockelt_dashboard -f - >"$work/expected.json" <<'SQL'
WITH closed AS (SELECT * FROM gold.weekly_performance WHERE NOT is_partial),
vv AS (SELECT * FROM gold.volume_volatility_52w WHERE NOT is_partial),
per_symbol AS (
	SELECT symbol,
		   (SELECT count(cumulative_return) FROM closed c WHERE c.symbol = s.symbol) AS cumulative_return,
		   (SELECT count(adjusted_close) FROM closed c WHERE c.symbol = s.symbol) AS adjusted_close,
		   (SELECT count(moving_average_13w) FROM closed c WHERE c.symbol = s.symbol) AS moving_average_13w,
		   (SELECT count(moving_average_52w) FROM closed c WHERE c.symbol = s.symbol) AS moving_average_52w,
		   (SELECT count(correlation) FROM vv WHERE vv.symbol = s.symbol) AS correlation,
		   (SELECT least(52, count(volatility)) FROM vv WHERE vv.symbol = s.symbol) AS scatter,
		   (SELECT count(*) FROM gold.dividend_growth d WHERE d.symbol = s.symbol AND complete_year) AS complete_years,
		   (SELECT count(growth) FROM gold.dividend_growth d WHERE d.symbol = s.symbol AND complete_year) AS growth_years,
		   (SELECT count(*) FROM gold.dividend_growth d WHERE d.symbol = s.symbol) AS dividend_years,
		   (SELECT count(*) FROM gold.corporate_actions a WHERE a.stock_key = s.stock_key
			   AND a.action IN ('split', 'other adjustment', 'distribution')) AS adjustments,
		   (SELECT count(*) FROM stockelt_check() k WHERE k.symbol = s.symbol) AS findings,
		   (SELECT max(week_ending) FROM gold.weekly_performance w WHERE w.symbol = s.symbol AND is_partial) AS partial_week,
		   (SELECT row_to_json(l) FROM (SELECT week_ending, adjusted_close::float8, return_52w, cumulative_return
				 FROM closed c WHERE c.symbol = s.symbol ORDER BY week_ending DESC LIMIT 1) l) AS latest,
		   (SELECT row_to_json(l) FROM (SELECT correlation, annualised_volatility, mean_volume::float8
				 FROM vv WHERE vv.symbol = s.symbol AND correlation IS NOT NULL ORDER BY week_ending DESC LIMIT 1) l) AS latest_vv
	  FROM gold.dim_stock s
)
SELECT json_build_object(
	'symbols', (SELECT json_object_agg(symbol, row_to_json(p)) FROM per_symbol p),
	'growers', (SELECT coalesce(json_agg(json_build_object('symbol', symbol, 'streak', growth_streak,
		'through', through_year)), '[]') FROM gold.dividend_growers(3)),
	'usage', (SELECT row_to_json(u) FROM (SELECT used, daily_limit, remaining FROM stockelt_usage()) u),
	'refreshes', (SELECT count(*) FROM (SELECT 1 FROM stockelt.gold_refreshes ORDER BY id DESC LIMIT 20) r),
	'jobs', (SELECT count(*) FROM stockelt.jobs),
	'failed_sqlstate', (SELECT last_sqlstate FROM stockelt.jobs WHERE symbol = 'BADCALL'))
SQL
if python3 -c 'import json, sys; e = json.load(open(sys.argv[1])); assert e["failed_sqlstate"], e' "$work/expected.json"; then
	ok "gold has the stocks, and the failed job its SQLSTATE"
else
	fail "gold has the stocks, and the failed job its SQLSTATE"
fi

# The build refuses a role that can write (here the superuser) before building anything.
if PGHOST=$work/socket PGUSER=postgres bash "$top/dashboard/build.sh" >"$work/build-superuser.out" 2>&1; then
	fail "build.sh refuses to build as a superuser"
elif grep -q 'can write, not only read' "$work/build-superuser.out"; then
	ok "build.sh refuses to build as a superuser"
else
	cat "$work/build-superuser.out"
	fail "build.sh refuses to build as a superuser (for the reason that it can write)"
fi

# A role the server asks a password of, with none given: build.sh says so and names PGPASSWORD.
psql_as postgres -c "CREATE ROLE dashboard_locked LOGIN PASSWORD 'not-given'"
sed -i '1i local all dashboard_locked scram-sha-256' "$work/data/pg_hba.conf"
psql_as postgres -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
mkdir "$work/empty-home"
if env -u PGPASSWORD HOME=$work/empty-home PGHOST=$work/socket PGUSER=dashboard_locked \
	bash "$top/dashboard/build.sh" >"$work/build-password.out" 2>&1; then
	fail "build.sh without the password the server asks for fails"
elif grep -q 'the server asks for a password for role "dashboard_locked"' "$work/build-password.out" &&
	grep -q 'set PGPASSWORD' "$work/build-password.out"; then
	ok "build.sh without the password the server asks for says so and names PGPASSWORD"
else
	cat "$work/build-password.out"
	fail "build.sh without the password the server asks for says so and names PGPASSWORD"
fi

started=$(date +%s)
if PGHOST=$work/socket PGUSER=stockelt_dashboard bash "$top/dashboard/build.sh" --out "$work/site" >"$work/build.out" 2>&1; then
	ok "build.sh builds the dashboard as the README's read-only role ($(($(date +%s) - started)) s)"
else
	tail -40 "$work/build.out"
	fail "build.sh builds the dashboard as the README's read-only role"
	exit 1
fi

# The static site on 127.0.0.1, on a free port.
python3 -u -m http.server --bind 127.0.0.1 --directory "$work/site" 0 >"$work/http.log" 2>&1 &
http_pid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$work/http.log" | head -1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { fail "the site is served"; exit 1; }

mkdir -p "$work/screenshots"
status=0
NODE_PATH=$top/dashboard/node_modules node "$top/test/dashboard_browser.cjs" \
	"http://127.0.0.1:$port" "$work/expected.json" "$work/screenshots" || status=$?
[ "$status" -eq 0 ] || failed=1
exit "$failed"
