#!/usr/bin/env bash
# Runs the regression suites and the TAP tests with PGXS's `make installcheck` against an
# installed server, with what they need around it: the stand-in API server, a throwaway Ceph
# S3 gateway, the secrets in files, and the settings the suites expect, given to the server
# with ALTER SYSTEM and put back as they were at the end. Stops everything it started.
#
# Usage: [PGHOST=… PGPORT=… PGUSER=…] test/installcheck.sh [--work DIR] [--server-log FILE] [--os-user USER]
#   The server: reached as a superuser by the usual libpq variables, on this machine, with
#   `stockelt` in shared_preload_libraries and the extension installed (make install).
#   --work DIR         the run's work directory (made if missing, kept afterwards); default
#                      a new one in /tmp, removed afterwards unless STOCKELT_KEEP is set
#   --server-log FILE  the server's log, which the provider_errors suite searches for the
#                      key; default pg_current_logfile() when the logging collector runs
#   --os-user USER     run as root: the user the server runs as, who must read the secrets;
#                      default the owner of the server's Unix socket
# STOCKELT_SUITES and STOCKELT_TAP narrow the run as for test/check.sh (test/README.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

work=
keep_work=${STOCKELT_KEEP:-}
own_work=1		# the work directory is this script's to keep or remove (not --work's)
server_log=
os_user=
while [ $# -gt 0 ]; do
	case "$1" in
		--work) work=$2; own_work=; shift 2 ;;
		--server-log) server_log=$2; shift 2 ;;
		--os-user) os_user=$2; shift 2 ;;
		*) echo "usage: $0 [--work DIR] [--server-log FILE] [--os-user USER]" >&2; exit 2 ;;
	esac
done

die() {
	echo "installcheck: $*" >&2
	exit 1
}

# The settings the suites expect. The limiter has its own tests (TAP): the suites call the
# stand-in freely. (The S3 gateway's coordinates reach use_s3() through the setup suite.)
suite_settings() {
	cat <<SETTINGS
log_statement	all
log_min_messages	info
stockelt.api_base_url	$STANDIN/query
stockelt.api_key_file	$work/secrets/api_key
stockelt.connect_timeout	2s
stockelt.request_timeout	5s
stockelt.requests_per_second	0
stockelt.requests_per_day	0
SETTINGS
}

# sql_literal TEXT: TEXT as an SQL string literal.
sql_literal() {
	printf "'%s'" "${1//\'/\'\'}"
}

server_psql() {
	as_run_user "$pg_bindir/psql" -X -At -v ON_ERROR_STOP=1 -d postgres "$@"
}

# The server's OS user runs everything that touches the secrets: the server reads them.
choose_run_user() {
	if [ "$(id -u)" -ne 0 ]; then
		run_user=$(id -un)
	elif [ -n "$os_user" ]; then
		run_user=$os_user
	else
		local socket=${PGHOST:-/var/run/postgresql}/.s.PGSQL.${PGPORT:-5432}
		[ -S "$socket" ] || die "no Unix socket at $socket: name the server's OS user with --os-user"
		run_user=$(stat -c %U "$socket")
	fi
}

