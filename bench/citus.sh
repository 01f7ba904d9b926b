#!/usr/bin/env bash
# Citus benchmark: one server against a Citus cluster (a coordinator and two workers on
# 127.0.0.1), fed the same generated payloads: the ingest into silver, a full gold refresh, an
# incremental refresh after one new week for every stock, a query of one symbol and a query of
# a whole answer view, side by side.  All four servers share this machine's cores, so on a small
# machine the table shows what Citus costs, not what it gains.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../test/lib.sh
source "$(dirname "$0")/../test/lib.sh"
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/citus.control" ]; then
	echo "skipped: Citus is not installed"
	exit 0
fi

stocks=${BENCH_STOCKS:-300}
weeks=${BENCH_WEEKS:-520}
runs=${BENCH_RUNS:-3}
# The per-symbol query is run this many times in a row by pgbench, which reports the mean.
queries=${BENCH_QUERIES:-200}
# B ends on a Friday, so that neither corpus ends in a partial week; A is B one week earlier.
end_b=${BENCH_END:-2024-04-19}
end_a=$(date -d "$end_b - 7 days" +%F)
work=$(mktemp -d /tmp/stockelt-bench-citus.XXXXXX)
gen_pids=()
nodes=(single coordinator worker1 worker2)
declare -A port=() url=() result=()

cleanup() {
	local status=$?
	set +e
	[ "$status" -eq 0 ] || echo "bench/citus.sh stopped with exit status $status" >&2
	stop_generators
	if [ "${BENCH_KEEP:-0}" != 0 ] && [ "$status" -eq 0 ]; then
		echo "kept: $work (ports: single ${port[single]}, coordinator ${port[coordinator]}," \
			"workers ${port[worker1]} ${port[worker2]}; stand-ins' pids in $work/api-*/standin.pid)"
		return
	fi
	local node
	for node in "${nodes[@]}"; do
		stop_cluster "$work/$node"
	done
	stop_standin "$work/api-a"
	stop_standin "$work/api-b"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1 (the kernel's choice, released at once for the server to take).
free_port() {
	"$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# psql_on NODE [ARGS]: psql to the database postgres of one of the four servers.
psql_on() {
	local node=$1
	shift
	as_run_user "$pg_bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work/$node/socket" -U postgres \
		-p "${port[$node]}" -d postgres "$@"
}

# Four servers of the same settings, smaller than one benchmark server's since they share the
# memory; the cluster's three preload Citus and listen on 127.0.0.1 (Citus connects over TCP).
start_servers() {
	local node preload
	chmod 755 "$work"
	for node in "${nodes[@]}"; do
		port[$node]=$(free_port)
		mkdir "$work/$node"
		preload=stockelt
		[ "$node" = single ] || preload=citus,stockelt
		start_cluster "$work/$node" "$(bench_settings_unlimited)
shared_buffers = 1GB
port = ${port[$node]}
listen_addresses = '127.0.0.1'
shared_preload_libraries = '$preload'
citus.node_conninfo = 'sslmode=disable'
stockelt.database = 'postgres'"
	done
	for node in coordinator worker1 worker2; do
		psql_on "$node" -c "CREATE EXTENSION citus"
	done
	psql_on coordinator -c "SELECT citus_set_coordinator_host('127.0.0.1', ${port[coordinator]})" \
		-c "SELECT citus_add_node('127.0.0.1', ${port[worker1]})" \
		-c "SELECT citus_add_node('127.0.0.1', ${port[worker2]})" >/dev/null
	psql_on single -c "CREATE EXTENSION stockelt"
	psql_on coordinator -c "CREATE EXTENSION stockelt" -c "SELECT stockelt_distribute()" >/dev/null
}

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
	check_corpus "$work/a" "$stocks"
	check_corpus "$work/b" "$stocks"
	first_symbol=$(symbols_in "$work/a" | sed -n 1p)
}

start_standins() {
	local corpus
	for corpus in a b; do
		mkdir "$work/api-$corpus"
		start_standin "$work/api-$corpus" "$apikey" --payload-dir "$work/$corpus"
		url[$corpus]=$STANDIN/query
	done
}

# fetch_corpus NODE C: every symbol of corpus C into NODE's bronze (not timed).
fetch_corpus() {
	local names
	names=$(symbols_in "$work/$2" | tr '\n' ' ')
	psql_on "$1" -v url="${url[$2]}" -v names="$names" <<'SQL' >/dev/null
SET stockelt.api_base_url = :'url';
SELECT count(stockelt_fetch(s)) FROM unnest(string_to_array(trim(:'names'), ' ')) s;
SQL
	psql_on "$1" -c "VACUUM ANALYZE stockelt.bronze_objects, stockelt.bronze_bodies" >/dev/null
}

# timed NODE SQL: runs SQL once on hot caches right after a CHECKPOINT and commits it; prints
# "seconds answer" (the time excludes the commit).
timed() {
	psql_on "$1" -v sql="$2" <<'SQL'
CHECKPOINT;
BEGIN;
SELECT clock_timestamp() AS t0 \gset
SELECT (:sql) AS answer \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), 3) AS secs \gset
COMMIT;
\echo :secs :answer
SQL
}

