#!/usr/bin/env bash
# What a user reads before installing agrees with what is installed: the version in
# stockelt.control, META.json, debian/changelog and CHANGELOG.md, the licence, and the demo's
# dependencies (only what the demo needs: no Ceph, no clang, no libFuzzer).
# Prints "ok   - …" or "FAIL - …" per check; exits non-zero if one fails.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
failed=0

check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "ok   - $name"
	else
		echo "FAIL - $name"
		failed=1
	fi
}

version=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$top/stockelt.control")

meta_agrees() {
	python3 - "$top/META.json" "$version" <<'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
version = sys.argv[2]
assert meta["name"] == "stockelt"
assert meta["version"] == version + ".0", meta["version"]
assert meta["provides"]["stockelt"]["version"] == version + ".0"
assert meta["license"] == "postgresql"
assert meta["meta-spec"]["version"] == "1.0.0"
EOF
}

check "META.json is valid JSON and names the control file's version ($version.0)" meta_agrees
check "debian/changelog's newest entry is version $version.0" \
	bash -c "head -1 '$top/debian/changelog' | grep -qF '($version.0)'"
check "CHANGELOG.md has a section for $version" grep -q "^## $version " "$top/CHANGELOG.md"
check "LICENSE is the PostgreSQL License" grep -q "PostgreSQL License" "$top/LICENSE"

# test/versions.sh's chroots name their PostgreSQL as install-deps.sh does.
pg=${STOCKELT_PG_VERSION:-15}
# The lists as install-deps.sh names them, whatever this run leaves out (STOCKELT_DASHBOARD).
demo_packages=$(env -u STOCKELT_DASHBOARD bash "$top/test/install-deps.sh" --demo --list)
check "the demo installs only through install-deps.sh --demo" \
	grep -q 'install-deps.sh" --demo' "$top/demo/run.sh"
check "install-deps.sh --demo names neither Ceph, clang, libFuzzer nor s3cmd" \
	bash -c "! grep -qE '^(radosgw|ceph-|clang|libfuzzer|libclang-rt|s3cmd)' <<<'$demo_packages'"
check "install-deps.sh --demo names the build, PostgreSQL and the stand-in's python3" \
	bash -c "for p in make gcc postgresql-$pg postgresql-server-dev-$pg python3; do grep -qx \"\$p\" <<<'$demo_packages' || exit 1; done"
check "install-deps.sh --demo names node and npm (the demo builds the dashboard) but no chromium" \
	bash -c "grep -qx nodejs <<<'$demo_packages' && grep -qx npm <<<'$demo_packages' && ! grep -qx chromium <<<'$demo_packages'"
check "install-deps.sh names chromium (the dashboard's browser test)" \
	bash -c "env -u STOCKELT_DASHBOARD bash '$top/test/install-deps.sh' --list | grep -qx chromium"

exit "$failed"
