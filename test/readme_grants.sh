#!/usr/bin/env bash
# Prints the README's "Granting access" recipe, as written, with its pipeline role named ROLE,
# its analyst role ANALYST (ROLE too when not given) and its dashboard role DASHBOARD (ANALYST
# when not given): the tests that attack stockelt as a granted role hold exactly what the
# README grants.
# Usage: readme_grants.sh ROLE [ANALYST [DASHBOARD]]
set -euo pipefail
role=$1
analyst=${2:-$1}
dashboard=${3:-$analyst}
readme="$(dirname "$0")/../README.md"
recipe=$(awk '/^### Granting access/ { section = 1 }
	section && /^```sql$/ { copy = 1; next }
	copy && /^```$/ { exit }
	copy' "$readme")
[ -n "$recipe" ] || { echo "readme_grants.sh: no GRANT recipe under 'Granting access' in $readme" >&2; exit 1; }
printf '%s\n' "$recipe" |
	sed -e "s/\betl_role\b/$role/g" -e "s/\banalyst_role\b/$analyst/g" -e "s/\bdashboard_role\b/$dashboard/g"
