#!/usr/bin/env bash
# Checks genpayload.py and standin.py against the API's format and their own contracts.
# Usage: test/standin_selftest.sh [FIXTURES_DIR]   (fixture checks are skipped without it)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
fixtures=${1:-${STOCKELT_FIXTURES:-$here/../../shared/fixtures/alphavantage}}
[ -d "$fixtures" ] || fixtures=
work=$(mktemp -d)
server_pid=
failures=0

cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

ok() { echo "ok   - $1"; }
fail() { echo "FAIL - $1"; failures=$((failures + 1)); }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@" >"$work/check.out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/       /' "$work/check.out"; fi
}

# ------------------------------------------------------------ generator

gen() { "$py" "$here/genpayload.py" "$@"; }

gen IBM >"$work/a.json"
gen IBM >"$work/b.json"
check "generator is deterministic" cmp "$work/a.json" "$work/b.json"
gen IBM --seed 7 >"$work/c.json"
check "--seed changes the series" bash -c "! cmp -s '$work/a.json' '$work/c.json'"

check "payload layout, calendar, adjusted closes and truth agree" "$py" - "$here" "$work/a.json" "$fixtures" <<'EOF'
import json, sys, re, datetime
sys.path.insert(0, sys.argv[1])
import genpayload as g
raw = open(sys.argv[2]).read()
fixtures = sys.argv[3]
doc = json.loads(raw)
assert json.dumps(doc, indent=4) == raw, "not the API's 4-space layout"
meta = doc["Meta Data"]
assert meta == {"1. Information": "Weekly Adjusted Prices and Volumes", "2. Symbol": "IBM",
                "3. Last Refreshed": "2024-04-15", "4. Time Zone": "US/Eastern"}, meta
weeks = doc["Weekly Adjusted Time Series"]
keys = list(weeks)
assert len(keys) == 260 and keys == sorted(keys, reverse=True), "newest first, 260 weeks"
assert keys[0] == "2024-04-15" and "2024-03-28" in keys and "2024-03-29" not in keys
fields = ["1. open", "2. high", "3. low", "4. close", "5. adjusted close", "6. volume",
          "7. dividend amount"]
for k, w in weeks.items():
    assert list(w) == fields, k
    assert all(re.fullmatch(r"\d+\.\d{4}", w[f]) for f in fields if f != "6. volume"), k
    assert re.fullmatch(r"\d+", w["6. volume"]), k
    assert float(w["3. low"]) <= min(float(w["1. open"]), float(w["4. close"])), k
    assert float(w["2. high"]) >= max(float(w["1. open"]), float(w["4. close"])), k

if fixtures:
    def shape(lines):
        return [re.sub(r'": "[^"]*"', '": ""', l) for l in lines]
    real = open(f"{fixtures}/weekly_adjusted/IBM_2024-04-15.json").read().splitlines()[:20]
    assert shape(real) == shape(raw.splitlines()[:20]), "first 20 lines differ in shape"
    for name, end in (("IBM_2024-04-15", "2024-04-15"), ("IBM_2022-02-11", "2022-02-11")):
        real = list(json.load(open(f"{fixtures}/weekly_adjusted/{name}.json"))["Weekly Adjusted Time Series"])
        mine = list(json.loads(g.weekly_adjusted("IBM", len(real), end))["Weekly Adjusted Time Series"])
        assert real == mine, f"week keys differ from {name}"

# adjusted close / close changes exactly by each week's events
for sym in [f"S{i}" for i in range(60)]:
    t = g.weekly_truth(sym)
    w = json.loads(g.weekly_adjusted(sym))["Weekly Adjusted Time Series"]
    splits = {s["date"]: s["numerator"] / s["denominator"] for s in t["splits"]}
    dividends = {d["date"]: float(d["amount"]) for d in t["dividends"]}
    ks = sorted(w)
    for older, newer in zip(ks, ks[1:]):
        factor = 1 / splits.get(newer, 1) * (1 - dividends.get(newer, 0) / float(w[older]["4. close"]))
        r_old = float(w[older]["5. adjusted close"]) / float(w[older]["4. close"])
        r_new = float(w[newer]["5. adjusted close"]) / float(w[newer]["4. close"])
        assert abs(r_old / (r_new * factor) - 1) < 1e-3 or float(w[older]["5. adjusted close"]) < 1, (sym, older)
    for s in t["splits"]:
        bar = w[s["date"]]
        before = w[ks[ks.index(s["date"]) - 1]]
        r = s["numerator"] / s["denominator"]
        assert abs(float(bar["1. open"]) / float(before["4. close"]) - 1) < 0.2, (sym, "open pre-split")
        assert abs(float(bar["4. close"]) * r / float(bar["1. open"]) - 1) < 0.5, (sym, "close post-split")
    for d in t["dividends"]:
        assert w[d["date"]]["7. dividend amount"] == d["amount"]
    assert t["partial_week"] == "2024-04-15" and t["weeks"][0]["return"] is None