# on_both STEP SQL: the step on one server then on the cluster; keeps both lines.
on_both() {
	local node
	for node in single coordinator; do
		result[$1_$node]=$(timed "$node" "$2")
		echo "  $node: ${result[$1_$node]}, load average $(cut -d ' ' -f 1 /proc/loadavg)"
	done
}

# The new objects of corpus C, oldest first, for stockelt_ingest.
new_objects() {
	echo "SELECT sum(i.inserted) || '/' || sum(i.updated) || '/' || sum(i.unchanged)
	  FROM stockelt_ingest(ARRAY(SELECT o.key FROM stockelt.bronze_objects o
								  WHERE o.fetched_at > (SELECT coalesce(max(b.fetched_at), '-infinity')
														  FROM stockelt.silver_objects s
														  JOIN stockelt.bronze_objects b USING (key))
								  ORDER BY o.fetched_at)) i"
}

# query_mean NODE SQL N: pgbench runs SQL N times over one connection; prints the mean in ms.
query_mean() {
	printf '%s;\n' "$2" >"$work/query.sql"
	chmod 644 "$work/query.sql"
	as_run_user "$pg_bindir/pgbench" -n -h "$work/$1/socket" -p "${port[$1]}" -U postgres \
		-f "$work/query.sql" -t "$3" postgres 2>/dev/null |
		sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}

# time_query STEP SQL N: the fastest of BENCH_RUNS means on each, and both answers compared.
time_query() {
	local node all line
	for node in single coordinator; do
		all=""
		for _ in $(seq "$runs"); do
			line=$(query_mean "$node" "$2" "$3")
			all+=$line$'\n'
		done
		result[$1_$node]=$(printf '%s' "$all" | sort -g | sed -n 1p)
		result[$1_${node}_answer]=$(psql_on "$node" -c "$2" | md5sum | cut -c1-12)
		echo "  $node: $(printf '%s' "$all" | tr '\n' ' ')ms, load average $(cut -d ' ' -f 1 /proc/loadavg)"
	done
}

# Gold on both, whole rows (floats through jsonb: exact), as test/t/023_citus.pl compares them.
gold_digest() {
	psql_on "$1" <<'SQL'
SELECT md5(string_agg(d, ' ')) FROM (
	SELECT count(*) || md5(string_agg(to_jsonb(f)::text, E'\n' ORDER BY f.symbol, f.date_key)) AS d FROM gold.fact_weekly_prices f
	UNION ALL SELECT count(*) || md5(string_agg(to_jsonb(a)::text, E'\n' ORDER BY a.symbol, a.date_key, a.action)) FROM gold.corporate_actions a
	UNION ALL SELECT count(*) || md5(string_agg(to_jsonb(s)::text, E'\n' ORDER BY s.symbol)) FROM gold.dim_stock s) g;
SQL
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else printf "n/a" }'
}

row() {
	local single cluster
	single=${result[$2_single]%% *}
	cluster=${result[$2_coordinator]%% *}
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$single" "$cluster" "$(ratio "$cluster" "$single")" "$3"
}

same() {
	[ "${result[$1_single]#* }" = "${result[$1_coordinator]#* }" ] && echo "same" ||
		echo "DIFFERENT: ${result[$1_single]#* } against ${result[$1_coordinator]#* }"
}

same_answer() {
	[ "${result[$1_single_answer]}" = "${result[$1_coordinator_answer]}" ] && echo "same answer" ||
		echo "DIFFERENT answers"
}

