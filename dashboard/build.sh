#!/usr/bin/env bash
# Builds stockelt's dashboard (an Evidence project) from a database stockelt fills, into
# dashboard/build/: a static site to serve with any web server (build.sh --serve PORT serves
# it on 127.0.0.1 with python3's http.server until stopped).
#
# The connection comes from the standard PostgreSQL environment variables: PGHOST (a host
# name, or a Unix socket directory), PGPORT, PGDATABASE, PGUSER, PGPASSWORD. PGUSER defaults
# to stockelt_dashboard, the read-only role of the README's "Granting access" recipe; the
# build refuses a role that could write to stockelt's schemas, queue work or fetch.
# Needs node 18 or later and npm (test/install-deps.sh --demo installs them); the first build
# installs the locked packages with npm ci from the npm registry, later ones only when
# package-lock.json changed. Nothing else is fetched, at build time or in the browser.
# Usage: build.sh [--out DIR] [--serve PORT]
#   --out DIR     copy the built site to DIR too (a copy that outlives the next build)
#   --serve PORT  then serve it (DIR, else build/) on 127.0.0.1:PORT until stopped
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir"

export EVIDENCE_SOURCE__stockelt__host=${PGHOST:-localhost}
export EVIDENCE_SOURCE__stockelt__port=${PGPORT:-5432}
export EVIDENCE_SOURCE__stockelt__database=${PGDATABASE:-postgres}
export EVIDENCE_SOURCE__stockelt__user=${PGUSER:-stockelt_dashboard}
export EVIDENCE_SOURCE__stockelt__password=${PGPASSWORD:-}
export SEND_ANONYMOUS_USAGE_STATS=no
export NODE_OPTIONS=${NODE_OPTIONS:---max-old-space-size=4096}

usage="usage: $0 [--out DIR] [--serve PORT]"
out=
serve=
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=${2:?$usage}; shift 2 ;;
	--serve) serve=${2:?$usage}; shift 2 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done

# One build at a time in this tree (Evidence builds in dashboard/.evidence and build/).
exec 9>"$dir/.build.lock"
flock 9

# npm ci again only when the lockfile changed since the last install.
if ! cmp -s package-lock.json node_modules/.stockelt-installed-lock 2>/dev/null; then
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json node_modules/.stockelt-installed-lock
fi

# The role may read, and nothing more: refuse one that could write or queue (a superuser,
# an owner of the schemas, the pipeline role). The check runs through the same driver.
node ./read_only_check.cjs

rm -rf build
npm run --silent sources
npm run --silent build
site=$dir/build
if [ -n "$out" ]; then
	rm -rf "$out"
	cp -r build "$out"
	site=$(cd "$out" && pwd)
fi
echo "dashboard: built into $site"
exec 9>&-

if [ -n "$serve" ]; then
	echo "dashboard: serving $site on http://127.0.0.1:$serve/ (Ctrl-C stops it)"
	exec python3 -m http.server --bind 127.0.0.1 --directory "$site" "$serve"
fi
