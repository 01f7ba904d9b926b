#!/usr/bin/env bash
# Runs every stockelt test: builds (VPATH) and installs the extension, checks the test
# tooling, fuzzes the parser, starts a throwaway PostgreSQL 15 cluster and runs the
# regression suites and TAP tests against it through test/installcheck.sh (which starts the
# stand-in API server and a throwaway Ceph RGW S3 server), tears everything down whatever
# happens, and ends with "N passed, N failed". test/README.md describes it all.
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
	stop_standin "$work/dashboard"
	[ -d "$work/s3" ] && as_run_user "$top/test/s3server.sh" stop "$work/s3" >/dev/null 2>&1
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

# The build Debian's pg_buildext does: a clean copy of the source (the files git tracks or
# would track, never the source tree's own build products, which a VPATH build would pick up),
# built from another directory with make -f (VPATH), then installed.
build_and_install_vpath() {
	mkdir "$work/source" "$work/build"
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$top" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' file; do
				if [ -e "$file" ]; then cp --parents -P "$file" "$work/source"; fi
			done)
	else
		# A copy of the tree without git (test/versions.sh's chroots, built in place first): tar
		# knows no anchored or negated .gitignore patterns, so make clean drops the build products.
		tar -C "$top" --exclude-vcs --exclude-vcs-ignores -cf - . | tar -C "$work/source" -xf -
		make -s -C "$work/source" PG_CONFIG="$PG_CONFIG" clean >/dev/null
	fi
	make -s -C "$work/build" -f "$work/source/Makefile" PG_CONFIG="$PG_CONFIG" >/dev/null
	as_root make -s -C "$work/build" -f "$work/source/Makefile" PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# The suites and TAP tests through test/installcheck.sh (make installcheck) against a
# throwaway cluster; installcheck.sh starts the stand-in and the S3 gateway in $work.
run_installcheck() {
	local out=$work/installcheck.out status=0
	mkdir "$work/cluster"
	# The s3 suite also signs with credentials from the server's environment.
	(read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < <("$top/test/s3server.sh" credentials) &&
		export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY && start_cluster "$work/cluster")
	PGHOST=$work/cluster/socket PGUSER=postgres PG_CONFIG=$PG_CONFIG \
		bash "$top/test/installcheck.sh" --work "$work" \
		--server-log "$work/cluster/data/server.log" >"$out" 2>&1 &
	# Waiting on a background job lets an INT or TERM run the cleanup at once.
	running=$!
	wait "$running" || status=$?
	running=
	cat "$out"
	local suites_failed tap_failed
	# PostgreSQL 15 prints "test name ... ok"; 16 and later print TAP ("ok 1 - name", "not ok 2 - name").
	suites_failed=$(grep -cE '^((test| ) .* \.\.\. FAILED|not ok [0-9]+ )' "$out" || true)
	tap_failed=$(grep -cE '^test/t/[^ ]+\.pl +\(Wstat' "$out" || true)
	passed=$((passed + $(grep -cE '^((test| ) .* \.\.\. ok|ok [0-9]+ )' "$out" || true)))
	passed=$((passed + $(grep -cE '^test/t/[^ ]+\.pl \.+ ok$' "$out" || true)))
	failed=$((failed + suites_failed + tap_failed))
	if [ -f "$work/installcheck/regression.diffs" ] && [ "$suites_failed" -gt 0 ]; then
		head -c 20000 "$work/installcheck/regression.diffs"
	fi
	if [ "$tap_failed" -gt 0 ]; then
		# head may close the pipe early: that is no failure of the run.
		find "$work/installcheck/tmp_check" -name '*.log' -path '*log*' -exec tail -n 30 {} + 2>/dev/null | head -200 || true
	fi
	if [ "$status" -ne 0 ] && [ "$((suites_failed + tap_failed))" -eq 0 ]; then
		failed=$((failed + 1))
		echo "FAIL installcheck did not run to the end"
	fi
	check_tap_leftovers
	stop_cluster "$work/cluster"
}

