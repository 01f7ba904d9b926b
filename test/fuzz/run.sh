#!/usr/bin/env bash
# Builds the libFuzzer harness for src/parse.c into a temp dir, runs it once over a
# seed corpus made at run time (fixtures, genpayload.py output, hand-made edge cases),
# then fuzzes for SECONDS (default 60) with one job.  Exits non-zero on any crash,
# leak, timeout or sanitizer report, printing the reproducer base64'd.
# Usage: test/fuzz/run.sh [SECONDS]   (FUZZ_KEEP=1 keeps the temp dir for debugging)
set -euo pipefail

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
	echo "usage: $0 [SECONDS]" >&2
	exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
fixtures_dir=${STOCKELT_FIXTURES:-$top/../shared/fixtures/alphavantage}
python=/usr/bin/python3
cc=${CC:-clang}

work=$(mktemp -d "${TMPDIR:-/tmp}/stockelt-fuzz.XXXXXX")
cleanup() {
	[ -n "${FUZZ_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=$work/fuzz_parse
corpus=$work/corpus
artifacts=$work/artifacts/
mkdir -p "$corpus" "$artifacts" "$work/gen"

fuzz_opts=(-detect_leaks=1 -rss_limit_mb=2048 -max_len=1048576 -timeout=10
	-artifact_prefix="$artifacts" -dict="$work/parse.dict")

# Prints the tail of a log and every artifact base64'd, then the failure line; exits.
fail() {
	local what=$1 log=$2 rc=$3 f
	echo "---- last lines of $(basename "$log") ----"
	tail -n 120 "$log" || true
	for f in "$artifacts"*; do
		[ -f "$f" ] || continue
		echo "---- artifact $(basename "$f") ($(stat -c %s "$f") bytes), base64 ----"
		base64 -w 76 "$f"
		echo "---- reproduce: base64 -d > input, build as in $0, run: fuzz_parse input ----"
	done
	echo "fuzz: FAILED: $what (exit status $rc)"
	exit $(( rc == 0 ? 1 : rc ))
}

# True if libFuzzer left a crash, leak, timeout or out-of-memory artifact.
have_artifacts() {
	compgen -G "$artifacts"'crash-*' >/dev/null ||
		compgen -G "$artifacts"'leak-*' >/dev/null ||
		compgen -G "$artifacts"'timeout-*' >/dev/null ||
		compgen -G "$artifacts"'oom-*' >/dev/null
}

# ---------------------------------------------------------------- build

if [ ! -f "$top/src/parse.c" ]; then
	echo "fuzz: FAILED: $top/src/parse.c does not exist"
	exit 1
fi
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DPARSE_PLAIN_ALLOC \
	-Wall -I"$top/src" "$here/fuzz_parse.c" "$top/src/parse.c" -ljansson -o "$bin"

# ---------------------------------------------------------------- seed corpus

# (a) real responses, read in place and copied only into the temp corpus
if [ -d "$fixtures_dir" ]; then
	for sub in weekly_adjusted overview symbol_search messages; do
		for f in "$fixtures_dir/$sub"/*; do
			[ -f "$f" ] && cp "$f" "$corpus/$sub-$(basename "$f")"
		done
	done
else
	echo "fuzz: note: $fixtures_dir is absent, no fixture seeds"
fi

# (b) generated payloads: 3 symbols x 60 weeks, one under another symbol, CSV
printf '%s\n' IBM AAPL MSFT > "$work/symbols"
"$python" "$top/test/genpayload.py" --out-dir "$work/gen" \
	--symbols-file "$work/symbols" --weeks 60 >/dev/null
for f in "$work/gen"/*.json; do
	cp "$f" "$corpus/gen-$(basename "$f")"
done
"$python" "$top/test/genpayload.py" IBM --weeks 60 --as-symbol MSFT \
	> "$corpus/gen-IBM-as-MSFT.json"
"$python" "$top/test/genpayload.py" IBM --weeks 60 --format csv \
	> "$corpus/gen-IBM.csv"
"$python" "$top/test/genpayload.py" IBM --weeks 60 --format api-csv \
	> "$corpus/gen-IBM-api.csv"
# two keys in a Christmas week, partial and closed; other functions' answers
"$python" "$top/test/genpayload.py" TSX --weeks 60 --end 2018-12-26 --christmas-monday \
	> "$corpus/gen-TSX-christmas-partial.json"
"$python" "$top/test/genpayload.py" TSX --weeks 60 --end 2018-12-28 --christmas-monday \
	> "$corpus/gen-TSX-christmas.json"
for function in weekly monthly_adjusted daily; do
	"$python" "$top/test/genpayload.py" IBM --weeks 8 --function "$function" \
		> "$corpus/gen-IBM-$function.json"
done

# (c) small hand-made edge cases, built from a 4-week payload
"$python" "$top/test/genpayload.py" IBM --weeks 4 > "$work/small.json"
"$python" - "$work/small.json" "$corpus" <<'EOF'
import json, os, sys

small = open(sys.argv[1], "rb").read()
out = sys.argv[2]
doc = json.loads(small)
series = doc["Weekly Adjusted Time Series"]
first = next(iter(series))
bar = series[first]


def put(name, body):
    if isinstance(body, str):
        body = body.encode()
    with open(os.path.join(out, "edge-" + name), "wb") as f:
        f.write(body)


def with_series(pairs):
    """The payload with its series replaced by (date, bar) pairs, kept in order
    and duplicates allowed, which a dict cannot express."""
    items = ",\n".join('"%s": %s' % (d, json.dumps(b)) for d, b in pairs)
    return '{"Meta Data": %s, "Weekly Adjusted Time Series": {%s}}' % (
        json.dumps(doc["Meta Data"]), items)


def with_bar(**changes):
    b = dict(bar)
    b.update(changes)
    return with_series([(first, b)] + [(d, v) for d, v in series.items() if d != first])


pairs = list(series.items())
put("bom.json", b"\xef\xbb\xbf" + small)
put("truncated.json", small[: len(small) // 2])
put("empty-object.json", "{}")
put("empty-body", b"")
put("duplicate-week.json", with_series([pairs[0]] + pairs))
put("bad-date-key.json", with_series([("2024-13-45", pairs[0][1])] + pairs[1:]))
put("date-key-feb30.json", with_series([("2023-02-30", pairs[0][1])] + pairs[1:]))
put("date-key-garbage.json", with_series([("yesterday", pairs[0][1])] + pairs[1:]))
put("oldest-first.json", with_series(list(reversed(pairs))))
put("negative-volume.json", with_bar(**{"6. volume": "-5"}))
put("huge-volume.json", with_bar(**{"6. volume": "99999999999999999999999"}))
put("int64-max-volume.json", with_bar(**{"6. volume": "9223372036854775807"}))
put("exponent-price.json", with_bar(**{"4. close": "1e5"}))
put("null-price.json", with_bar(**{"1. open": None}))
put("number-price.json", with_bar(**{"2. high": 12.5}))
put("missing-field.json", with_series([(first, {k: v for k, v in bar.items()
                                                 if k != "3. low"})] + pairs[1:]))
put("no-series.json", json.dumps({"Meta Data": doc["Meta Data"]}))
put("empty-series.json", json.dumps({"Meta Data": doc["Meta Data"],
                                     "Weekly Adjusted Time Series": {}}))
put("series-is-array.json", json.dumps({"Meta Data": doc["Meta Data"],
                                        "Weekly Adjusted Time Series": []}))
put("nul-in-body.json", small.replace(b'"IBM"', b'"IB\\u0000M"', 1))
put("overview-none.json", json.dumps({"Symbol": "IBM", "Name": "None",
                                      "Exchange": "None", "Currency": None}))
put("overview-other-symbol.json", json.dumps({"Symbol": "MSFT", "Name": "Microsoft"}))
put("search-empty.json", json.dumps({"bestMatches": []}))
put("search-not-array.json", json.dumps({"bestMatches": {"1. symbol": "IBM"}}))
put("search-item-not-object.json", json.dumps({"bestMatches": ["IBM", 1, None]}))
put("deep-nesting.json", "[" * 5000 + "]" * 5000)
put("zero-open.json", with_bar(**{"1. open": "0.0000"}))
put("negative-close.json", with_bar(**{"4. close": "-1.0000"}))
put("zero-adjusted-close.json", with_bar(**{"5. adjusted close": "0.0000"}))
put("negative-dividend.json", with_bar(**{"7. dividend amount": "-0.5000"}))
put("long-price.json", with_bar(**{"2. high": "9" * 1000}))
put("max-digits-price.json", with_bar(**{"2. high": "9" * 12 + "." + "9" * 8}))
put("many-decimals-price.json", with_bar(**{"3. low": "1." + "0" * 9 + "1"}))
put("week-1969.json", with_series([("1969-12-26", pairs[0][1])] + pairs[1:]))
put("week-1970.json", with_series([("1970-01-02", pairs[0][1])] + pairs[1:]))
put("week-9999.json", with_series([("9999-12-31", pairs[0][1])] + pairs[1:]))
put("many-values.json", '{"x": [' + "0," * 200000 + '0], "Meta Data": {}}')


def with_refreshed(text):
    meta = dict(doc["Meta Data"], **{"3. Last Refreshed": text})
    return json.dumps({"Meta Data": meta, "Weekly Adjusted Time Series": series})


put("refreshed-with-time.json", with_refreshed("2024-04-15 16:00:01"))
put("refreshed-hh-mm.json", with_refreshed("2024-04-15 16:00"))
put("refreshed-bad-time.json", with_refreshed("2024-04-15 25:61:61"))
put("refreshed-garbage.json", with_refreshed("2024-04-1"))
put("refreshed-before-newest.json", with_refreshed("1999-01-01"))
put("two-keys-one-week.json", with_series([("2024-04-08", pairs[0][1])] + pairs))

# the provider's other answers, which parse_classify tells apart
put("note-throttle.json", json.dumps({"Note": "Thank you for using Alpha Vantage! Please consider spreading out your free API requests more sparingly (1 request per second)."}))
put("information-daily.json", json.dumps({"Information": "You have reached the 25 requests per day rate limit of the free key."}))
put("information-demo.json", json.dumps({"Information": "The **demo** API key is for demo purposes only."}))
put("information-premium.json", json.dumps({"Information": "This is a premium endpoint."}))
put("information-other.json", json.dumps({"Information": "Something else entirely."}))
put("error-apikey.json", json.dumps({"Error Message": "the parameter apikey is invalid or missing."}))
put("error-call.json", json.dumps({"Error Message": "Invalid API call."}))
put("message-sample.json", json.dumps({"message": "sample data", "Weekly Adjusted Time Series": series}))
put("message-not-string.json", json.dumps({"message": 1, "Symbol": "IBM"}))
put("search-with-message.json", json.dumps({"message": "sample", "bestMatches": []}))
put("overview-symbol-number.json", json.dumps({"Symbol": 5}))
put("weekly-no-meta.json", json.dumps({"Weekly Adjusted Time Series": series}))
put("not-object.json", "[1, 2, 3]")
put("duplicate-data-key.json", '{"Symbol": "MSFT", "Symbol": "IBM"}')
EOF

# A dictionary of the format's tokens, so mutations keep the shape of real payloads.
cat > "$work/parse.dict" <<'EOF'
"\"Meta Data\""
"\"1. Information\""
"\"2. Symbol\""
"\"3. Last Refreshed\""
"\"4. Time Zone\""
"\"Weekly Adjusted Time Series\""
"\"Monthly Adjusted Time Series\""
"\"Weekly Time Series\""
"\"Time Series (Daily)\""
"\"1. open\""
"\"2. high\""
"\"3. low\""
"\"4. close\""
"\"5. adjusted close\""
"\"6. volume\""
"\"7. dividend amount\""
"\"Symbol\""
"\"AssetType\""
"\"Name\""
"\"Exchange\""
"\"Currency\""
"\"Country\""
"\"Sector\""
"\"Industry\""
"\"None\""
"\"bestMatches\""
"\"1. symbol\""
"\"2. name\""
"\"3. type\""
"\"4. region\""
"\"5. marketOpen\""
"\"6. marketClose\""
"\"7. timezone\""
"\"8. currency\""
"\"9. matchScore\""
"\"Error Message\""
"\"Information\""
"\"Note\""
"\"message\""
"spreading out"
"per second"
"per minute"
"call frequency"
"per day"
"daily"
"demo"
"premium"
"apikey"
"Time Series"
"\"IBM\""
"\"2024-04-12\""
"\"0.0000\""
"\xef\xbb\xbf"
"\\u0000"
"null"
"-"
"."
EOF

nseeds=$(find "$corpus" -type f | wc -l)

# ---------------------------------------------------------------- every seed once

rc=0
"$bin" "${fuzz_opts[@]}" -runs=0 "$corpus" > "$work/seeds.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || have_artifacts; then
	fail "a seed input failed" "$work/seeds.log" "$rc"
fi
echo "fuzz: all $nseeds seeds pass"

# ---------------------------------------------------------------- fuzz

echo "fuzz: fuzzing for $seconds s with 1 job"
rc=0
"$bin" "${fuzz_opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
	"$corpus" > "$work/fuzz.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || have_artifacts; then
	fail "crash, leak, timeout or sanitizer report" "$work/fuzz.log" "$rc"
fi

runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$work/fuzz.log" | tail -n 1)
secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$work/fuzz.log" | tail -n 1)
if [ -z "$runs" ]; then
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/fuzz.log" | tail -n 1)
	secs=$seconds
fi
echo "fuzz: ${runs:-?} runs in ${secs:-?} s, no crash"
