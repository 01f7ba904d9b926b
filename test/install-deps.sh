#!/usr/bin/env bash
# Installs everything stockelt needs to build, run its demo and run its tests on Debian 12.
# Idempotent; uses sudo when not run as root. Debian packages only.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
else
	as_root=(sudo)
fi

packages=(
	# build
	make gcc pkg-config
	postgresql-15 postgresql-server-dev-15 postgresql-15-cron
	libcurl4-openssl-dev libjansson-dev libssl-dev liblz4-dev
	# stand-in API server, payload generator, test driver
	python3 ca-certificates curl util-linux
	# TAP tests (PostgreSQL::Test::Cluster)
	libipc-run-perl
	# S3 interoperability client
	s3cmd
	# fuzzing the parser
	clang libfuzzer-14-dev libclang-rt-14-dev
	# the Debian package (test/package.sh): dpkg-buildpackage, dh --with pgxs, pg_buildext
	dpkg-dev debhelper postgresql-server-dev-all
)

ceph_packages=(radosgw ceph-mon ceph-osd)

installed=$(dpkg-query -W -f='${Status}\n' "${packages[@]}" "${ceph_packages[@]}" 2>/dev/null |
	grep -c '^install ok installed$' || true)
if [ "$installed" -eq $((${#packages[@]} + ${#ceph_packages[@]})) ]; then
	echo "stockelt: all dependencies are installed"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q "${packages[@]}"
# Ceph's RADOS Gateway for a throwaway S3 server; recommends would pull in a whole cluster stack.
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${ceph_packages[@]}"
