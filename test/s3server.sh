#!/usr/bin/env bash
# Starts and stops a throwaway single-node Ceph cluster (1 mon, 1 memstore OSD, RADOS Gateway) serving S3 on 127.0.0.1, for tests.
# Usage: s3server.sh start DIR | stop DIR | stop-gateway DIR | start-gateway DIR | s3cmd DIR ARGS... | credentials (prints the access key and secret the gateway accepts).  Everything lives in DIR; after start, DIR/env holds the S3_* settings.
set -euo pipefail

readonly ACCESS_KEY=STOCKELTTESTACCESSKEY
readonly SECRET_KEY=gw7Qm2Zr9TfXk4Lp8VbN3sHd6YcJ1aEu5oWi0qRt
readonly BUCKET=stockelt-test
readonly REGION=us-east-1
readonly TIMEOUT=${S3SERVER_TIMEOUT:-60}
# Stopped in this order.
readonly DAEMONS=(client.rgw osd.0 mon.a)

STEP=setup

die() {
	echo "s3server: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start DIR | stop DIR | stop-gateway DIR | start-gateway DIR | s3cmd DIR ARGS... | credentials"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# Seconds since $1 (from now_ms), one decimal.
elapsed() {
	local ms=$(($(now_ms) - $1))
	echo "$((ms / 1000)).$((ms % 1000 / 100))"
}

# Waits until "$@" succeeds; dies once the start has taken more than TIMEOUT seconds.
wait_until() {
	until "$@"; do
		[ "$(($(now_ms) - T0))" -lt "$((TIMEOUT * 1000))" ] || die "not ready within $TIMEOUT s"
		sleep 0.2
	done
}

# The OSD's object classes (which the gateway's bucket index needs). Debian's Ceph 18 and 20
# default to a relative "lib/<triplet>/rados-classes", which resolves against the daemon's
# working directory: from anywhere but / the gateway fails with "Operation not supported".
osd_class_dir() {
	local default
	default=$(ceph-conf --show-config-value osd_class_dir 2>/dev/null) || default=
	case $default in
	/*) echo "$default" ;;
	?*) [ -d "/usr/$default" ] || die "no object classes in /usr/$default (osd_class_dir $default)"
		echo "/usr/$default" ;;
	*) die "ceph-conf knows no osd_class_dir" ;;
	esac
}

write_ceph_conf() {
	local dir=$1 mon_port=$2 rgw_port=$3 class_dir
	class_dir=$(osd_class_dir)
	cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = $dir/run
crash dir = $dir/crash
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon cluster log file = $dir/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
client mount timeout = $TIMEOUT

[mon]
# commit map changes (each pool radosgw creates) at once rather than after 1 s
paxos propose interval = 0.01
mon data = $dir/mon/\$cluster-\$id

[osd]
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
osd class dir = $class_dir
memstore device bytes = 1073741824

[client.rgw]
# radosgw's own default is a cephx-only "secure" mon connection, which auth none cannot give.
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw enable usage log = false
EOF
}

conf_get() {
	sed -n "s/^$2 = //p" "$1/ceph.conf" | head -n 1
}

ceph_cli() {
	local dir=$1
	shift
	timeout "$TIMEOUT" ceph -c "$dir/ceph.conf" "$@"
}

# Runs daemon NAME ($2) as the command "$3..." in the background, its pid in DIR/run/NAME.pid.
spawn() {
	local dir=$1 name=$2
	shift 2
	"$@" -c "$dir/ceph.conf" -f </dev/null >>"$dir/log/$name.out" 2>&1 &
	echo $! >"$dir/run/$name.pid"
}

start_mon() {
	local dir=$1 mon_port=$2
	mkdir -p "$dir/mon/ceph-a"
	monmaptool --create --fsid "$(conf_get "$dir" fsid)" --addv a "[v2:127.0.0.1:$mon_port]" \
		"$dir/monmap" >>"$dir/log/mkfs.out" 2>&1
	ceph-mon -c "$dir/ceph.conf" -i a --mkfs --monmap "$dir/monmap" >>"$dir/log/mkfs.out" 2>&1
	spawn "$dir" mon.a ceph-mon -i a
}

start_osd() {
	local dir=$1 uuid id
	uuid=$(cat /proc/sys/kernel/random/uuid)
	mkdir -p "$dir/osd/ceph-0"
	id=$(ceph_cli "$dir" osd new "$uuid")
	[ "$id" = 0 ] || die "osd new gave id $id, not 0"
	ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$dir/log/mkfs.out" 2>&1
	spawn "$dir" osd.0 ceph-osd -i 0
}

start_rgw() {
	local dir=$1
	mkdir -p "$dir/rgw"
	spawn "$dir" client.rgw radosgw -n client.rgw
}

write_s3cfg() {
	local dir=$1 port=$2
	cat >"$dir/s3cfg" <<EOF
[default]
access_key = $ACCESS_KEY
secret_key = $SECRET_KEY
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
bucket_location = $REGION
use_https = False
signature_v2 = False
EOF
}

write_env() {
	local dir=$1 port=$2
	cat >"$dir/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$port
S3_REGION=$REGION
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET_KEY
S3_BUCKET=$BUCKET
EOF
}

# Succeeds once the gateway answers with S3 XML.
s3_answers() {
	curl -s --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null | grep -q 'ListAllMyBucketsResult\|<Error>'
}

create_user() {
	local dir=$1
	timeout "$TIMEOUT" radosgw-admin -c "$dir/ceph.conf" user create --uid=stockelt \
		--display-name="stockelt tests" --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" \
		>>"$dir/log/admin.out" 2>&1
}

create_bucket() {
	local dir=$1
	run_s3cmd "$dir" mb "s3://$BUCKET" >>"$dir/log/admin.out" 2>&1
}

# EXIT trap of start: on failure, shows the logs and stops what did start.
start_failed() {
	local dir=$1 f
	echo "s3server: start failed during: $STEP" >&2
	for f in "$dir"/log/*; do
		[ -s "$f" ] || continue
		echo "--- tail of $f" >&2
		tail -n 15 "$f" >&2
	done
	stop "$dir"
}

step() {
	STEP="$*"
	"$@"
}

start() {
	local dir=$1 mon_port rgw_port
	T0=$(now_ms)
	! running "$dir" || die "$dir holds a running cluster; stop it first"
	rm -rf "$dir/run" "$dir/log" "$dir/crash" "$dir/mon" "$dir/osd" "$dir/rgw" "$dir/env" "$dir/monmap"
	mkdir -p "$dir/run" "$dir/log" "$dir/crash"
	mon_port=$(free_port)
	rgw_port=$mon_port
	while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(free_port); done
	write_ceph_conf "$dir" "$mon_port" "$rgw_port"
	write_s3cfg "$dir" "$rgw_port"
	START_DIR=$dir
	trap 'start_failed "$START_DIR"' EXIT
	step start_mon "$dir" "$mon_port"
	step start_osd "$dir"
	step start_rgw "$dir"
	step wait_until s3_answers "$rgw_port"
	step create_user "$dir"
	step create_bucket "$dir"
	write_env "$dir" "$rgw_port"
	trap - EXIT
	echo "s3 ready at http://127.0.0.1:$rgw_port in $(elapsed "$T0") s"
}

# Succeeds if pid $2 is a live process (not a zombie) of the cluster in DIR ($1).
alive() {
	local state
	state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$2/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && { tr '\0' ' ' <"/proc/$2/cmdline"; } 2>/dev/null | grep -qF -- "-c $1/ceph.conf"
}

# Succeeds if any daemon recorded in DIR/run is alive.
running() {
	local name pid
	for name in "${DAEMONS[@]}"; do
		pid=$(cat "$1/run/$name.pid" 2>/dev/null) || continue
		[ -z "$pid" ] || ! alive "$1" "$pid" || return 0
	done
	return 1
}

# Sends TERM to daemon $2, KILL if it is still there after 5 s, and waits for it to go.
stop_daemon() {
	local pidfile=$1/run/$2.pid pid i
	pid=$(cat "$pidfile" 2>/dev/null) || return 0
	if [ -n "$pid" ] && alive "$1" "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 100); do
			alive "$1" "$pid" || break
			[ "$i" -ne 50 ] || kill -KILL "$pid" 2>/dev/null || true
			sleep 0.1
		done
		! alive "$1" "$pid" || die "could not stop $2 (pid $pid)"
	fi
	rm -f "$pidfile"
}

stop() {
	local name
	for name in "${DAEMONS[@]}"; do
		stop_daemon "$1" "$name"
	done
}

# After stop-gateway: the gateway again, on its port, with the cluster's users and buckets.
start_gateway() {
	local dir=$1 port
	T0=$(now_ms)
	running "$dir" || die "$dir holds no running cluster"
	port=$(sed -n 's/^rgw frontends = beast endpoint=127.0.0.1://p' "$dir/ceph.conf")
	start_rgw "$dir"
	wait_until s3_answers "$port"
}

run_s3cmd() {
	local dir=$1
	shift
	s3cmd -c "$dir/s3cfg" "$@"
}

main() {
	if [ "${1:-}" = credentials ]; then
		printf '%s %s\n' "$ACCESS_KEY" "$SECRET_KEY"
		return
	fi
	[ $# -ge 2 ] || usage
	local cmd=$1 dir=$2
	shift 2
	[ "$cmd" != start ] || mkdir -p "$dir"
	[ ! -d "$dir" ] || dir=$(cd "$dir" && pwd)
	case $cmd in
	start) start "$dir" ;;
	stop) stop "$dir" ;;
	stop-gateway) stop_daemon "$dir" client.rgw ;;
	start-gateway) start_gateway "$dir" ;;
	s3cmd) run_s3cmd "$dir" "$@" ;;
	*) usage ;;
	esac
}

main "$@"