EOF

check "a later --end keeps raw history and restates adjusted closes" "$py" - "$here" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import genpayload as g
a = json.loads(g.weekly_adjusted("S1", 260, "2024-04-09"))["Weekly Adjusted Time Series"]
b = json.loads(g.weekly_adjusted("S1", 260, "2024-04-12"))["Weekly Adjusted Time Series"]
assert "2024-04-09" in a and "2024-04-12" in b
assert a["2024-04-05"]["4. close"] == b["2024-04-05"]["4. close"]
assert b["2024-04-12"]["7. dividend amount"] != "0.0000", "S1 pays in the week of 2024-04-12"
assert a["2024-04-05"]["5. adjusted close"] != b["2024-04-05"]["5. adjusted close"]
r = json.loads(g.weekly_adjusted("S1", restate_factor=0.5, as_symbol="XYZ"))
assert r["Meta Data"]["2. Symbol"] == "XYZ"
base = json.loads(g.weekly_adjusted("S1"))["Weekly Adjusted Time Series"]
k = "2020-01-10"
assert abs(float(r["Weekly Adjusted Time Series"][k]["5. adjusted close"]) * 2
           - float(base[k]["5. adjusted close"])) < 2e-4
EOF

gen IBM --format csv >"$work/ibm.csv"
check "COPY csv header and rows" bash -c "head -1 '$work/ibm.csv' | grep -qx 'symbol,week_ending,open,high,low,close,adjusted_close,volume,dividend_amount' && [ \$(wc -l <'$work/ibm.csv') -eq 261 ]"
# How fast the generator writes a corpus is the benchmarks' business (bench/); here only that it does.
gen --out-dir "$work/batch" --count 500 --prefix BM --weeks 1300
check "500 payloads of 1,300 weeks written" bash -c "[ \$(ls '$work/batch' | wc -l) -eq 500 ]"

# ------------------------------------------------------------ server

start_server() {
	rm -f "$work/port"
	"$py" "$here/standin.py" --port 0 --port-file "$work/port" --apikey K123 \
		--log "$work/server.log" "$@" &
	server_pid=$!
	for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
	base="http://127.0.0.1:$(cat "$work/port")"
	q="$base/query?function=TIME_SERIES_WEEKLY_ADJUSTED&apikey=K123&symbol"
}

stop_server() {
	kill -TERM "$server_pid"
	local rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	return $rc
}

ctl() { curl -sf "$base/_control/$1" >/dev/null; }
body_has() { # whole body first: grep -q exiting early would fail curl under pipefail
	curl -s "$1" >"$work/body" || true
	grep -q -- "$2" "$work/body"
}

start_server ${fixtures:+--fixtures "$fixtures"}

curl -s "$q=IBM" >"$work/served.json"
check "serves the generator's bytes" cmp "$work/served.json" "$work/a.json"
check "missing apikey" body_has "$base/query?function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=IBM" "apikey is invalid or missing"
check "wrong apikey" body_has "$base/query?function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=IBM&apikey=x" "apikey is invalid or missing"
check "unknown function" body_has "$base/query?function=NOPE&symbol=IBM&apikey=K123" "documentation/) for NOPE."
check "premium function" body_has "$base/query?function=TIME_SERIES_DAILY_ADJUSTED&symbol=IBM&apikey=K123" "premium endpoint"

ctl "symbol?symbol=ZZZ&unknown=1"
check "symbol marked unknown" body_has "$q=ZZZ" "for TIME_SERIES_WEEKLY_ADJUSTED."
ctl "symbol?symbol=ZZZ&weeks=3&end=2024-04-19&as_symbol=OTHER&restate=0.5"
check "per-symbol weeks, end, as_symbol" bash -c "curl -s '$q=ZZZ' | $py -c 'import json,sys; d=json.load(sys.stdin); assert d[\"Meta Data\"][\"2. Symbol\"]==\"OTHER\" and list(d[\"Weekly Adjusted Time Series\"])==[\"2024-04-19\",\"2024-04-12\",\"2024-04-05\"]'"
ctl "symbol?symbol=ZZZ&clear=1"
check "mapping cleared" bash -c "curl -s '$q=ZZZ' | grep -q '\"2. Symbol\": \"ZZZ\"'"

