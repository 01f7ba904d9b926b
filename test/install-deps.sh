#!/usr/bin/env bash
# Installs everything stockelt needs to build, run its demo and run its tests on Debian 12.
# Idempotent; uses sudo when not run as root. Debian packages only.
# test/versions.sh runs it inside its chroots with STOCKELT_PG_VERSION=17 or 18 (Debian's
# package names for that version) and STOCKELT_FUZZ_SECONDS=0 (no fuzzing, so no clang).
set -euo pipefail
pg=${STOCKELT_PG_VERSION:-15}

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
else
	as_root=(sudo)
fi

packages=(
	# build
	make gcc pkg-config
	"postgresql-$pg" "postgresql-server-dev-$pg" "postgresql-$pg-cron"
	libcurl4-openssl-dev libjansson-dev libssl-dev liblz4-dev
	# stand-in API server, payload generator, test driver
	python3 ca-certificates curl util-linux
	# TAP tests (PostgreSQL::Test::Cluster)
	libipc-run-perl
	# S3 interoperability client
	s3cmd
	# PostgreSQL 15, 17 and 18 in Debian chroots (test/versions.sh)
	debootstrap
)
# fuzzing the parser (Debian 12's clang)
[ "${STOCKELT_FUZZ_SECONDS:-}" = 0 ] || packages+=(clang libfuzzer-14-dev libclang-rt-14-dev)

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