# A TAP test stops what it started (its stand-in, its servers) before it ends: a process
# still running from the TAP tests' directory is a failure, and is ended here, by PID.
check_tap_leftovers() {
	local dir=$work/installcheck/tmp_check/ file pid cmd left=()
	[ "${STOCKELT_TAP:-}" = none ] && return 0
	for file in /proc/[0-9]*/cmdline; do
		pid=${file#/proc/}
		pid=${pid%/cmdline}
		cmd=$(tr '\0' ' ' <"$file" 2>/dev/null) || continue
		[[ $cmd == *"$dir"* ]] && left+=("$pid: ${cmd:0:160}")
	done
	if [ "${#left[@]}" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   no TAP test left a process running"
		return 0
	fi
	failed=$((failed + 1))
	echo "FAIL TAP tests left ${#left[@]} process(es) running:"
	printf '  %s\n' "${left[@]}"
	for pid in "${left[@]%%:*}"; do
		kill "$pid" 2>/dev/null || true
	done
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
	[ "${STOCKELT_SUITES:-}" = none ] && return 0
	! grep -rF "$(cat "$work/secrets/api_key")" "$work/cluster/data/server.log" "$work/installcheck/results" \
		>/dev/null 2>&1 && [ -s "$work/cluster/data/server.log" ]
}

# STOCKELT_INSTALLED=1: the suites run against the stockelt already installed (a package), and
# nothing is built or installed over it.
build_or_use_installed() {
	if [ -z "${STOCKELT_INSTALLED:-}" ]; then
		build_and_install_vpath
		return
	fi
	echo "skipped: build and install (STOCKELT_INSTALLED: testing the installed $("$PG_CONFIG" --pkglibdir)/stockelt.so)"
	[ -f "$("$PG_CONFIG" --pkglibdir)/stockelt.so" ] || { echo "stockelt is not installed" >&2; return 1; }
}

# The Debian package, built, installed and tested against by test/package.sh, which says why
# when it skips (not root, another PG_CONFIG); STOCKELT_PACKAGE=none leaves it out.
run_package() {
	local status=0
	if [ "${STOCKELT_PACKAGE:-}" = none ] || [ -n "${STOCKELT_INSTALLED:-}" ]; then
		return 0
	fi
	bash "$top/test/package.sh" "$work/package" >"$work/package.out" 2>&1 &
	running=$!
	wait "$running" || status=$?
	running=
	cat "$work/package.out"
	passed=$((passed + $(grep -c '^ok   - ' "$work/package.out" || true)))
	failed=$((failed + $(grep -c '^FAIL - ' "$work/package.out" || true)))
	if [ "$status" -ne 0 ] && ! grep -q '^FAIL - ' "$work/package.out"; then
		failed=$((failed + 1))
		echo "FAIL Debian package stage did not run to the end"
	fi
}

# The dashboard (dashboard/build.sh) built from a cluster of its own as the README's read-only
# role and checked in headless chromium (test/dashboard.sh); STOCKELT_DASHBOARD=none leaves
# it out. Screenshots stay in $work/dashboard/screenshots (STOCKELT_KEEP=1 keeps them).
run_dashboard() {
	local status=0 started
	if [ "${STOCKELT_DASHBOARD:-}" = none ]; then
		echo "skipped: dashboard (STOCKELT_DASHBOARD=none)"
		return 0
	fi
	started=$(date +%s)
	bash "$top/test/dashboard.sh" "$work/dashboard" >"$work/dashboard.out" 2>&1 &
	running=$!
	wait "$running" || status=$?
	running=
	sed 's/^/dashboard: /' "$work/dashboard.out"
	passed=$((passed + $(grep -c '^ok   - ' "$work/dashboard.out" || true)))
	failed=$((failed + $(grep -c '^FAIL - ' "$work/dashboard.out" || true)))
	if [ "$status" -ne 0 ] && ! grep -q '^FAIL - ' "$work/dashboard.out"; then
		failed=$((failed + 1))
		echo "FAIL dashboard stage did not run to the end"
	fi
	echo "dashboard: $(($(date +%s) - started)) s"
}

main() {
	bash "$top/test/install-deps.sh"
	# Before the build: the package stage installs and removes a package over the same files.
	run_package
	build_or_use_installed
	ensure_run_user

	if [ -n "${STOCKELT_INSTALLED:-}" ]; then
		echo "skipped: tooling self-test and parser fuzzing (STOCKELT_INSTALLED: they test the source tree)"
	else
		run_tooling_selftest
		check "release files and the demo's dependencies agree (test/release_check.sh)" \
			bash "$top/test/release_check.sh"
		# STOCKELT_FUZZ_SECONDS=0: no fuzzing (test/versions.sh's chroots, which install no clang).
		if [ "${STOCKELT_FUZZ_SECONDS:-}" = 0 ]; then echo "skipped: parser fuzzing"; else run_fuzz; fi
	fi

	chmod 755 "$work"
	# While developing, STOCKELT_SUITES and STOCKELT_TAP narrow the run (test/README.md).
	[ -d "$fixtures_dir" ] || echo "skipped: real Alpha Vantage fixtures ($fixtures_dir is missing)"
	if [ "${STOCKELT_SUITES:-}" = none ] && [ "${STOCKELT_TAP:-}" = none ]; then :; else run_installcheck; fi
	check "API key absent from server log and results" key_absent_from_logs
	run_dashboard

	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main "$@"