ctl "next?message=daily_quota&count=2"
check "queued message, first" body_has "$q=IBM" "25 requests per day"
check "queued message, second" body_has "$q=IBM" "25 requests per day"
check "queue drained" body_has "$q=IBM" "Weekly Adjusted Prices"
for m in invalid_apikey invalid_call burst per_minute per_minute_info premium demo empty premium_sample; do
	ctl "next?message=$m"
	check "message=$m is JSON" bash -c "curl -s '$q=IBM' | $py -c 'import json,sys; json.load(sys.stdin)'"
done
ctl "next?message=invalid_call&bom=1"
check "bom=1 prefixes a byte-order mark" bash -c "curl -s '$q=IBM' | head -c 3 | od -An -tx1 | grep -q 'ef bb bf'"
ctl "next?message=html503"
check "message=html503" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code} %{content_type}' '$q=IBM')\" = '503 text/html' ]"
ctl "next?status=503"
check "status=503 alone" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$q=IBM') = 503 ]"
ctl "next?reset=1"
check "reset=1 resets the connection (curl 56)" bash -c "curl -s -o /dev/null '$q=IBM'; [ \$? -eq 56 ]"
ctl "next?truncate=100&length=full"
check "truncate with full Content-Length (curl 18)" bash -c "curl -s -o '$work/t1' '$q=IBM'; [ \$? -eq 18 ] && [ \$(stat -c %s '$work/t1') -eq 100 ]"
ctl "next?truncate=100"
check "truncate without Content-Length" bash -c "curl -s -o '$work/t2' '$q=IBM' && [ \$(stat -c %s '$work/t2') -eq 100 ] && cmp -n 100 '$work/t2' '$work/a.json'"
ctl "next?hang=1"
check "hang=1 never answers" bash -c "curl -s -m 1 -o /dev/null '$q=IBM'; [ \$? -eq 28 ]"
ctl "next?delay_ms=800&count=2"
check "delays run in parallel" bash -c "s=\$(date +%s%N); curl -s -o /dev/null '$q=IBM' & curl -s -o /dev/null '$q=IBM'; wait; t=\$(( (\$(date +%s%N) - s) / 1000000 )); [ \$t -ge 800 ] && [ \$t -lt 1500 ]"
# Reads everything one request's connection brings within a second and a half.
extra_probe=$(cat <<'PY'
import socket, sys, time

def content_length(head):
    line = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    return int(line.split(b":")[1])

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /query?function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=IBM&apikey=K123 HTTP/1.1\r\n"
          b"Host: x\r\n\r\n")
data, end = b"", time.time() + 1.5
s.settimeout(0.2)
while time.time() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        break
    data += chunk
head, rest = data.split(b"\r\n\r\n", 1)
first, second = rest[:content_length(head)], rest[content_length(head):]
assert b'"2. Symbol": "IBM"' in first, "the answer is IBM's"
assert second.startswith(b"HTTP/1.1 200 OK\r\n"), second[:200]
head2, body2 = second.split(b"\r\n\r\n", 1)
assert b'"2. Symbol": "XTRA"' in body2 and len(body2) == content_length(head2)
PY
)
ctl "next?extra=XTRA&extra_delay_ms=100"
check "extra=S: a second complete response follows the answer on the same connection" \
	"$py" -c "$extra_probe" "$(cat "$work/port")"
ctl "next?extra=IBM"
check "extra=S: the answer before the extra one is the normal one" bash -c "curl -s '$q=IBM' | cmp -s - '$work/a.json'"
ctl "next?echo_key=lower"
check "echo_key=lower quotes the key lower-cased" body_has "$q=IBM" '"Error Message": "the parameter apikey k123 is invalid'
ctl "next?echo_key=cut&echo_in=note&pad=40"
check "echo_key=cut&echo_in=note&pad=N: an Information text, padded, with control characters" \
	bash -c "curl -s '$q=IBM' | $py -c 'import json,sys; t=json.load(sys.stdin)[\"Information\"]; assert t.endswith(\"apikey K123 is invalid or missing.\") and len(t) == 40 + len(\"the parameter apikey K123 is invalid or missing.\") and \"\\x1b\" in t, t'"
