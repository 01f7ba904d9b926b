#!/usr/bin/env bash
# Builds and tests stockelt against the PostgreSQL versions Debian 12 does not ship, the way
# Debian would: for each version, debootstraps the Debian suite that carries it into a throwaway
# work directory, installs the packages test/install-deps.sh names for that version, and runs
# test/check.sh inside. Unmounts and removes every root filesystem whatever happens.
# Usage (as root): test/versions.sh [VERSION...]   (default: 17 18; 15 is checked on the host)
set -euo pipefail

# top, fixtures_dir and kill_tree, as the runner has them.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
mirror=${STOCKELT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Debian's suite for each PostgreSQL version: the newest suite that carries it.
declare -A suite_of=([17]=trixie [18]=sid)

work=
root=		# the root filesystem being built or tested, its mounts undone on exit
running=	# the command running in the background, ended on exit
summary=()
failures=0

# say TEXT: progress on stderr, so that check.sh's own output stays apart on stdout.
say() {
	echo "versions: $*" >&2
}

# Processes whose root is DIR: only ever ones started by this script, inside its chroot.
processes_in() {
	local dir=$1 link pid
	for link in /proc/[0-9]*/root; do
		pid=${link#/proc/}
		pid=${pid%/root}
		[ "$(readlink "$link" 2>/dev/null)" = "$dir" ] && echo "$pid"
	done
	return 0
}

mounts_under() {
	findmnt -rn -o TARGET | grep -E "^$1(/|$)" | sort -r || true
}

# Ends what still runs in the chroot, undoes its mounts, removes it. Never removes a tree that
# still has something mounted inside (that could be the host's own /dev or /proc).
remove_root() {
	local dir=$1 pids mount
	pids=$(processes_in "$dir")
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill $pids 2>/dev/null || true
		sleep 2
		pids=$(processes_in "$dir")
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
	fi
	for mount in $(mounts_under "$dir"); do
		umount "$mount" 2>/dev/null || umount --lazy "$mount"
	done
	if [ -n "$(mounts_under "$dir")" ]; then
		say "left $dir in place: still mounted: $(mounts_under "$dir" | tr '\n' ' ')"
		return 1
	fi
	rm -rf --one-file-system "$dir"
}

cleanup() {
	set +e
	[ -n "$running" ] && kill_tree "$running"
	[ -n "$root" ] && remove_root "$root"
	if [ -n "$work" ]; then
		if [ -n "$(mounts_under "$work")" ]; then
			say "kept $work: something is still mounted there"
		else
			rm -rf --one-file-system "$work"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run CMD...: in the background, so that an INT or TERM ends it and runs the cleanup at once.
run() {
	local status=0
	"$@" &
	running=$!
	wait "$running" || status=$?
	running=
	return "$status"
}

# in_root CMD...: CMD inside the chroot as root, with a clean environment.
in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# The kernel file systems PostgreSQL, Ceph and ps need. debootstrap made the device nodes;
# /dev/shm is a tmpfs of the chroot's own, not the host's.
mount_kernel_filesystems() {
	mount -t proc proc "$root/proc"
	mount -t sysfs -o ro sysfs "$root/sys"
	mount -t tmpfs -o mode=1777,size=2g shm "$root/dev/shm"
}

# Installing a server package must neither start a service nor create a cluster in the chroot.
prepare_root() {
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	mkdir -p "$root/etc/postgresql-common"
	echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
	# sid's Release file is valid for a week; a mirror frozen at a date serves it past that.
	echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99stockelt-mirror"
}

# The working tree as it stands (what .gitignore ignores left out), and the real fixtures.
copy_tree() {
	mkdir -m 755 "$root/stockelt"
	tar -C "$top" --exclude-vcs --exclude-vcs-ignores -cf - . | tar -C "$root/stockelt" -xf -
	chmod -R a+rX "$root/stockelt"
	if [ -d "$fixtures_dir" ]; then
		mkdir -p "$root/fixtures"
		cp -R "$fixtures_dir/." "$root/fixtures/"
		chmod -R a+rX "$root/fixtures"
	fi
}

now() {
	date +%s
}

# step NAME LOG CMD...: one timed step of a version's run; on failure, the log's tail.
step() {
	local name=$1 log=$2 t0 status=0
	shift 2
	t0=$(now)
	run "$@" >"$log" 2>&1 || status=$?
	times+=("$name $(($(now) - t0)) s")
	if [ "$status" -ne 0 ]; then
		[ "$name" = tests ] || tail -n 40 "$log"	# the tests' whole output follows
		times+=("FAILED")
	fi
	return "$status"
}

# test_version VERSION: one root filesystem, built, tested and removed; adds a summary line.
test_version() {
	local version=$1 suite=${suite_of[$1]} pg_config=/usr/lib/postgresql/$1/bin/pg_config
	local times=() env=() status=0 result="" steps
	root=$work/$suite
	say "PostgreSQL $version: debootstrap $suite into $root"
	step debootstrap "$work/$suite-debootstrap.log" \
		debootstrap --variant=minbase "$suite" "$root" "$mirror" || status=$?
	if [ "$status" -eq 0 ]; then
		mount_kernel_filesystems
		prepare_root
		copy_tree
		say "PostgreSQL $version: installing packages"
		step packages "$work/$suite-packages.log" in_root STOCKELT_PG_VERSION="$version" \
			STOCKELT_FUZZ_SECONDS=0 STOCKELT_DASHBOARD=none bash /stockelt/test/install-deps.sh || status=$?
	fi
	if [ "$status" -eq 0 ]; then
		say "PostgreSQL $version: building"
		step build "$work/$suite-build.log" in_root make -C /stockelt PG_CONFIG="$pg_config" ||
			status=$?
	fi
	if [ "$status" -eq 0 ]; then
		say "PostgreSQL $version: running test/check.sh"
		[ -d "$root/fixtures" ] && env+=(STOCKELT_FIXTURES=/fixtures)
		[ -n "${STOCKELT_SUITES:-}" ] && env+=(STOCKELT_SUITES="$STOCKELT_SUITES")
		[ -n "${STOCKELT_TAP:-}" ] && env+=(STOCKELT_TAP="$STOCKELT_TAP")
		step tests "$work/$suite-check.out" in_root PG_CONFIG="$pg_config" \
			STOCKELT_PG_VERSION="$version" STOCKELT_FUZZ_SECONDS=0 STOCKELT_PACKAGE=none STOCKELT_DASHBOARD=none "${env[@]}" \
			bash /stockelt/test/check.sh || status=$?
		cat "$work/$suite-check.out"
		result=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/$suite-check.out" | tail -n 1 || true)
		result=": ${result:-no result}"
		# shellcheck disable=SC2016
		version="$version $(in_root dpkg-query -W -f='${Version}' "postgresql-$version")"
	fi
	printf -v steps '%s, ' "${times[@]}"
	summary+=("PostgreSQL $version ($suite): ${steps%, }$result")
	remove_root "$root"
	root=
	return "$status"
}

main() {
	local versions=("$@") version
	[ "$(id -u)" -eq 0 ] || { echo "test/versions.sh: run as root (debootstrap and chroot need it)" >&2; exit 2; }
	[ ${#versions[@]} -gt 0 ] || versions=(17 18)
	for version in "${versions[@]}"; do
		[ -n "${suite_of[$version]:-}" ] || { echo "test/versions.sh: no Debian suite known for PostgreSQL $version" >&2; exit 2; }
	done
	command -v debootstrap >/dev/null || bash "$top/test/install-deps.sh"
	work=$(mktemp -d /tmp/stockelt-versions.XXXXXX)
	for version in "${versions[@]}"; do
		test_version "$version" || failures=$((failures + 1))
	done
	printf '%s\n' "${summary[@]}"
	[ "$failures" -eq 0 ]
}

main "$@"