check_server() {
	[ "$(server_psql -c 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" = t ] ||
		die "the suites need a superuser connection (PGUSER)"
	server_psql -c 'SHOW shared_preload_libraries' | grep -qw stockelt ||
		die "stockelt is not in shared_preload_libraries: add it (ALTER SYSTEM SET shared_preload_libraries = 'stockelt') and restart"
	[ "$(server_psql -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'stockelt'")" = 1 ] ||
		die "the server does not have the extension installed: run make install with its pg_config"
	if [ -z "$server_log" ]; then
		server_log=$(server_psql -c "SELECT CASE WHEN f LIKE '/%' THEN f ELSE current_setting('data_directory') || '/' || f END
			FROM coalesce(pg_current_logfile(), '') f WHERE f <> ''")
		[ -n "$server_log" ] || die "the logging collector is off: name the server's log with --server-log"
	fi
	as_run_user test -r "$server_log" || die "$run_user cannot read the server's log $server_log"
	# The s3 suite also signs with credentials from the server's environment (the
	# postmaster's: a backend's own /proc entry is overwritten by its process title).
	local access_key secret_key
	read -r access_key secret_key < <("$top/test/s3server.sh" credentials)
	[ "$(server_psql -c "SELECT encode(pg_read_binary_file('/proc/' ||
		split_part(pg_read_file('postmaster.pid'), E'\\n', 1) || '/environ'), 'escape')" |
		sed 's/\\000/\n/g' | grep -cxF -e "AWS_ACCESS_KEY_ID=$access_key" -e "AWS_SECRET_ACCESS_KEY=$secret_key")" = 2 ] ||
		die "the s3 suite needs the test gateway's credentials in the server's environment:" \
			"start it with AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key" \
			"(test/s3server.sh credentials; on Debian, in /etc/postgresql/15/main/environment)"
}

# The run's directory, as the suites find it through STOCKELT_TEST_WORK (test/README.md).
start_services() {
	mkdir -p "$work"
	chmod 755 "$work"
	chown "$run_user" "$work" 2>/dev/null || true
	apikey=STKTEST$(random_token)
	start_standin "$work" "$apikey"
	as_run_user "$top/test/s3server.sh" start "$work/s3"
	# shellcheck disable=SC1091
	source "$work/s3/env"
	mkdir -m 700 "$work/secrets"
	chown "$run_user" "$work/secrets" 2>/dev/null || true
	write_secret_file "$work/secrets/api_key" "$apikey"
	write_secret_file "$work/secrets/s3_secret" "$S3_SECRET_KEY"
	ln -sfn "$server_log" "$work/server.log"
	ln -sfn "$pg_bindir" "$work/pg_bindir"
	if [ -d "$fixtures_dir" ]; then ln -sfn "$(cd "$fixtures_dir" && pwd)" "$work/fixtures"; fi
}

# ALTER SYSTEM, remembering what postgresql.auto.conf held before.
apply_settings() {
	local name value names
	names=$(suite_settings | cut -f1 | sed "s/.*/'&'/" | paste -sd,)
	server_psql -F "$(printf '\t')" -c "SELECT name, setting FROM pg_file_settings
		WHERE sourcefile LIKE '%/postgresql.auto.conf' AND name IN ($names)" >"$work/settings.before"
	settings_applied=1
	while IFS=$'\t' read -r name value; do
		server_psql -c "ALTER SYSTEM SET $name = $(sql_literal "$value")" >/dev/null
	done < <(suite_settings)
	server_psql -c 'SELECT pg_reload_conf()' >/dev/null
	for _ in $(seq 50); do
		[ "$(server_psql -c "SHOW stockelt.api_base_url")" = "$STANDIN/query" ] && return 0
		sleep 0.1
	done
	die "the server did not take the settings"
}

restore_settings() {
	local name before
	while IFS=$'\t' read -r name _; do
		before=$(awk -F '\t' -v n="$name" '$1 == n {print $2}' "$work/settings.before")
		if grep -q "^$name	" "$work/settings.before"; then
			server_psql -c "ALTER SYSTEM SET $name = $(sql_literal "$before")" >/dev/null
		else
			server_psql -c "ALTER SYSTEM RESET $name" >/dev/null
		fi
	done < <(suite_settings)
	server_psql -c 'SELECT pg_reload_conf()' >/dev/null
}

cleanup() {
	set +e
	[ -n "${settings_applied:-}" ] && restore_settings
	# TAP clusters left by an interrupted test: stopped by their data directory.
	for pidfile in $(find "$work/installcheck" -name postmaster.pid 2>/dev/null); do
		as_run_user "$pg_bindir/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1
	done
	stop_standin "$work"
	[ -d "$work/s3" ] && as_run_user "$top/test/s3server.sh" stop "$work/s3" >/dev/null 2>&1
	if [ -z "$own_work" ]; then :; elif [ -n "$keep_work" ]; then echo "kept $work"; else rm -rf "$work"; fi
}

# make installcheck from a directory of its own (a VPATH invocation: the source tree stays
# untouched and may be read-only); the regression suites and the TAP tests in two runs, so
# that a failing suite does not keep the TAP tests from running.
run_make() {
	local suites=(setup fetch provider_errors transport security silver s3 dump_restore gold worker)
	local status=0 tap_files=() patterns pattern
	[ -d "$work/fixtures" ] && suites+=(real_fixtures real_silver)
	[ -n "${STOCKELT_SUITES:-}" ] && read -ra suites <<<"$STOCKELT_SUITES"
	# Globs in test/t/, expanded by make's shell there.
	read -ra patterns <<<"${STOCKELT_TAP:-*.pl}"
	for pattern in "${patterns[@]}"; do tap_files+=("test/t/$pattern"); done
	mkdir -p "$work/installcheck"
	chown "$run_user" "$work/installcheck" 2>/dev/null || true
	local make=(as_run_user env STOCKELT_TEST_WORK="$work" STANDIN="$STANDIN" APIKEY="$apikey"
		make -s --no-print-directory -C "$work/installcheck" -f "$top/Makefile" PG_CONFIG="$PG_CONFIG")
	if [ "${suites[*]}" != none ]; then
		"${make[@]}" installcheck TAP_TESTS= REGRESS="${suites[*]}" || status=1
	fi
	if [ "${STOCKELT_TAP:-}" != none ]; then
		"${make[@]}" installcheck REGRESS= PROVE_TESTS="${tap_files[*]}" || status=1
	fi
	return "$status"
}

main() {
	choose_run_user
	check_server
	[ -n "$work" ] || work=$(mktemp -d /tmp/stockelt-installcheck.XXXXXX)
	work=$(mkdir -p "$work" && cd "$work" && pwd)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	start_services
	apply_settings
	run_make
}

main "$@"