print_report() {
	local gold_single gold_cluster gold
	gold_single=$(gold_digest single)
	gold_cluster=$(gold_digest coordinator)
	gold="DIFFERENT"
	[ "$gold_single" = "$gold_cluster" ] && gold="identical"
	echo
	echo "command: BENCH_STOCKS=$stocks BENCH_WEEKS=$weeks BENCH_RUNS=$runs BENCH_QUERIES=$queries" \
		"BENCH_END=$end_b bash bench/citus.sh"
	echo "stockelt as installed at the start: $build"
	echo "PostgreSQL $(psql_on single -c 'SHOW server_version'), Citus" \
		"$(psql_on coordinator -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'")," \
		"$(nproc) cores, load average at the end $(cut -d ' ' -f 1-3 /proc/loadavg)"
	echo "corpus: $stocks stocks x $weeks weeks to $end_a, then one more week to $end_b;" \
		"the cluster: a coordinator and two workers on this machine, $(psql_on coordinator -c \
		"SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'silver.weekly_adjusted_prices'::regclass") shards"
	echo
	echo "| step | one server | Citus cluster | cluster / one server | answers |"
	echo "|---|---:|---:|---:|---|"
	row "ingest of every stock's history (s)" ingest "$(same ingest) (inserted/updated/unchanged)"
	row "full gold refresh, stockelt_refresh_gold(true) (s)" full "$(same full) (stocks/weeks)"
	row "incremental refresh after one new week for every stock (s)" one_week "$(same one_week) (stocks/weeks)"
	row "query of one symbol, gold.weekly_performance (ms, mean of $queries)" one_symbol "$(same_answer one_symbol)"
	row "query of the whole view, gold.weekly_performance (ms, mean of 3)" whole_view "$(same_answer whole_view)"
	echo
	echo "gold on the cluster against one server (facts, corporate actions, dim_stock, whole rows): $gold"
	echo
	echo "The four servers (one server, the coordinator and two workers) share this machine's $(nproc)"
	echo "cores: on a small machine the cluster column shows Citus's overhead (its planning, its"
	echo "connections to the workers, the rows it moves between nodes), not a speed-up; a step one"
	echo "server runs in one backend can come out even, as the two workers use both cores. A"
	echo "speed-up needs workers on machines of their own. Each timed step is one committed run right"
	echo "after a CHECKPOINT; the queries are pgbench means over one connection, the fastest of $runs."
}

main() {
	ensure_run_user
	apikey=bench$(random_token)
	echo "Generating $stocks stocks x $weeks weeks (A) and the same one week later (B)…"
	generate_corpora
	start_standins
	build=$(installed_build)
	echo "Starting one server and a coordinator with two workers…"
	start_servers

	echo "Fetching A into both bronzes (not timed), then timing the ingest…"
	fetch_corpus single a
	fetch_corpus coordinator a
	on_both ingest "$(new_objects)"
	psql_on single -c "VACUUM ANALYZE" >/dev/null
	psql_on coordinator -c "VACUUM ANALYZE" >/dev/null
	echo "Timing the full gold refresh…"
	on_both full "SELECT stocks || '/' || weeks_written FROM stockelt_refresh_gold(true)"
	echo "Fetching and ingesting B (not timed), then timing the incremental refresh…"
	fetch_corpus single b
	fetch_corpus coordinator b
	timed single "$(new_objects)" >/dev/null
	timed coordinator "$(new_objects)" >/dev/null
	on_both one_week "SELECT stocks || '/' || weeks_written FROM stockelt_refresh_gold()"
	psql_on single -c "VACUUM ANALYZE" >/dev/null
	psql_on coordinator -c "VACUUM ANALYZE" >/dev/null

	echo "Timing a query of one symbol ($first_symbol) and a query of the whole view…"
	time_query one_symbol "SELECT count(*), max(return_52w), min(week_ending) FROM gold.weekly_performance
		WHERE symbol = '$first_symbol'" "$queries"
	# Exact aggregates only: a float8 sum depends on the order of its rows, which differs.
	time_query whole_view "SELECT count(*), sum(adjusted_close), max(return_52w), count(DISTINCT symbol)
		FROM gold.weekly_performance" 3

	print_report
}

main "$@"
