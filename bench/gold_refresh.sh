#!/usr/bin/env bash
# Gold refresh benchmark: stockelt_refresh_gold()'s incremental refresh after one new week for
# every stock, and after one stock's whole history is restated, against the full rebuild.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../test/lib.sh
source "$(dirname "$0")/../test/lib.sh"
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

# 1,000 stocks x 1,043 weeks (20 years) = 1,043,000 fact rows.
stocks=${BENCH_STOCKS:-1000}
weeks=${BENCH_WEEKS:-1043}
runs=${BENCH_RUNS:-3}
# B ends on a Friday, so that neither corpus ends in a partial week; A is B one week earlier.
# The generator pays dividends only in weeks ending on the 8th to the 14th of a month, so the
# default new week has none; BENCH_END=2024-05-10 makes one where about a quarter of the
# stocks pay one and restate their whole history.
end_b=${BENCH_END:-2024-04-19}
end_a=$(date -d "$end_b - 7 days" +%F)
work=$(mktemp -d /tmp/stockelt-bench-gold.XXXXXX)
gen_pids=()
# Per corpus (a, b, c) its stand-in's URL and what its ingest did; per timed step its fastest run,
# every run's seconds (STEP_all) and what the refresh should report (STEP_expected).
declare -A url=() ingested=() result=()

cleanup() {
	local status=$?
	set +e
	[ "$status" -eq 0 ] || echo "bench/gold_refresh.sh stopped with exit status $status" >&2
	stop_generators
	stop_cluster "$work"
	stop_standin "$work/api-a"
	stop_standin "$work/api-b"
	stop_standin "$work/api-c"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The generator simulates every series from a fixed epoch, so B is A plus one week, with adjusted
# closes restated where that week has a dividend or split, as a later fetch from the API would be.
# A and B at once: the generator is single-threaded and the machine has two cores.  Both run in
# the background because bash runs a signal's trap only once a foreground child has exited.
generate_corpora() {
	local gen=("$python" "$top/test/genpayload.py" --count "$stocks") pid
	"${gen[@]}" --out-dir "$work/a" --weeks "$weeks" --end "$end_a" &
	gen_pids+=($!)
	"${gen[@]}" --out-dir "$work/b" --weeks "$((weeks + 1))" --end "$end_b" &
	gen_pids+=($!)
	for pid in "${gen_pids[@]}"; do
		wait "$pid"
	done
	gen_pids=()
	first_symbol=$(symbols_in "$work/a" | sed -n 1p)
	# C: the first stock one week later with every adjusted close restated.
	"$python" "$top/test/genpayload.py" "$first_symbol" --out-dir "$work/c" \
		--weeks "$((weeks + 1))" --end "$end_b" --restate-factor 0.97
	check_corpus "$work/a" "$stocks"
	check_corpus "$work/b" "$stocks"
	check_corpus "$work/c" 1
}

symbols_in() {
	find "$1" -maxdepth 1 -name '*.json' -printf '%f\n' | sed 's/\.json$//' | sort
}

# The stand-in makes up a payload for a symbol it has no file for, so a short corpus would
# quietly be filled in with other data.
check_corpus() {
	local n
	n=$(symbols_in "$1" | wc -l)
	[ "$n" -eq "$2" ] || { echo "$1 holds $n payloads, not $2" >&2; return 1; }
}

# One stand-in per corpus, so nothing restarts between fetches; SET picks which one answers.
start_standins() {
	local corpus
	for corpus in a b c; do
		mkdir "$work/api-$corpus"
		start_standin "$work/api-$corpus" "$apikey" --payload-dir "$work/$corpus"
		url[$corpus]=$STANDIN/query
	done
}




prepare_database() {
	psql_bench -c "CREATE EXTENSION stockelt" -c "CREATE EXTENSION pg_prewarm"
	if [ "$(psql_bench -c "SELECT to_regprocedure('stockelt_refresh_gold(boolean)') IS NOT NULL")" != t ]; then
		echo "the installed stockelt has no stockelt_refresh_gold(boolean); run make install" >&2
		return 1
	fi
}

# load_corpus C: fetches every symbol of corpus C through its stand-in into bronze, then ingests
# just those objects into silver in one batch; prints inserted/updated/unchanged.
load_corpus() {
	local names cutoff
	names=$(symbols_in "$work/$1" | tr '\n' ' ')
	cutoff=$(psql_bench -c "SELECT coalesce(max(fetched_at), '-infinity') FROM stockelt.bronze_objects")
	psql_bench -v url="${url[$1]}" -v names="$names" <<'SQL' >/dev/null
SET stockelt.api_base_url = :'url';
SELECT count(stockelt_fetch(s)) FROM unnest(string_to_array(trim(:'names'), ' ')) s;
SQL
	psql_bench -v cutoff="$cutoff" <<'SQL'
SELECT sum(i.inserted) || '/' || sum(i.updated) || '/' || sum(i.unchanged)
  FROM stockelt_ingest(ARRAY(SELECT o.key FROM stockelt.bronze_objects o
							  WHERE o.fetched_at > :'cutoff' ORDER BY o.fetched_at)) i;
SQL
}

vacuum_all() {
	psql_bench -c "VACUUM ANALYZE"
}

# A rolled-back run leaves the rows it wrote behind as dead tuples; without this each run would
# scan more of them than the one before.
vacuum_gold() {
	psql_bench -c "VACUUM gold.fact_weekly_prices, gold.corporate_actions, gold.dim_stock,
		gold.dim_date, stockelt.gold_pending"
}

# expect_facts N: gold holds N fact rows, one per stock and week.
expect_facts() {
	local n
	n=$(psql_bench -c "SELECT count(*) FROM gold.fact_weekly_prices")
	[ "$n" -eq "$1" ] || { echo "gold.fact_weekly_prices holds $n rows, not $1" >&2; return 1; }
}

# expected_refresh FULL: "stocks weeks rebuilt" a refresh should report, from what is pending:
# every pending stock, its silver weeks from its oldest changed week on, and how many of them
# start at their first week.
expected_refresh() {
	local pending="stockelt.gold_pending"
	[ "$1" = true ] && pending="(SELECT DISTINCT symbol, '-infinity'::date AS from_week
		FROM silver.weekly_adjusted_prices)"
	psql_bench -F ' ' <<SQL
SELECT count(*),
	   (SELECT count(*) FROM silver.weekly_adjusted_prices s JOIN $pending q
		   ON s.symbol = q.symbol AND s.week_ending >= q.from_week),
	   count(*) FILTER (WHERE g.first_week IS NULL OR p.from_week <= g.first_week)
  FROM $pending p LEFT JOIN gold.dim_stock g USING (symbol);
SQL
}