ctl "next?echo_key=whole&echo_in=html"
check "echo_key=whole&echo_in=html: a 503 page quoting the key" bash -c "[ \"\$(curl -s -o '$work/echo.html' -w '%{http_code} %{content_type}' '$q=IBM')\" = '503 text/html' ] && grep -q 'Bad key K123' '$work/echo.html'"
check "echo_key with an unknown form is refused" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$base/_control/next?echo_key=half') = 400 ]"
if [ -n "$fixtures" ]; then
	ctl "next?body=messages/note_rate_limit_2018_bom.json"
	check "body=REL serves the fixture bytes" bash -c "curl -s '$q=IBM' | cmp - '$fixtures/messages/note_rate_limit_2018_bom.json'"
	ctl "next?body=messages/heroku_503_application_error.html&status=503"
	check "body=.html as text/html" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code} %{content_type}' '$q=IBM')\" = '503 text/html' ]"
	ctl "symbol?symbol=DELL&file=weekly_adjusted/DELL_2024-04-15.json"
	check "per-symbol file" bash -c "curl -s '$q=DELL' | cmp - '$fixtures/weekly_adjusted/DELL_2024-04-15.json'"
	check "OVERVIEW from fixtures" body_has "$base/query?function=OVERVIEW&symbol=IBM&apikey=K123" "International Business Machines"
	check "SYMBOL_SEARCH from fixtures" body_has "$base/query?function=SYMBOL_SEARCH&keywords=Tesco&apikey=K123" "TSCO.LON"
fi
check "path traversal refused" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$base/_control/next?body=../../etc/passwd') = 400 ]"
check "OVERVIEW generated" body_has "$base/query?function=OVERVIEW&symbol=QQQX&apikey=K123" '"Name": "QQQX Corporation"'
check "SYMBOL_SEARCH generated" body_has "$base/query?function=SYMBOL_SEARCH&keywords=widget&apikey=K123" '"1. symbol": "WIDGET"'

ctl "reset"
ctl "limits?rps=2&rpm=3"
for i in 1 2 3 4; do curl -s "$q=L$i" >"$work/l$i"; done
check "rps: third request in a second gets the burst text" bash -c "grep -q 'Weekly' '$work/l2' && grep -q '1 request per second' '$work/l3'"
sleep 1.1
curl -s "$q=L5" >"$work/l5"
curl -s "$q=L6" >"$work/l6"
check "rpm: fourth answered request in a minute gets the per-minute text" bash -c "grep -q 'Weekly' '$work/l5' && grep -q '5 calls per minute' '$work/l6'"
check "counts" bash -c "curl -s '$base/_control/counts' | $py -c 'import json,sys; c=json.load(sys.stdin); assert c[\"total\"]==6 and c[\"throttled\"]==3 and c[\"by_symbol\"][\"L1\"]==1 and c[\"by_function\"][\"TIME_SERIES_WEEKLY_ADJUSTED\"]==6, c'"
ctl "limits?rps=0&rpm=0&rpd=1"
curl -s "$q=D1" >"$work/d1"
curl -s "$q=D2" >"$work/d2"
check "rpd: the daily quota text" bash -c "grep -q 'Weekly' '$work/d1' && grep -q '25 requests per day' '$work/d2'"
ctl "reset?limits=1"
check "reset clears counts and limits" bash -c "curl -s '$q=IBM' | grep -q Weekly && curl -s '$base/_control/counts' | grep -q '\"total\": 1'"
ctl "limits?latency_ms=300"
check "latency_ms delays answers" bash -c "s=\$(date +%s%N); curl -s -o /dev/null '$q=IBM'; [ \$(( (\$(date +%s%N) - s) / 1000000 )) -ge 300 ]"
ctl "limits?latency_ms=0"
curl -s -H 'X-Probe: 1' "$q=BRK.B&outputsize=full" >/dev/null
check "last shows what the client sent" bash -c "curl -s '$base/_control/last' | $py -c 'import json,sys; l=json.load(sys.stdin); assert l[\"params\"][\"symbol\"]==\"BRK.B\" and l[\"params\"][\"outputsize\"]==\"full\" and l[\"headers\"][\"X-Probe\"]==\"1\", l'"
check "log redacts the key" bash -c "grep -q 'apikey=REDACTED' '$work/server.log' && ! grep -q 'K123' '$work/server.log'"
check "SIGTERM stops the server with status 0" stop_server

start_server --payload-dir "$work/batch"
check "--payload-dir serves stored payloads" bash -c "curl -s '$q=BM001' | cmp - '$work/batch/BM001.json'"
check "without fixtures: body= is refused" bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$base/_control/next?body=messages/empty_object.json') = 400 ]"
check "without fixtures: OVERVIEW IBM is generated" body_has "$base/query?function=OVERVIEW&symbol=IBM&apikey=K123" '"Name": "IBM Corporation"'
check "SIGTERM again" stop_server

echo
if [ "$failures" -eq 0 ]; then echo "all checks passed"; else echo "$failures check(s) failed"; exit 1; fi
