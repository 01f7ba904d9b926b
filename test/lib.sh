# Shell functions shared by the test runner and the demo: building, the
# unprivileged OS user PostgreSQL runs as, the stand-in API server.
# Sourced, not run.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
pg_bindir=$("$PG_CONFIG" --bindir)
fixtures_dir=${STOCKELT_FIXTURES:-$top/../shared/fixtures/alphavantage}
run_user=stockelt-test
python=/usr/bin/python3

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# PostgreSQL refuses to run as root: as root, clusters run as an unprivileged user.
ensure_run_user() {
	if [ "$(id -u)" -ne 0 ]; then
		run_user=$(id -un)
		return
	fi
	if ! id "$run_user" >/dev/null 2>&1; then
		useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$run_user"
	fi
}

as_run_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$run_user" -- "$@"
	else
		"$@"
	fi
}

build_and_install() {
	make -s -C "$top" PG_CONFIG="$PG_CONFIG" >/dev/null
	as_root make -s -C "$top" PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# start_standin DIR APIKEY [extra options…]: sets STANDIN to its base URL.
start_standin() {
	local dir=$1 apikey=$2
	shift 2
	local fixtures_opt=()
	[ -d "$fixtures_dir" ] && fixtures_opt=(--fixtures "$fixtures_dir")
	"$python" "$top/test/standin.py" --port 0 --port-file "$dir/standin.port" \
		--apikey "$apikey" --log "$dir/standin.log" "${fixtures_opt[@]}" "$@" &
	echo $! >"$dir/standin.pid"
	for _ in $(seq 100); do
		[ -s "$dir/standin.port" ] && break
		sleep 0.1
	done
	[ -s "$dir/standin.port" ] || { echo "stand-in server did not start" >&2; return 1; }
	STANDIN="http://127.0.0.1:$(cat "$dir/standin.port")"
	export STANDIN
}

stop_standin() {
	local dir=$1
	[ -f "$dir/standin.pid" ] || return 0
	kill "$(cat "$dir/standin.pid")" 2>/dev/null || true
	wait "$(cat "$dir/standin.pid")" 2>/dev/null || true
	rm -f "$dir/standin.pid"
}

# kill_tree PID: ends a process this script started and everything it started, by PID
# (never by name: another run may share the machine).
kill_tree() {
	local pid=$1 child
	for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
		kill_tree "$child"
	done
	kill "$pid" 2>/dev/null || true
}

# write_secret_file PATH SECRET: a file only the server's user can read, as stockelt
# requires of the API key and the S3 secret (never a setting: PostgreSQL logs changed values).
write_secret_file() {
	local path=$1 secret=$2
	(umask 077 && printf '%s\n' "$secret" >"$path")
	chown "$run_user" "$path" 2>/dev/null || true
}

random_token() {
	head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# start_cluster DIR [SETTINGS]: a throwaway cluster in DIR/data with stockelt preloaded, on a
# Unix socket in DIR/socket only, run by the unprivileged user; SETTINGS go in postgresql.conf.
start_cluster() {
	local dir=$1 settings=${2:-}
	chmod 755 "$dir"
	mkdir "$dir/data" "$dir/socket"
	chown "$run_user" "$dir/data" "$dir/socket" 2>/dev/null || true
	as_run_user "$pg_bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
	printf "listen_addresses = ''\nunix_socket_directories = '%s'\nshared_preload_libraries = 'stockelt'\n%s\n" \
		"$dir/socket" "$settings" >>"$dir/data/postgresql.conf"
	as_run_user "$pg_bindir/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w start >/dev/null
}

stop_cluster() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_run_user "$pg_bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}