# measure_refresh FULL: one stockelt_refresh_gold(FULL) on hot caches right after a CHECKPOINT,
# rolled back so that every run starts from the same state; prints
# "seconds stocks weeks_written rebuilt_history".  The time excludes the commit.
measure_refresh() {
	vacuum_gold >/dev/null
	psql_bench -v full="$1" <<'SQL'
SELECT sum(pg_prewarm(c.oid)) AS warmed
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'i', 't')
   AND (n.nspname IN ('silver', 'gold') OR c.oid = 'stockelt.gold_pending'::regclass
		OR c.oid IN (SELECT reltoastrelid FROM pg_class k JOIN pg_namespace m ON m.oid = k.relnamespace
					  WHERE m.nspname IN ('silver', 'gold'))
		OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'stockelt.gold_pending'::regclass))
\gset
CHECKPOINT;
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SELECT stocks, weeks_written, rebuilt_history FROM stockelt_refresh_gold(:full) \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), 3) AS secs \gset
ROLLBACK;
\echo :secs :stocks :weeks_written :rebuilt_history
SQL
}

# fastest: of the "seconds …" lines on stdin, the one with the fewest seconds.  On a shared
# machine a run can only be slowed down by others, so the fastest is the least disturbed.
fastest() {
	sort -k1,1 -g | sed -n 1p
}

# time_step STEP FULL: runs the refresh BENCH_RUNS times and records the runs in result[].
time_step() {
	local step=$1 full=$2 all="" run line
	result[${step}_expected]=$(expected_refresh "$full")
	for run in $(seq "$runs"); do
		line=$(measure_refresh "$full")
		# Others' work on the same cores slows a run down; the load average shows when.
		echo "  run $run of $runs: $line (seconds stocks weeks_written rebuilt_history)," \
			"load average $(cut -d ' ' -f 1 /proc/loadavg)"
		all+=$line$'\n'
	done
	result[$step]=$(printf '%s' "$all" | fastest)
	result[${step}_all]=$(printf '%s' "$all" | awk '{ printf "%s ", $1 }')
}

# Untimed: the incremental refresh just committed must leave gold as a full rebuild would.
# Prints how many fact rows differ and, for rows of the same stock and week, in which columns.
compare_with_rebuild() {
	psql_bench <<'SQL'
CREATE TEMP TABLE incremental AS SELECT * FROM gold.fact_weekly_prices;
BEGIN;
SELECT stocks AS rebuilt FROM stockelt_refresh_gold(true) \gset
CREATE TEMP TABLE differing AS TABLE incremental EXCEPT ALL TABLE gold.fact_weekly_prices;
SELECT count(*) || ' rows differ' || coalesce(' in ' || (
		SELECT string_agg(c.key || ' (' || c.n || ' rows)', ', ' ORDER BY c.key)
		  FROM (SELECT e.key, count(*) AS n
				  FROM differing i JOIN gold.fact_weekly_prices r USING (stock_key, date_key),
					   jsonb_each(to_jsonb(i)) e
				 WHERE e.value IS DISTINCT FROM to_jsonb(r) -> e.key
				 GROUP BY e.key) c), '')
  FROM differing;
ROLLBACK;
SQL
}

percent() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f %%", 100 * a / b; else printf "n/a" }'
}

