#!/usr/bin/env bash
# Runs every stockelt test: builds and installs the extension, starts a throwaway
# PostgreSQL 15 cluster, the stand-in API server and a throwaway Ceph RGW S3 server,
# runs the suites, tears everything down whatever happens, and ends with
# "N passed, N failed".
set -euo pipefail
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/stockelt-check.XXXXXX)
passed=0
failed=0
running=		# the suite running in the background, ended with its children on exit

cleanup() {
	set +e
	[ -n "$running" ] && kill_tree "$running"
	# Clusters detach from the suite that started them: stop each one by its data directory.
	for pidfile in $(find "$work" -name postmaster.pid 2>/dev/null); do
		as_run_user "$pg_bindir/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1
	done
	stop_standin "$work"
	as_run_user "$top/test/s3server.sh" stop "$work/s3" >/dev/null 2>&1
	if [ -n "${STOCKELT_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
	fi
}

# The secrets are in files only the server's user reads, never in a setting.
write_temp_config() {
	mkdir -m 700 "$work/secrets"
	chown "$run_user" "$work/secrets" 2>/dev/null || true
	write_secret_file "$work/secrets/api_key" "$apikey"
	write_secret_file "$work/secrets/s3_secret" "$S3_SECRET_KEY"
	cat >"$work/temp.conf" <<CONF
shared_preload_libraries = 'stockelt'
log_statement = 'all'
log_min_messages = 'info'
stockelt.api_base_url = '$STANDIN/query'
stockelt.api_key_file = '$work/secrets/api_key'
stockelt.connect_timeout = '2s'
stockelt.request_timeout = '5s'
# The limiter has its own tests (TAP); the suites call the stand-in freely.
stockelt.requests_per_second = 0
stockelt.requests_per_day = 0
stockelt_test.standin = '$STANDIN'
stockelt_test.s3_endpoint = '$S3_ENDPOINT'
stockelt_test.s3_region = '$S3_REGION'
stockelt_test.s3_bucket = '$S3_BUCKET'
stockelt_test.s3_access_key_id = '$S3_ACCESS_KEY'
stockelt_test.s3_secret_access_key_file = '$work/secrets/s3_secret'
CONF
}

# Runs pg_regress over the given tests and counts each test's verdict.
run_regress() {
	local out=$work/regress
	local status=0
	mkdir -p "$out"
	find "$work" -path "$work/secrets" -prune -o -exec chmod a+rwX {} +
	as_run_user env STANDIN="$STANDIN" STANDINCTL="$top/test/standinctl" \
		S3CMD="$top/test/s3server.sh s3cmd $work/s3" S3DIR="$work/s3" \
		S3SERVER="$top/test/s3server.sh" S3_BUCKET="$S3_BUCKET" \
		FIXTURES="$fixtures_dir" WORK="$work" APIKEY="$apikey" PGBIN="$pg_bindir" \
		AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" PYTHON="$python" \
		"$("$PG_CONFIG" --pgxs | xargs dirname)/../test/regress/pg_regress" \
		--bindir="$pg_bindir" --inputdir="$top" --outputdir="$out" \
		--temp-instance="$out/tmp_check" --temp-config="$work/temp.conf" \
		--dbname=stockelt_regress "$@" >"$out/pg_regress.out" 2>&1 &
	# Waiting on a background job lets an INT or TERM run the cleanup at once.
	running=$!
	wait "$running" || status=$?
	running=
	cat "$out/pg_regress.out"
	# PostgreSQL 15 prints "test name ... ok"; 16 and later print TAP ("ok 1 - name", "not ok 2 - name").
	passed=$((passed + $(grep -cE '^((test| ) .* \.\.\. ok|ok [0-9]+ )' "$out/pg_regress.out" || true)))
	failed=$((failed + $(grep -cE '^((test| ) .* \.\.\. FAILED|not ok [0-9]+ )' "$out/pg_regress.out" || true)))
	if [ "$status" -ne 0 ] && [ -f "$out/regression.diffs" ]; then
		head -c 20000 "$out/regression.diffs"
	fi
	if [ "$status" -ne 0 ] && ! grep -qE 'FAILED|^not ok [0-9]+ ' "$out/pg_regress.out"; then
		failed=$((failed + 1))
		echo "FAIL pg_regress did not run to the end"
	fi
}

# The stand-in server and payload generator check their own contracts first.
run_tooling_selftest() {
	local status=0
	"$top/test/standin_selftest.sh" "$fixtures_dir" >"$work/selftest.out" 2>&1 || status=$?
	sed 's/^/selftest: /' "$work/selftest.out"
	passed=$((passed + $(grep -c '^ok   - ' "$work/selftest.out" || true)))
	failed=$((failed + $(grep -c '^FAIL - ' "$work/selftest.out" || true)))
	if [ "$status" -ne 0 ] && ! grep -q '^FAIL - ' "$work/selftest.out"; then
		failed=$((failed + 1))
		echo "FAIL stand-in self-test did not run to the end"
	fi
}

# TAP tests (PostgreSQL::Test::Cluster) for what needs its own cluster.
run_tap() {
	local pgxs_dir status=0 files=() patterns pattern
	pgxs_dir=$(dirname "$("$PG_CONFIG" --pgxs)")/..
	read -ra patterns <<<"${STOCKELT_TAP:-*.pl}"
	for pattern in "${patterns[@]}"; do
		files+=("$top"/test/t/$pattern)
	done
	mkdir -p "$work/tap"
	chmod -R a+rwX "$work/tap"
	# TESTDATADIR: where PostgreSQL 17 and later keep the nodes (relative to each test otherwise).
	(cd "$work/tap" && as_run_user env PATH="$pg_bindir:$PATH" TESTDIR="$work/tap" \
		TESTDATADIR="$work/tap/tmp_check" \
		PG_REGRESS="$pgxs_dir/test/regress/pg_regress" STANDIN="$STANDIN" APIKEY="$apikey" \
		prove -I "$pgxs_dir/test/perl" "${files[@]}" >"$work/tap/prove.out" 2>&1) &
	running=$!
	wait "$running" || status=$?
	running=
	cat "$work/tap/prove.out"
	passed=$((passed + $(grep -cE '^(t/|/).* \.+ ok$' "$work/tap/prove.out" || true)))
	if [ "$status" -ne 0 ]; then
		failed=$((failed + 1))
		find "$work/tap" -name '*.log' -path '*log*' -exec tail -n 30 {} + 2>/dev/null | head -200 || true
	fi
}

# The parser under libFuzzer with AddressSanitizer, for about a minute.
run_fuzz() {
	local status=0
	bash "$top/test/fuzz/run.sh" "${STOCKELT_FUZZ_SECONDS:-60}" >"$work/fuzz.out" 2>&1 &
	running=$!
	wait "$running" || status=$?
	running=
	cat "$work/fuzz.out"
	if [ "$status" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   parser fuzzing"
	else
		failed=$((failed + 1))
		echo "FAIL parser fuzzing"
	fi
}

key_absent_from_logs() {
	[ "${tests[*]}" = none ] && return 0
	! grep -rF "$apikey" "$work/regress/log" "$work/regress/results" >/dev/null 2>&1 &&
		[ -s "$work/regress/log/postmaster.log" ]
}

main() {
	bash "$top/test/install-deps.sh"
	build_and_install
	ensure_run_user

	run_tooling_selftest
	# STOCKELT_FUZZ_SECONDS=0: no fuzzing (test/versions.sh's chroots, which install no clang).
	if [ "${STOCKELT_FUZZ_SECONDS:-}" = 0 ]; then echo "skipped: parser fuzzing"; else run_fuzz; fi

	apikey=STKTEST$(random_token)
	start_standin "$work" "$apikey"
	chmod 777 "$work"
	as_run_user "$top/test/s3server.sh" start "$work/s3"
	# shellcheck disable=SC1091
	source "$work/s3/env"
	write_temp_config

	local tests=(setup fetch provider_errors transport security silver s3 dump_restore gold worker)
	if [ -d "$fixtures_dir" ]; then
		tests+=(real_fixtures real_silver)
	else
		echo "skipped: real Alpha Vantage fixtures ($fixtures_dir is missing)"
	fi
	# While developing, STOCKELT_SUITES and STOCKELT_TAP narrow the run (see the README).
	[ -n "${STOCKELT_SUITES:-}" ] && read -ra tests <<<"$STOCKELT_SUITES"
	[ "${tests[*]}" = none ] || run_regress "${tests[@]}"
	[ "${STOCKELT_TAP:-}" = none ] || run_tap
	check "API key absent from server log and results" key_absent_from_logs

	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main "$@"
