#!/usr/bin/env bash
# Installs everything stockelt needs to build, run its demo and run its tests on Debian 12.
# Idempotent; uses sudo when not run as root. Debian packages only.
# Usage: install-deps.sh [--demo] [--list]
#   (no option)  everything the tests need, Ceph, clang and libFuzzer included
#   --demo       only what the demo needs: the build, PostgreSQL 15, the stand-in API server and
#                Node.js with npm for the dashboard (dashboard/build.sh)
#   --list       print the packages the mode names, one a line, and install nothing
# test/versions.sh runs it inside its chroots with STOCKELT_PG_VERSION=17 or 18 (Debian's
# package names for that version), STOCKELT_FUZZ_SECONDS=0 (no fuzzing, so no clang) and
# STOCKELT_DASHBOARD=none (no dashboard, so no Node.js, npm or chromium).
set -euo pipefail
pg=${STOCKELT_PG_VERSION:-15}

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
else
	as_root=(sudo)
fi

demo_packages=(
	# build
	make gcc pkg-config
	"postgresql-$pg" "postgresql-server-dev-$pg"
	libcurl4-openssl-dev libjansson-dev libssl-dev liblz4-dev
	# stand-in API server, payload generator, its control client, running as another user
	python3 ca-certificates curl util-linux
)
# the dashboard (dashboard/build.sh: Evidence, from the npm registry through npm ci)
[ "${STOCKELT_DASHBOARD:-}" = none ] || demo_packages+=(nodejs npm)

test_packages=(
	"${demo_packages[@]}"
	# the pg_cron recipe
	"postgresql-$pg-cron"
	# TAP tests (PostgreSQL::Test::Cluster)
	libipc-run-perl
	# S3 interoperability client
	s3cmd
	# the Debian package (test/package.sh): dpkg-buildpackage, dh --with pgxs, pg_buildext
	dpkg-dev debhelper postgresql-server-dev-all
	# PostgreSQL 15, 17 and 18 in Debian chroots (test/versions.sh)
	debootstrap
)
# the dashboard's browser test (test/dashboard.sh drives it headless through playwright-core)
[ "${STOCKELT_DASHBOARD:-}" = none ] || test_packages+=(chromium)
# fuzzing the parser (Debian 12's clang)
[ "${STOCKELT_FUZZ_SECONDS:-}" = 0 ] || test_packages+=(clang libfuzzer-14-dev libclang-rt-14-dev)

# Ceph's RADOS Gateway for a throwaway S3 server; recommends would pull in a whole cluster stack.
test_ceph_packages=(radosgw ceph-mon ceph-osd)

list=
mode=
for arg in "$@"; do
	case "$arg" in
	--list) list=1 ;;
	*) mode=$arg ;;
	esac
done

case "$mode" in
--demo)
	packages=("${demo_packages[@]}")
	ceph_packages=()
	what="the demo's dependencies"
	;;
'')
	packages=("${test_packages[@]}")
	ceph_packages=("${test_ceph_packages[@]}")
	what="all dependencies"
	;;
*)
	echo "usage: $0 [--demo] [--list]" >&2
	exit 2
	;;
esac

if [ -n "$list" ]; then
	printf '%s\n' "${packages[@]}" "${ceph_packages[@]}"
	exit 0
fi

# A Node.js from elsewhere (NodeSource's nodejs package carries its own npm, which Debian's npm
# package would conflict with) serves as well as Debian's: nodejs and npm only when missing.
keep=()
for package in "${packages[@]}"; do
	case "$package" in
	nodejs) command -v node >/dev/null && continue ;;
	npm) command -v npm >/dev/null && continue ;;
	esac
	keep+=("$package")
done
packages=("${keep[@]}")

installed=$(dpkg-query -W -f='${Status}\n' "${packages[@]}" "${ceph_packages[@]}" 2>/dev/null |
	grep -c '^install ok installed$' || true)
if [ "$installed" -eq $((${#packages[@]} + ${#ceph_packages[@]})) ]; then
	echo "stockelt: $what are installed"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q "${packages[@]}"
if [ "${#ceph_packages[@]}" -gt 0 ]; then
	"${as_root[@]}" apt-get install -y -q --no-install-recommends "${ceph_packages[@]}"
fi