seconds() {
	echo "${result[$1]%% *}"
}

# table_row LABEL STEP GOAL: the step's fastest run, against the full rebuild's.
table_row() {
	local secs st wk rb e_st e_wk e_rb returned
	read -r secs st wk rb <<<"${result[$2]}"
	read -r e_st e_wk e_rb <<<"${result[$2_expected]}"
	returned="$st / $wk / $rb"
	[ "$st $wk $rb" = "$e_st $e_wk $e_rb" ] || returned+=" (expected $e_st / $e_wk / $e_rb)"
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$secs" "$(percent "$secs" "$(seconds full)")" \
		"$3" "$returned"
}

print_report() {
	local version jit goal ratio
	version=$(psql_bench -c "SHOW server_version")
	jit=$(psql_bench -c "SHOW jit")
	ratio=$(awk -v a="$(seconds one_week)" -v b="$(seconds full)" \
		'BEGIN { print (a <= 0.1 * b) ? "met" : "not met" }')
	goal="≤ 10 %: $ratio"
	echo
	echo "command: BENCH_STOCKS=$stocks BENCH_WEEKS=$weeks BENCH_RUNS=$runs BENCH_END=$end_b" \
		"bash bench/gold_refresh.sh"
	echo "stockelt as installed at the start: $build"
	[ "$(installed_build)" = "$build" ] ||
		echo "WARNING: another build of stockelt was installed while the benchmark ran; the cluster kept the one above"
	echo "PostgreSQL $version, $(nproc) cores; shared_buffers 2GB, max_wal_size 8GB," \
		"checkpoint_timeout 30min, wal_level replica, autovacuum off, jit $jit (the default)," \
		"durability defaults"
	echo "corpus: $stocks stocks x $weeks weeks to $end_a = $fact_rows_a fact rows in gold;" \
		"then one more week to $end_b ($fact_rows_b fact rows)"
	echo
	echo "| step | seconds (fastest of $runs) | vs full rebuild | goal | stocks / weeks written / rebuilt history |"
	echo "|---|---:|---:|---|---|"
	table_row "full rebuild, stockelt_refresh_gold(true) (baseline)" full ""
	table_row "incremental after one new week for every stock" one_week "$goal"
	table_row "incremental after one stock's history restated" restated ""
	echo
	echo "Each run: BEGIN; stockelt_refresh_gold(…); ROLLBACK on hot caches (pg_prewarm of silver and"
	echo "gold) right after a CHECKPOINT and a VACUUM of gold; the time excludes the commit."
	echo "'rebuilt history': stocks recomputed from their first week, as the function returns it;"
	echo "'expected' (shown where it differs) is counted from stockelt.gold_pending before the run."
	echo "silver ingests (inserted/updated/unchanged): A ${ingested[a]}, B ${ingested[b]}," \
		"restated stock ${ingested[c]}"
	echo "gold after the committed one-week refresh against a full rebuild's: $differences"
	echo "All runs, in seconds, in the order they ran:"
	printf '  %-24s %s\n' "full rebuild" "${result[full_all]}" "one new week" "${result[one_week_all]}" \
		"one stock restated" "${result[restated_all]}"
}

check_end() {
	[ "$(date -d "$end_b" +%u)" = 5 ] || { echo "BENCH_END=$end_b is not a Friday" >&2; return 1; }
}

main() {
	check_end
	# Builds only when asked: the benchmark measures what is installed, and building here would
	# compile whatever the working tree holds at the moment.
	[ "${BENCH_BUILD:-0}" = 0 ] || build_and_install
	ensure_run_user
	apikey=bench$(random_token)
	echo "Generating $stocks stocks x $weeks weeks (A), the same one week later (B), one restated stock (C)…"
	generate_corpora
	start_standins
	build=$(installed_build)
	start_cluster "$work" "$(bench_settings_unlimited)"
	prepare_database

	echo "Loading A into silver and gold (not timed)…"
	ingested[a]=$(load_corpus a)
	psql_bench -c "SELECT * FROM stockelt_refresh_gold(true)" >/dev/null
	vacuum_all
	fact_rows_a=$((stocks * weeks))
	expect_facts "$fact_rows_a"

	echo "Loading B into silver (not timed)…"
	ingested[b]=$(load_corpus b)
	vacuum_all
	echo "Timing the incremental refresh after one new week for every stock…"
	time_step one_week false
	echo "Timing the full rebuild…"
	time_step full true

	echo "Committing one incremental refresh and comparing it with a full rebuild (not timed)…"
	psql_bench -c "SELECT * FROM stockelt_refresh_gold()" >/dev/null
	vacuum_all
	fact_rows_b=$((stocks * (weeks + 1)))
	expect_facts "$fact_rows_b"
	differences=$(compare_with_rebuild)

	echo "Loading C, $first_symbol restated, into silver (not timed)…"
	ingested[c]=$(load_corpus c)
	vacuum_all
	echo "Timing the incremental refresh after one stock's history restated…"
	time_step restated false

	print_report
}

main "$@"
