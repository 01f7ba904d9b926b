#!/usr/bin/env bash
# Writes the psql script that walks the real fixtures ($STOCKELT_TEST_WORK/fixtures, a link
# to them) through the stand-in server: one stand-in instruction and one fetch per file.
#   fixture_script.sh weekly     every weekly_adjusted/SYM_DATE.json, oldest first
#   fixture_script.sh messages   every non-data answer in messages/
set -euo pipefail
case "$1" in
	weekly)
		for path in "$STOCKELT_TEST_WORK/fixtures"/weekly_adjusted/*.json; do
			file=$(basename "$path")
			symbol=${file%%_*}
			fetched=${file#*_}
			fetched=${fetched%.json}
			echo "\\! \"\$PG_ABS_SRCDIR/standinctl\" symbol 'symbol=$symbol&file=weekly_adjusted/$file'"
			echo "INSERT INTO fetched VALUES ('$symbol', '$fetched', '$(sha256sum <"$path" | cut -c1-64)', stockelt_fetch('$symbol'));"
		done
		;;
	messages)
		for path in "$STOCKELT_TEST_WORK/fixtures"/messages/*; do
			file=$(basename "$path")
			statuses=200
			case "$file" in *.html) statuses="200 503" ;; esac
			for status in $statuses; do
				echo "\\! \"\$PG_ABS_SRCDIR/standinctl\" next 'body=messages/$file&status=$status'"
				# Each call starts unpaused: a quota answer pauses every caller until resumed.
				echo "SELECT '$file' AS file, $status AS status, expect_error(\$\$SELECT stockelt_fetch('IBM')\$\$) AS error FROM stockelt_resume();"
			done
		done
		;;
esac
