#!/usr/bin/env bash
# Builds the Debian package of stockelt from a copy of the tree with Debian's own tooling
# (dpkg-buildpackage, dh --with pgxs, pg_buildext), installs it, checks what it installed, runs
# the regression suite against the installed extension (debian/tests/installcheck), and removes
# the package, putting back any stockelt files `make install` had left there.
# Usage: test/package.sh [WORKDIR]   (as root on Debian 12; says "skipped: …" otherwise)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

package=postgresql-15-stockelt
system_pg_config=/usr/lib/postgresql/15/bin/pg_config

skip() {
	echo "skipped: Debian package ($1)"
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip "installing a package needs root"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage is missing: run test/install-deps.sh"
[ "$PG_CONFIG" = "$system_pg_config" ] ||
	skip "PG_CONFIG is $PG_CONFIG; the package installs into $system_pg_config's PostgreSQL"
if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true) == *"ok installed" ]]; then
	skip "$package is installed on this machine; this test would replace and remove it"
fi

pkglibdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
own_work=
if [ -n "${1:-}" ]; then
	work=$1
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/stockelt-package.XXXXXX)
	own_work=1
fi
installed=
failures=0

ok() { echo "ok   - $1"; }
fail() {
	echo "FAIL - $1"
	failures=$((failures + 1))
}

# What `make install` put in the server's directories is kept aside, and removed so that the
# suites see only the package's files (dpkg leaves files it does not own in place).
save_make_install() {
	(cd / && find "${pkglibdir#/}" "${extdir#/}" -maxdepth 2 -name 'stockelt*' -print0 |
		tar --null -cf "$work/make-install.tar" --remove-files -T -)
}

restore_make_install() {
	[ -s "$work/make-install.tar" ] && tar -xf "$work/make-install.tar" -C /
	return 0
}

cleanup() {
	set +e
	if [ -n "$installed" ]; then
		apt-get purge -y -q -o DPkg::Lock::Timeout=300 "$package" >"$work/purge.log" 2>&1
		restore_make_install
	fi
	# The built copy goes (its debhelper tree holds dangling links); the packages and logs stay.
	rm -rf "$work/src/stockelt"
	if [ -n "$own_work" ]; then
		if [ -n "${STOCKELT_KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The source tree as git sees it (tracked and new files, nothing ignored such as objects), or
# the whole tree without build products when it is not a git checkout.
copy_tree() {
	local dest=$1
	mkdir -p "$dest"
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$top" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
			tar --null -cf - -T -) | tar -xf - -C "$dest"
	else
		tar -C "$top" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
			--exclude=build-15 -cf - . | tar -xf - -C "$dest"
	fi
}

build_package() {
	local start=$SECONDS
	rm -rf "$work/src"
	copy_tree "$work/src/stockelt"
	if (cd "$work/src/stockelt" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
		deb=$(ls "$work/src/${package}"_*.deb)
		ok "dpkg-buildpackage -us -uc -b built $(basename "$deb") in $((SECONDS - start)) s"
	else
		tail -n 40 "$work/build.log"
		fail "dpkg-buildpackage -us -uc -b (log: $work/build.log)"
		return 1
	fi
}

install_package() {
	installed=1
	save_make_install
	if apt-get install -y -q -o DPkg::Lock::Timeout=300 "$deb" >"$work/install.log" 2>&1 &&
		[ "$(dpkg-query -W -f='${Status}' "$package")" = "install ok installed" ]; then
		ok "apt-get install ./$(basename "$deb")"
	else
		tail -n 20 "$work/install.log"
		fail "apt-get install ./$(basename "$deb")"
		return 1
	fi
}

# check_installed_files: the package owns the library, the control file, the default version's
# install script and every script the tree ships, unmodified; the library loads its libraries.
check_installed_files() {
	local files default script path wanted missing=() so=$pkglibdir/stockelt.so depends libraries symbols
	files=$(dpkg -L "$package")
	default=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$extdir/stockelt.control")
	[ -n "$default" ] || missing+=("default_version in $extdir/stockelt.control")
	wanted=("$extdir/stockelt.control" "$extdir/stockelt--$default.sql" "$so")
	for script in "$work"/src/stockelt/stockelt--*.sql; do
		[ -e "$script" ] && wanted+=("$extdir/${script##*/}")
	done
	for path in $(printf '%s\n' "${wanted[@]}" | sort -u); do
		grep -qxF "$path" <<<"$files" || missing+=("$path")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ok "the package installs ${so##*/}, stockelt.control and stockelt--$default.sql"
	else
		fail "the package lacks: ${missing[*]}"
	fi
	if [ -z "$(dpkg -V "$package")" ]; then
		ok "dpkg -V: every installed file matches the package"
	else
		dpkg -V "$package"
		fail "dpkg -V: installed files differ from the package"
	fi
	# Read whole before matching: grep -q on a pipe can end the writer early, which pipefail counts.
	libraries=$(ldd "$so" 2>&1 || true)
	symbols=$(nm -D --defined-only "$so" 2>&1 || true)
	if ! grep -q 'not found' <<<"$libraries" && grep -qw Pg_magic_func <<<"$symbols"; then
		ok "${so##*/} is a PostgreSQL module whose libraries all resolve"
	else
		grep 'not found' <<<"$libraries" || true
		fail "${so##*/} is not a loadable PostgreSQL module"
	fi
	depends=$(dpkg-query -W -f='${Depends}' "$package")
	if grep -q 'postgresql-15\b' <<<"$depends" && grep -q 'libcurl4' <<<"$depends"; then
		ok "Depends: $depends"
	else
		fail "Depends lacks postgresql-15 or libcurl4: $depends"
	fi
}

# The regression suite against the installed package: debian/tests/installcheck, the package's
# own autopkgtest, runs the project's runner without building or installing anything (from this
# tree, which the clusters' unprivileged user can read, unlike the copy in the work directory).
run_installed_suite() {
	local start=$SECONDS status=0 summary
	STOCKELT_FIXTURES="$fixtures_dir" "$top/debian/tests/installcheck" >"$work/installcheck.out" 2>&1 ||
		status=$?
	sed 's/^/package: /' "$work/installcheck.out"
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/installcheck.out" || true)
	if [ "$status" -eq 0 ] && [[ $summary == *" passed, 0 failed" && $summary != "0 passed"* ]]; then
		ok "regression suite against the installed package: $summary in $((SECONDS - start)) s"
	else
		fail "regression suite against the installed package"
	fi
}

remove_package() {
	local left
	if apt-get purge -y -q -o DPkg::Lock::Timeout=300 "$package" >"$work/purge.log" 2>&1; then
		installed=
		left=$(ls "$pkglibdir"/stockelt.so "$extdir"/stockelt.control 2>/dev/null || true)
		if [ -z "$left" ]; then
			ok "apt-get purge $package removes its files"
		else
			fail "apt-get purge $package left $left"
		fi
	else
		tail -n 20 "$work/purge.log"
		fail "apt-get purge $package"
	fi
	restore_make_install
}

main() {
	local start=$SECONDS
	if build_package && install_package; then
		check_installed_files
		run_installed_suite
		remove_package
	fi
	echo "Debian package stage: $((SECONDS - start)) s, $failures failed"
	[ "$failures" -eq 0 ]
}

main
