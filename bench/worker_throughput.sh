#!/usr/bin/env bash
# Worker throughput benchmark: the background worker fetches, stores and ingests a batch of
# symbols through the shared limiter from a stand-in API with 50 ms latency and a limit of 600
# requests a minute, at 1, 4 and 8 concurrent requests; how close it gets to the limit, whether
# it is ever throttled, and how long the batch takes from the enqueue to gold refreshed.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../test/lib.sh
source "$(dirname "$0")/../test/lib.sh"
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

symbols=${BENCH_SYMBOLS:-300}
read -r -a concurrencies <<<"${BENCH_CONCURRENCY:-1 4 8}"
# 260 weeks (five years) is the stand-in's and the generator's default: about 77 kB a payload.
weeks=${BENCH_WEEKS:-260}
# A run that has not refreshed gold after this many seconds has failed.
timeout=${BENCH_TIMEOUT:-$((300 + symbols))}
# The provider's answer latency and its limit, which stockelt is told too.
latency_ms=50
rpm=600
goal_percent=95
warmup_symbols=10
work=$(mktemp -d /tmp/stockelt-bench-worker.XXXXXX)
gen_pids=()
# Per run (by its index): its concurrency and the measurements, as "name=value" words.
declare -A result=()

cleanup() {
	local status=$?
	set +e
	if [ "$status" -ne 0 ]; then
		echo "bench/worker_throughput.sh stopped with exit status $status" >&2
		[ -f "$work/data/server.log" ] && tail -n 20 "$work/data/server.log" >&2
	fi
	stop_generators
	stop_cluster "$work"
	stop_standin "$work/api"
	if [ "${BENCH_KEEP:-0}" = 0 ]; then
		rm -rf "$work"
	else
		echo "kept $work (server log, stand-in log)" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run R fetches WT<R>X001…: a symbol no earlier run has fetched, so every job really fetches,
# stores and inserts.  Run 0 is the warm-up.
prefix() {
	echo "WT${1}X"
}

# The payloads are written beforehand, so the stand-in answers in its 50 ms plus a file read
# instead of also simulating every series (~20 ms of Python on a shared core) while the
# worker is measured.  One generator per run, in the background (see bench/gold_refresh.sh).
generate_payloads() {
	local run count pid
	for run in $(seq 0 "${#concurrencies[@]}"); do
		count=$symbols
		[ "$run" -eq 0 ] && count=$warmup_symbols
		"$python" "$top/test/genpayload.py" --out-dir "$work/payloads" --weeks "$weeks" \
			--count "$count" --prefix "$(prefix "$run")" &
		gen_pids+=($!)
	done
	for pid in "${gen_pids[@]}"; do
		wait "$pid"
	done
	gen_pids=()
	count=$(find "$work/payloads" -name '*.json' | wc -l)
	[ "$count" -eq $((warmup_symbols + symbols * ${#concurrencies[@]})) ] ||
		{ echo "$work/payloads holds $count payloads" >&2; return 1; }
}

# symbols_of RUN: the run's symbols, space-separated.
symbols_of() {
	find "$work/payloads" -maxdepth 1 -name "$(prefix "$1")*.json" -printf '%f\n' |
		sed 's/\.json$//' | sort | tr '\n' ' '
}

bench_settings() {
	bench_api_key_file
	cat <<CONF
stockelt.api_base_url = '$STANDIN/query'
# The stand-in's limit, and no other: the limiter spaces calls 60 s / 600 x 1.01 = 101 ms apart.
stockelt.requests_per_minute = $rpm
stockelt.requests_per_second = 0
stockelt.requests_per_day = 0
CONF
	bench_server_settings
}



standin_counts() {
	curl -sf "$STANDIN/_control/counts" |
		"$python" -c 'import json, sys; c = json.load(sys.stdin); print(c["total"], c["throttled"])'
}

# The worker checks for the extension every 10 s; the wake-up makes it look at once.
prepare_database() {
	psql_bench -c "CREATE EXTENSION stockelt"
	if [ "$(psql_bench -c "SELECT to_regprocedure('stockelt_enqueue(text[])') IS NOT NULL")" != t ]; then
		echo "the installed stockelt has no stockelt_enqueue(text[]); run make install" >&2
		return 1
	fi
	psql_bench -c "SELECT stockelt._wake_worker()" >/dev/null
	for _ in $(seq 100); do
		grep -q 'stockelt worker started for database "postgres"' "$work/data/server.log" && return 0
		sleep 0.2
	done
	echo "the stockelt worker did not start for database postgres" >&2
	return 1
}

# set_concurrency N: the worker rereads its settings on SIGHUP at the top of its loop.
set_concurrency() {
	psql_bench -c "ALTER SYSTEM SET stockelt.max_concurrent_requests = $1" \
		-c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
	[ "$(psql_bench -c "SHOW stockelt.max_concurrent_requests")" = "$1" ]
}

# A throttle answer slows the limiter down for a minute; a run starts at the configured pace.
wait_for_base_spacing() {
	for _ in $(seq 75); do
		[ "$(psql_bench -c "SELECT spacing_ms <= 60000.0 / $rpm * 1.01 + 0.001 FROM stockelt_usage()")" = t ] &&
			return 0
		sleep 1
	done
	echo "the limiter's spacing did not come back to $(awk -v r="$rpm" 'BEGIN { print 60000 / r * 1.01 }') ms" >&2
	return 1
}

# enqueue RUN: all the run's symbols in one call; prints the batch number.
enqueue() {
	psql_bench -v names="$(symbols_of "$1")" <<'SQL'
SELECT count(*) AS queued FROM stockelt_enqueue(string_to_array(trim(:'names'), ' ')) \gset
SELECT currval('stockelt.job_batches');
SQL
}

# wait_for_batch BATCH: until every job of the batch has finished and a gold refresh started
# after the last of them has committed.
wait_for_batch() {
	local deadline=$((SECONDS + timeout)) state
	while [ "$SECONDS" -lt "$deadline" ]; do
		state=$(psql_bench -F ' ' -v batch="$1" <<'SQL'
SELECT count(*) FILTER (WHERE state NOT IN ('done', 'failed')),
	   EXISTS (SELECT FROM stockelt.gold_refreshes g
				WHERE g.started_at >= (SELECT max(finished_at) FROM stockelt.jobs WHERE batch = :batch))
  FROM stockelt.jobs WHERE batch = :batch;
SQL
		)
		[ "$state" = "0 t" ] && return 0
		sleep 0.5
	done
	echo "batch $1 did not finish within $timeout s (open jobs, refreshed: $state):" >&2
	psql_bench -c "SELECT state, count(*), max(last_sqlstate) FROM stockelt.jobs WHERE batch = $1 GROUP BY 1" >&2
	return 1
}

# measure_batch BATCH: "name=value" words from the batch's job rows and the gold refresh after it.
# A job's request left at sent = finished_at - ingest_ms - fetch_ms: fetch_ms runs from the
# transfer's start to its answer, ingest_ms from the answer to the job's UPDATE.  started_at is
# when the job was claimed, which can be some limiter slots before its request left.
measure_batch() {
	psql_bench -F ' ' -v batch="$1" <<'SQL'
CREATE TEMP TABLE j AS
SELECT state, attempts, enqueued_at, started_at, finished_at, fetch_ms, ingest_ms, last_sqlstate,
	   finished_at - make_interval(secs => (fetch_ms + ingest_ms) / 1000) AS sent_at,
	   finished_at - make_interval(secs => ingest_ms / 1000) AS received_at
  FROM stockelt.jobs WHERE batch = :batch;
CREATE TEMP TABLE g AS
SELECT started_at, finished_at FROM stockelt.gold_refreshes
 WHERE started_at >= (SELECT max(finished_at) FROM j) ORDER BY started_at LIMIT 1;
CREATE TEMP TABLE gaps AS
SELECT extract(epoch FROM sent_at - lag(sent_at) OVER (ORDER BY sent_at)) * 1000 AS ms
  FROM j WHERE sent_at IS NOT NULL;
-- max_overlap: the most intervals [from, to) open at once.
CREATE FUNCTION pg_temp.max_overlap(froms timestamptz[], tos timestamptz[]) RETURNS bigint
LANGUAGE sql AS $$
	SELECT max(open) FROM (SELECT sum(d) OVER (ORDER BY t, d) AS open
		FROM (SELECT unnest(froms) AS t, 1 AS d UNION ALL SELECT unnest(tos), -1) e) o
$$;
CREATE FUNCTION pg_temp.per_minute(n numeric, span interval) RETURNS numeric
LANGUAGE sql AS $$
	SELECT round((n - 1) * 60 / nullif(extract(epoch FROM span), 0), 1)
$$;
SELECT 'jobs_done=' || count(*) FILTER (WHERE state = 'done'),
	   'failed=' || count(*) FILTER (WHERE state = 'failed'),
	   'attempts=' || sum(attempts),
	   'se001=' || count(*) FILTER (WHERE last_sqlstate = 'SE001'),
	   'rate_claimed=' || coalesce(pg_temp.per_minute(sum(attempts), max(started_at) - min(started_at))::text, 'n/a'),
	   'rate_sent=' || coalesce(pg_temp.per_minute(count(sent_at), max(sent_at) - min(sent_at))::text, 'n/a'),
	   'wall_s=' || coalesce(round(extract(epoch FROM (SELECT finished_at FROM g) - min(enqueued_at)), 1)::text, 'n/a'),
	   'first_request_s=' || round(extract(epoch FROM min(sent_at) - min(enqueued_at)), 2),
	   'last_ingest_s=' || round(extract(epoch FROM max(finished_at) - min(enqueued_at)), 1),
	   'gold_s=' || coalesce((SELECT round(extract(epoch FROM finished_at - started_at), 2) FROM g)::text, 'n/a'),
	   'fetch_ms=' || coalesce(round(avg(fetch_ms)::numeric, 1)::text, 'n/a'),
	   'ingest_ms=' || coalesce(round(avg(ingest_ms)::numeric, 1)::text, 'n/a'),
	   'claimed_max=' || pg_temp.max_overlap(array_agg(started_at), array_agg(finished_at)),
	   'in_flight_max=' || coalesce(pg_temp.max_overlap(array_agg(sent_at) FILTER (WHERE sent_at IS NOT NULL),
								  array_agg(received_at) FILTER (WHERE sent_at IS NOT NULL)), 0),
	   (SELECT 'gap_min_ms=' || round(min(ms), 1) || ' gap_median_ms=' ||
			   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) ||
			   ' gap_p99_ms=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) ||
			   ' gap_max_ms=' || round(max(ms), 1) || ' gaps_over_110=' || count(*) FILTER (WHERE ms > 110) ||
			   ' gaps_over_110_extra_s=' || round(coalesce(sum(ms - 101) FILTER (WHERE ms > 110), 0) / 1000, 2)
		  FROM gaps WHERE ms IS NOT NULL)
  FROM j;
SQL
}

limiter_counts() {
	psql_bench -F ' ' -c "SELECT used, throttled FROM stockelt_usage()"
}

# get RUN NAME: one measurement of a run.
get() {
	local word
	for word in ${result[$1]}; do
		[ "${word%%=*}" = "$2" ] && { echo "${word#*=}"; return 0; }
	done
	echo n/a
}

# run_batch RUN CONCURRENCY: one measured batch; its results go to result[RUN].
run_batch() {
	local run=$1 concurrency=$2 batch standin_before limiter_before standin_after limiter_after
	set_concurrency "$concurrency"
	wait_for_base_spacing
	psql_bench -c "VACUUM ANALYZE" -c "CHECKPOINT"
	curl -sf -o /dev/null "$STANDIN/_control/reset"
	read -r -a standin_before < <(standin_counts)
	read -r -a limiter_before < <(limiter_counts)
	batch=$(enqueue "$run")
	wait_for_batch "$batch"
	read -r -a standin_after < <(standin_counts)
	read -r -a limiter_after < <(limiter_counts)
	result[$run]="concurrency=$concurrency $(measure_batch "$batch")"
	result[$run]+=" standin_requests=$((standin_after[0] - standin_before[0]))"
	result[$run]+=" standin_throttled=$((standin_after[1] - standin_before[1]))"
	result[$run]+=" limiter_requests=$((limiter_after[0] - limiter_before[0]))"
	result[$run]+=" limiter_throttled=$((limiter_after[1] - limiter_before[1]))"
	result[$run]+=" load=$(cut -d' ' -f1 /proc/loadavg)"
}

percent_of_limit() {
	[ "$1" = n/a ] && { echo n/a; return; }
	awk -v r="$1" -v l="$rpm" 'BEGIN { printf "%.1f %%", 100 * r / l }'
}

# goal_met RUN RATE_NAME: the run reached the goal by that measure of its rate.
goal_met() {
	local rate throttles
	rate=$(get "$1" "$2")
	throttles=$(($(get "$1" standin_throttled) + $(get "$1" limiter_throttled) + $(get "$1" se001)))
	[ "$rate" != n/a ] && [ "$(get "$1" failed)" -eq 0 ] && [ "$throttles" -eq 0 ] &&
		awk -v r="$rate" -v l="$rpm" -v g="$goal_percent" 'BEGIN { exit !(100 * r / l >= g) }'
}

# By the rate from claims, with a note where the rate at send disagrees.
goal_of() {
	local by_claims=met by_sends=met
	goal_met "$1" rate_claimed || by_claims="not met"
	goal_met "$1" rate_sent || by_sends="not met"
	if [ "$by_claims" = "$by_sends" ]; then
		echo "$by_claims"
	else
		echo "$by_claims ($by_sends by the rate at send)"
	fi
}

table_row() {
	local r=$1
	printf '| %s | %s / %s | %s / %s / %s | %s / %s / %s | %s (%s) | %s (%s) | %s | %s | %s | %s | %s | %s / %s | %s | %s |\n' \
		"$(get "$r" concurrency)" "$(get "$r" jobs_done)" "$(get "$r" failed)" \
		"$(get "$r" standin_requests)" "$(get "$r" attempts)" "$(get "$r" limiter_requests)" \
		"$(get "$r" standin_throttled)" "$(get "$r" limiter_throttled)" "$(get "$r" se001)" \
		"$(get "$r" rate_claimed)" "$(percent_of_limit "$(get "$r" rate_claimed)")" \
		"$(get "$r" rate_sent)" "$(percent_of_limit "$(get "$r" rate_sent)")" \
		"$(get "$r" wall_s)" "$(get "$r" last_ingest_s)" "$(get "$r" gold_s)" \
		"$(get "$r" fetch_ms)" "$(get "$r" ingest_ms)" \
		"$(get "$r" claimed_max)" "$(get "$r" in_flight_max)" "$(get "$r" load)" "$(goal_of "$r")"
}

print_report() {
	local version run
	version=$(psql_bench -c "SHOW server_version")
	echo
	echo "command: BENCH_SYMBOLS=$symbols BENCH_CONCURRENCY='${concurrencies[*]}' BENCH_WEEKS=$weeks" \
		"BENCH_TIMEOUT=$timeout bash bench/worker_throughput.sh"
	echo "stockelt installed $build"
	# An identical reinstall by someone else only changes the time.
	[ "$(installed_build)" = "$build" ] ||
		echo "WARNING: a different stockelt was installed while the benchmark ran; the cluster kept the build above"
	echo "PostgreSQL $version, $(nproc) cores shared with other jobs (load average before: $load_before," \
		"after: $(cut -d' ' -f1-3 /proc/loadavg)); shared_buffers 2GB, autovacuum off, durability defaults"
	echo "stand-in: --latency-ms $latency_ms --rpm $rpm (sliding 60 s window), $weeks weeks a symbol" \
		"from pre-generated files; stockelt: requests_per_minute $rpm (spacing $spacing ms)," \
		"requests_per_second 0, requests_per_day 0"
	echo "each run: $symbols new symbols in one stockelt_enqueue call; runs in the order shown"
	echo
	echo "| concurrent requests | jobs done / failed | requests: stand-in / job attempts / limiter | throttle answers: stand-in / limiter / jobs ending SE001 | rate from claims, /min (of $rpm) | rate at send, /min (of $rpm) | enqueue → gold refreshed, s | enqueue → last ingest, s | gold refresh, s | mean fetch ms | mean ingest ms | most claimed / in flight at once | load 1 min | goal: ≥ $goal_percent % of $rpm/min, no throttles |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for run in $(seq 1 "${#concurrencies[@]}"); do
		table_row "$run"
	done
	echo
	echo "rate from claims: (job attempts − 1) / (last − first stockelt.jobs.started_at), the goal's"
	echo "  measure; started_at is set when the worker claims a job, which can be some limiter"
	echo "  slots before its request leaves (how many: 'most claimed at once' minus one, at most)."
	echo "rate at send: (jobs − 1) / (last − first time a request left), that time being"
	echo "  finished_at − ingest_ms − fetch_ms of each done job; over a long batch the limiter allows"
	echo "  at most $(awk -v r="$rpm" 'BEGIN { printf "%.1f", 60000 / (60000 / r * 1.01) }')/min ($(awk 'BEGIN { printf "%.1f", 100 / 1.01 }') % of $rpm)."
	echo "enqueue → gold refreshed: from the enqueue's transaction to the end of the gold refresh"
	echo "  that followed the batch's last job (stockelt.gold_refreshes.finished_at)."
	echo "goal: rate from claims ≥ $goal_percent % of $rpm, no throttle answer counted anywhere, no failed job."
	echo "fetch ms: the transfer's start to its answer being taken up by the worker (includes the"
	echo "  stand-in's $latency_ms ms); ingest ms: bronze, silver and the job's row, in one transaction."
	echo "most claimed / in flight at once: from the job rows' [started_at, finished_at) and"
	echo "  [sent, answered) intervals; in flight cannot exceed max_concurrent_requests."
	echo
	echo "| concurrent requests | gap between consecutive requests leaving, ms: min / median / p99 / max | gaps > 110 ms | their time beyond 101 ms, s |"
	echo "|---:|---:|---:|---:|"
	for run in $(seq 1 "${#concurrencies[@]}"); do
		printf '| %s | %s / %s / %s / %s | %s | %s |\n' "$(get "$run" concurrency)" \
			"$(get "$run" gap_min_ms)" "$(get "$run" gap_median_ms)" "$(get "$run" gap_p99_ms)" \
			"$(get "$run" gap_max_ms)" "$(get "$run" gaps_over_110)" "$(get "$run" gaps_over_110_extra_s)"
	done
	echo "A gap under 101 ms: a request that left late, and the next one less than the limiter's"
	echo "  spacing after it (a provider counting calls a second would see a burst)."
	echo "first request left after the enqueue, s:$(for run in $(seq 1 "${#concurrencies[@]}"); do
		printf ' %s' "$(get "$run" first_request_s)"; done)"
}

main() {
	local run
	# Builds only when asked: the benchmark measures what is installed (see bench/gold_refresh.sh).
	[ "${BENCH_BUILD:-0}" = 0 ] || build_and_install
	ensure_run_user
	apikey=bench$(random_token)
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "Generating $symbols payloads of $weeks weeks for each of ${#concurrencies[@]} runs…"
	generate_payloads
	mkdir "$work/api"
	start_standin "$work/api" "$apikey" --payload-dir "$work/payloads" --weeks "$weeks" \
		--latency-ms "$latency_ms" --rpm "$rpm"
	build=$(installed_build)
	start_cluster "$work" "$(bench_settings)"
	prepare_database
	spacing=$(psql_bench -c "SELECT round(spacing_ms::numeric, 2) FROM stockelt_usage()")

	echo "Warm-up: $warmup_symbols symbols (not measured)…"
	run_batch 0 "${concurrencies[0]}"
	[ "$(get 0 jobs_done)" -eq "$warmup_symbols" ] ||
		{ echo "the warm-up batch did not finish: ${result[0]}" >&2; return 1; }
	for run in $(seq 1 "${#concurrencies[@]}"); do
		echo "Run $run of ${#concurrencies[@]}: $symbols symbols at ${concurrencies[run - 1]} concurrent requests…"
		run_batch "$run" "${concurrencies[run - 1]}"
		echo "  ${result[$run]}"
	done
	print_report
}

main "$@"
