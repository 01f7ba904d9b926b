# Shell functions shared by the benchmarks: the server they measure on, psql, and the
# build that ran.  Sourced after test/lib.sh; $work is the benchmark's work directory.

# The server every benchmark measures on; durability stays at the defaults (fsync,
# synchronous_commit, full_page_writes all on).
bench_server_settings() {
	cat <<'CONF'
# What a run reads fits in shared buffers, so every timed step reads from memory.
shared_buffers = 2GB
maintenance_work_mem = 1GB
# Each timed step starts right after a CHECKPOINT; these keep another one out of it.
max_wal_size = 8GB
checkpoint_timeout = 30min
# replica, the default and what a server with a standby or a WAL archive runs. minimal would
# let a load into a table truncated in the same transaction skip WAL, which no upsert gets.
wal_level = replica
# On two cores an autovacuum woken by a load would land inside the next timed step; the
# scripts vacuum themselves between steps instead.
autovacuum = off
CONF
}

psql_bench() {
	as_run_user "$pg_bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$work/socket" -U postgres \
		-d postgres "$@"
}

# What is installed, not the working tree, is measured: this names the build that ran, by
# checksums (every test run installs again, mostly the same files).
installed_build() {
	local lib script share
	lib=$("$PG_CONFIG" --pkglibdir)/stockelt.so
	script=stockelt--$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$top/stockelt.control").sql
	share=$("$PG_CONFIG" --sharedir)/extension/$script
	echo "stockelt.so sha256 $(sha256sum "$lib" | cut -c1-12)," \
		"$script sha256 $(sha256sum "$share" | cut -c1-12)"
}

# Writes $apikey to a file only the server reads and prints the setting that names it.
bench_api_key_file() {
	write_secret_file "$work/api_key" "$apikey"
	echo "stockelt.api_key_file = '$work/api_key'"
}

# For a stand-in without limits: the limiter's off too (the real API's limits would make
# loading a corpus take days).
bench_settings_unlimited() {
	bench_api_key_file
	cat <<CONF
stockelt.requests_per_second = 0
stockelt.requests_per_day = 0
CONF
	bench_server_settings
}

# Stops the payload generators still running in the background (pids in gen_pids).
stop_generators() {
	local pid
	for pid in "${gen_pids[@]}"; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}

# The symbols of a corpus directory, one per line, sorted.
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
