#!/usr/bin/python3
"""A local stand-in for the Alpha Vantage API, for tests, demos and benchmarks.

Usage:
    standin.py --port 0 --port-file FILE --apikey KEY [--fixtures DIR] [--payload-dir DIR]
               [--weeks N] [--end YYYY-MM-DD] [--rps N] [--rpm N] [--rpd N] [--latency-ms N] [--log FILE]

GET /query answers like https://www.alphavantage.co/query: TIME_SERIES_WEEKLY_ADJUSTED from
genpayload.py, OVERVIEW and SYMBOL_SEARCH from fixtures or generated, and the API's own
message bodies (HTTP 200) for bad keys, bad calls and rate limits.

GET /_control/... lets a test script the next answers, per-symbol data and limits, and read
what the server saw:
    next?count=N&(body=REL|message=NAME|status=503|delay_ms=N|reset=1|truncate=N[&length=full]|hang=1
                  |redirect=same|other|extra=SYMBOL[&extra_delay_ms=N]
                  |echo_key=whole|cut|middle|lower[&echo_in=error|note|html][&pad=N])
         [&status=S][&content_type=T][&bom=1]
         extra: the normal answer, then (after extra_delay_ms, default 50) a second complete
                response nobody asked for, with SYMBOL's series from another seed
         echo_key: a message that quotes the request's key (cut: its first 12 characters,
                middle: 10 from the fifth, lower: lower-cased), after pad=N filler characters
                with control characters among them
    symbol?symbol=S[&weeks=N][&end=DATE][&seed=X][&restate=F][&as_symbol=T][&file=REL]
          [&unknown=1][&crlf=1][&christmas_monday=1][&function=F][&dividends=current][&events=E]
          [&exchange=TSX|LSE]         symbol?symbol=S&clear=1
    limits?[rps=N][&rpm=N][&rpd=N][&latency_ms=N]     (0 = none; resets the windows)
    counts    last    reset[?limits=1]    ping
"""

import argparse
import collections
import datetime
import functools
import http.server
import json
import os
import random
import re
import signal
import ssl
import socket
import struct
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genpayload  # noqa: E402

WEEKLY = "TIME_SERIES_WEEKLY_ADJUSTED"
BOM = b"\xef\xbb\xbf"


# ---------------------------------------------------------------- the API's message bodies

def one_key(key, text, indent=None):
    return json.dumps({key: text}, indent=indent).encode()


def invalid_call(function):
    return one_key("Error Message", "Invalid API call. Please retry or visit the documentation "
                   f"(https://www.alphavantage.co/documentation/) for {function}.", indent=4)


PER_MINUTE_TEXT = (
    "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute "
    "and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would "
    "like to target a higher API call frequency.")

MESSAGES = {
    "invalid_apikey": one_key("Error Message", (
        "the parameter apikey is invalid or missing. Please claim your free API key on "
        "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds.")),
    "burst": one_key("Information", (
        "Thank you for using Alpha Vantage! Please consider spreading out your free API requests "
        "more sparingly (1 request per second). You may subscribe to any of the premium plans at "
        "https://www.alphavantage.co/premium/ to lift the free key rate limit (25 requests per "
        "day), raise the per-second burst limit, and instantly unlock all premium endpoints")),
    "per_minute": one_key("Note", PER_MINUTE_TEXT, indent=4),
    "per_minute_info": one_key("Information", PER_MINUTE_TEXT, indent=4),
    "daily_quota": one_key("Information", (
        "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. "
        "Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ "
        "to instantly remove all daily rate limits."), indent=4),
    "premium": one_key("Information", (
        "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any "
        "of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all "
        "premium endpoints"), indent=4),
    "demo": one_key("Information", (
        "The **demo** API key is for demo purposes only. Please claim your free API key at "
        "(https://www.alphavantage.co/support/#api-key) to explore our full API offerings. It "
        "takes fewer than 20 seconds, and we are committed to making it free forever.")),
    "empty": b"{}",
}


def premium_sample():
    """Premium realtime functions answer 200 with artificial data that must never be ingested."""
    row = {"symbol": "IBM", "timestamp": "2024-10-18 19:54:00.879", "open": "231.29",
           "high": "232.6499", "low": "230.17", "close": "232.2", "volume": "4523411",
           "previous_close": "232.2", "change": "0.0", "change_percent": "0.0",
           "extended_hours_quote": "232.2", "extended_hours_change": "0.0",
           "extended_hours_change_percent": "0.0"}
    return json.dumps({
        "endpoint": "Realtime Bulk Quotes",
        "message": "This is a premium endpoint. ***THE SAMPLE DATA SCHEMA BELOW IS ARTIFICIAL AND "
                   "FOR ILLUSTRATION PURPOSES ONLY***. To access the actual data, please subscribe "
                   "to any premium plan that mentions 'Realtime US Market Data' in its description "
                   "at https://www.alphavantage.co/premium/ for your personal non-professional use.",
        "data": [row],
    }, indent=2).encode()


MESSAGES["premium_sample"] = premium_sample()

# Outages have come as an HTML page from the hosting platform.
HTML_503 = b"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Application Error</title>
  </head>
  <body>
    <p>An error occurred in the application and your page could not be served.</p>
  </body>
</html>
"""

PREMIUM_FUNCTIONS = {"TIME_SERIES_DAILY_ADJUSTED": "premium", "REALTIME_BULK_QUOTES": "premium_sample"}


# ---------------------------------------------------------------- answers and state

@dataclass
class Answer:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    note: str = "ok"


def message(name, note=None):
    if name == "html503":
        return Answer(HTML_503, 503, "text/html", note or "html503")
    return Answer(MESSAGES[name], note=note or name)


def echo_key_answer(b, key):
    """A provider message that quotes (part of) the key it was sent, like a careless page."""
    quoted = {"whole": key, "cut": key[:12], "middle": key[4:14], "lower": key.lower()}[b.value]
    unit = "lorem ipsum \x1b[31m\t"
    filler = (unit * (b.pad // len(unit) + 1))[:b.pad]
    text = f"{filler}the parameter apikey {quoted} is invalid or missing."
    note = f"queued:echo_key:{b.value}:{b.echo_in}"
    if b.echo_in == "html":
        page = f"<html><body><p>{filler}</p><p>Bad key {quoted}</p></body></html>"
        return Answer(page.encode(), 503, "text/html", note)
    return Answer(one_key("Error Message" if b.echo_in == "error" else "Information", text),
                  note=note)


class ControlError(ValueError):
    """A control request that cannot be honoured; answered with HTTP 400."""


class Limiter:
    """Per-second and per-minute sliding windows and a per-UTC-day count of answered requests."""

    def __init__(self, rps=0, rpm=0, rpd=0):
        self.lock = threading.Lock()
        self.configure(rps, rpm, rpd)

    def configure(self, rps=None, rpm=None, rpd=None):
        with self.lock:
            self.rps = rps if rps is not None else self.rps
            self.rpm = rpm if rpm is not None else self.rpm
            self.rpd = rpd if rpd is not None else self.rpd
            self.recent = collections.deque()   # monotonic times within the last minute
            self.day, self.day_count = None, 0

    def limits(self):
        return {"rps": self.rps, "rpm": self.rpm, "rpd": self.rpd}

    def admit(self):
        """None when the request may be answered, else the name of the throttle message."""
        with self.lock:
            now = time.monotonic()
            while self.recent and now - self.recent[0] >= 60:
                self.recent.popleft()
            today = datetime.datetime.now(datetime.timezone.utc).date()
            if today != self.day:
                self.day, self.day_count = today, 0
            if self.rpd and self.day_count >= self.rpd:
                return "daily_quota"
            if self.rpm and len(self.recent) >= self.rpm:
                return "per_minute"
            if self.rps and sum(1 for t in self.recent if now - t < 1) >= self.rps:
                return "burst"
            self.recent.append(now)
            self.day_count += 1
            return None


@dataclass
class Behaviour:
    kind: str                 # body, message, status, delay, reset, truncate, hang, redirect,
                              # extra, echo_key
    value: object = None
    status: int = 200
    content_type: str = None
    full_length: bool = False
    bom: bool = False
    delay_ms: int = 0
    echo_in: str = "error"
    pad: int = 0


class State:
    """Everything the control endpoints can see or change, behind one lock."""

    def __init__(self, limiter, latency_ms):
        self.lock = threading.Lock()
        self.limiter = limiter
        self.latency_ms = latency_ms
        self.reset()

    def reset(self):
        with self.lock:
            self.total = 0
            self.throttled = 0
            self.by_function = collections.Counter()
            self.by_symbol = collections.Counter()
            self.queue = collections.deque()    # [Behaviour, remaining uses]
            self.mappings = {}
            self.last = None

    def record(self, request):
        with self.lock:
            self.total += 1
            self.by_function[request["params"].get("function", "")] += 1
            if "symbol" in request["params"]:
                self.by_symbol[request["params"]["symbol"]] += 1
            self.last = request

    def count_throttled(self):
        with self.lock:
            self.throttled += 1

    def enqueue(self, behaviour, count):
        with self.lock:
            self.queue.append([behaviour, count])

    def next_behaviour(self):
        with self.lock:
            if not self.queue:
                return None
            entry = self.queue[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self.queue.popleft()
            return entry[0]

    def mapping(self, symbol):
        with self.lock:
            return dict(self.mappings.get(symbol.upper(), {}))

    def set_mapping(self, symbol, mapping):
        with self.lock:
            if mapping is None:
                self.mappings.pop(symbol.upper(), None)
            else:
                self.mappings[symbol.upper()] = mapping

    def counts(self):
        with self.lock:
            return {"total": self.total, "throttled": self.throttled,
                    "by_function": dict(self.by_function), "by_symbol": dict(self.by_symbol),
                    "queued": sum(n for _, n in self.queue)}


# ---------------------------------------------------------------- fixtures and generated bodies

def fixture_path(fixtures, rel):
    """A file under the fixtures folder; never anything outside it."""
    if not fixtures:
        raise ControlError("no --fixtures folder was given")
    root = os.path.realpath(fixtures)
    path = os.path.realpath(os.path.join(root, rel))
    if not path.startswith(root + os.sep) or not os.path.isfile(path):
        raise ControlError(f"no such fixture file: {rel}")
    return path


def read_fixture(fixtures, rel):
    with open(fixture_path(fixtures, rel), "rb") as f:
        return f.read()


def content_type_for(name):
    if name.endswith(".html"):
        return "text/html"
    if name.endswith(".csv"):
        return "text/csv"
    return "application/json"


def newest_fixture(fixtures, folder, prefix, suffix):
    """The latest-dated fixture file named PREFIX*SUFFIX, if the folder exists."""
    directory = os.path.join(fixtures or "", folder)
    if not fixtures or not os.path.isdir(directory):
        return None
    names = sorted(n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(suffix))
    return os.path.join(folder, names[-1]) if names else None


SECTORS = [("TECHNOLOGY", "SERVICES-PREPACKAGED SOFTWARE"),
           ("MANUFACTURING", "ELECTRONIC COMPUTERS"),
           ("LIFE SCIENCES", "PHARMACEUTICAL PREPARATIONS"),
           ("FINANCE", "NATIONAL COMMERCIAL BANKS"),
           ("ENERGY & TRANSPORTATION", "CRUDE PETROLEUM & NATURAL GAS"),
           ("TRADE & SERVICES", "RETAIL-VARIETY STORES")]


def generated_overview(symbol, series):
    """An OVERVIEW body in the API's shape, consistent with the symbol's generated prices."""
    rng = random.Random(genpayload.seed_int(symbol))
    sector, industry = rng.choice(SECTORS)
    close = series.bars[-1].close
    shares = rng.randrange(50, 5000) * 1_000_000
    dividends = [b.dividend for b in series.bars if b.dividend][-4:]
    last_dividend = next((b.key for b in reversed(series.bars) if b.dividend), None)
    annual = sum(dividends)
    eps = close / rng.uniform(8, 60)
    name = f"{symbol.upper()} Corporation"

    def ratio(lo, hi, digits=3):
        return str(round(rng.uniform(lo, hi), digits))

    return {
        "Symbol": symbol.upper(), "AssetType": "Common Stock", "Name": name,
        "Description": f"{name} makes and sells products that exist only in test data.",
        "CIK": str(rng.randrange(1000, 2000000)),
        "Exchange": rng.choice(["NYSE", "NASDAQ"]), "Currency": "USD", "Country": "USA",
        "Sector": sector, "Industry": industry, "Address": "None",
        "OfficialSite": "None", "FiscalYearEnd": "December",
        "LatestQuarter": quarter_end(series.bars[-1].key).isoformat(),
        "MarketCapitalization": str(int(close * shares)),
        "EBITDA": str(int(close * shares / rng.uniform(10, 40))),
        "PERatio": str(round(close / eps, 2)), "PEGRatio": ratio(0.5, 3),
        "BookValue": ratio(1, 80, 2),
        "DividendPerShare": str(round(annual, 2)) if annual else "None",
        "DividendYield": str(round(annual / close, 4)) if annual else "0",
        "EPS": str(round(eps, 2)), "RevenuePerShareTTM": ratio(5, 120, 2),
        "ProfitMargin": ratio(0.01, 0.35), "OperatingMarginTTM": ratio(0.02, 0.4),
        "ReturnOnAssetsTTM": ratio(0.01, 0.2, 4), "ReturnOnEquityTTM": ratio(0.02, 0.5),
        "AnalystTargetPrice": str(round(close * rng.uniform(0.9, 1.3), 2)),
        "TrailingPE": str(round(close / eps, 2)), "ForwardPE": "None",
        "Beta": ratio(0.4, 2.0), "SharesOutstanding": str(shares),
        "DividendDate": last_dividend.isoformat() if last_dividend else "None",
        "ExDividendDate": last_dividend.isoformat() if last_dividend else "None",
    }


def quarter_end(day):
    month = (day.month - 1) // 3 * 3
    first_of_quarter = datetime.date(day.year, month + 1, 1)
    return first_of_quarter - datetime.timedelta(days=1)


SEARCH_LISTINGS = [
    ("{S}", "{N} Inc", "United States", "09:30", "16:00", "UTC-04", "USD"),
    ("{S}.LON", "{N} PLC", "United Kingdom", "08:00", "16:30", "UTC+01", "GBX"),
    ("{S}.DEX", "{N}", "XETRA", "08:00", "20:00", "UTC+02", "EUR"),
]


def generated_search(keywords):
    """SYMBOL_SEARCH matches: the keywords as a US ticker plus two foreign listings."""
    stem = re.sub(r"[^A-Za-z0-9]", "", keywords).upper()[:8] or "X"
    name = keywords.strip().title() or stem
    matches = []
    for i, (sym, nm, region, opens, closes, tz, currency) in enumerate(SEARCH_LISTINGS):
        matches.append({
            "1. symbol": sym.format(S=stem), "2. name": nm.format(N=name), "3. type": "Equity",
            "4. region": region, "5. marketOpen": opens, "6. marketClose": closes,
            "7. timezone": tz, "8. currency": currency, "9. matchScore": "%.4f" % (1 - 0.2 * i),
        })
    return matches


def search_csv(matches):
    lines = ["symbol,name,type,region,marketOpen,marketClose,timezone,currency,matchScore"]
    lines.extend(",".join(genpayload.csv_field(v) for v in m.values()) for m in matches)
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- the API functions

@functools.lru_cache(maxsize=64)
def weekly_payload(symbol, weeks, end, seed, restate, as_symbol, fmt, christmas_monday=False,
                   function="weekly_adjusted", dividends_current=False, events=(), exchange=None):
    """Tests fetch the same few symbols again and again; simulating one takes ~20 ms."""
    return genpayload.weekly_adjusted(symbol, weeks, end, seed, restate, as_symbol, fmt,
                                      christmas_monday, function, dividends_current, events,
                                      exchange)


class Api:
    """Normal answers to /query, given the server's configuration and state."""

    def __init__(self, config, state):
        self.config = config
        self.state = state

    def has_fixture(self, rel):
        return bool(self.config.fixtures) and os.path.isfile(os.path.join(self.config.fixtures, rel))

    def answer(self, params):
        key = params.get("apikey")
        if key != self.config.apikey:
            return message("demo" if key == "demo" else "invalid_apikey")
        throttle = self.state.limiter.admit()
        if throttle:
            self.state.count_throttled()
            return message(throttle, note=f"throttled:{throttle}")
        function = params.get("function", "")
        if function in PREMIUM_FUNCTIONS:
            return message(PREMIUM_FUNCTIONS[function])
        handler = {WEEKLY: self.weekly, "OVERVIEW": self.overview,
                   "SYMBOL_SEARCH": self.symbol_search}.get(function)
        if handler is None:
            return Answer(invalid_call(function), note="invalid_call")
        return handler(params)

    def weekly(self, params):
        symbol = params.get("symbol", "")
        mapping = self.state.mapping(symbol)
        if not symbol or mapping.get("unknown"):
            return Answer(invalid_call(WEEKLY), note="invalid_call")
        if mapping.get("file"):
            rel = mapping["file"]
            return Answer(read_fixture(self.config.fixtures, rel), content_type=content_type_for(rel),
                          note=f"file:{rel}")
        csv = params.get("datatype") == "csv"
        stored = None if csv or mapping else self.stored_payload(symbol)
        if stored:
            return Answer(stored, note="payload-dir")
        body = weekly_payload(
            symbol, mapping.get("weeks", self.config.weeks), mapping.get("end", self.config.end),
            mapping.get("seed"), mapping.get("restate", 1.0), mapping.get("as_symbol"),
            "api-csv" if csv else "json", mapping.get("christmas_monday", False),
            mapping.get("function", "weekly_adjusted"), mapping.get("dividends") == "current",
            genpayload.parse_events(mapping.get("events")), mapping.get("exchange"))
        if csv and mapping.get("crlf"):
            body = body.replace(b"\n", b"\r\n")
        return Answer(body, content_type="text/csv" if csv else "application/json")

    def stored_payload(self, symbol):
        """SYMBOL.json from --payload-dir, written beforehand by genpayload.py --out-dir."""
        if not self.config.payload_dir or "/" in symbol or symbol.startswith("."):
            return None
        for name in (symbol, symbol.upper()):
            path = os.path.join(self.config.payload_dir, name + ".json")
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    return f.read()
        return None

    def overview(self, params):
        symbol = params.get("symbol", "")
        if not symbol:
            return Answer(invalid_call("OVERVIEW"), note="invalid_call")
        mapping = self.state.mapping(symbol)
        if mapping.get("unknown"):
            return Answer(b"{}", note="unknown")  # what the API sends for unknown symbols
        rel = newest_fixture(self.config.fixtures, "overview", symbol.upper() + "_", ".json")
        if rel:
            return Answer(read_fixture(self.config.fixtures, rel), note=f"file:{rel}")
        series = genpayload.series(symbol, mapping.get("weeks", self.config.weeks),
                                   genpayload.as_date(mapping.get("end", self.config.end)),
                                   mapping.get("seed"))
        return Answer(json.dumps(generated_overview(symbol, series), indent=4).encode())

    def symbol_search(self, params):
        keywords = params.get("keywords", "")
        if not keywords:
            return Answer(invalid_call("SYMBOL_SEARCH"), note="invalid_call")
        csv = params.get("datatype") == "csv"
        suffix = ".csv" if csv else ".json"
        rel = f"symbol_search/{keywords.lower()}{suffix}"
        if "/" not in keywords and self.has_fixture(rel):
            return Answer(read_fixture(self.config.fixtures, rel), content_type=content_type_for(rel),
                          note=f"file:{rel}")
        unknown = self.state.mapping(keywords).get("unknown")
        matches = [] if unknown else generated_search(keywords)
        if csv:
            return Answer(search_csv(matches), content_type="text/csv")
        return Answer(json.dumps({"bestMatches": matches}, indent=4).encode())


# ---------------------------------------------------------------- control endpoints

def int_param(params, name, default=None, minimum=0):
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise ControlError(f"{name} must be an integer") from None
    if value < minimum:
        raise ControlError(f"{name} must be at least {minimum}")
    return value


def flag(params, name):
    return params.get(name, "") not in ("", "0", "false", "no")


BEHAVIOUR_KEYS = ("body", "message", "delay_ms", "reset", "truncate", "hang", "redirect", "extra",
                  "echo_key")
ECHO_FORMS = ("whole", "cut", "middle", "lower")
ECHO_IN = ("error", "note", "html")


def parse_behaviour(params, fixtures):
    kinds = [k for k in BEHAVIOUR_KEYS if k in params]
    if len(kinds) > 1:
        raise ControlError("give only one of " + ", ".join(BEHAVIOUR_KEYS))
    if not kinds and "status" not in params:
        raise ControlError("give one of " + ", ".join(BEHAVIOUR_KEYS) + " or status")
    kind = kinds[0] if kinds else "status"
    b = Behaviour(kind, status=int_param(params, "status", 200, 100),
                  content_type=params.get("content_type"), bom=flag(params, "bom"))
    if kind == "body":
        fixture_path(fixtures, params["body"])
        b.value = params["body"]
        b.content_type = b.content_type or content_type_for(b.value)
    elif kind == "message":
        b.value = params["message"]
        if b.value not in MESSAGES and b.value not in ("invalid_call", "html503"):
            raise ControlError(f"unknown message {b.value}")
        if b.value == "html503":
            b.status = int_param(params, "status", 503, 100)
            b.content_type = b.content_type or "text/html"
    elif kind == "status":
        b.content_type = b.content_type or "text/html"
    elif kind == "delay_ms":
        b.kind, b.value = "delay", int_param(params, "delay_ms")
    elif kind == "truncate":
        b.value = int_param(params, "truncate")
        b.full_length = params.get("length") == "full"
    elif kind == "redirect":
        if params["redirect"] not in ("same", "other"):
            raise ControlError("redirect is same or other")
        b.value = params["redirect"]
        b.status = int_param(params, "status", 302, 300)
    elif kind == "extra":
        if not params["extra"]:
            raise ControlError("extra names the symbol of the second response")
        b.value = params["extra"]
        b.delay_ms = int_param(params, "extra_delay_ms", 50)
    elif kind == "echo_key":
        b.value = params["echo_key"]
        b.echo_in = params.get("echo_in", "error")
        b.pad = int_param(params, "pad", 0)
        if b.value not in ECHO_FORMS or b.echo_in not in ECHO_IN:
            raise ControlError("echo_key is one of " + ", ".join(ECHO_FORMS) + "; echo_in one of "
                               + ", ".join(ECHO_IN))
    return b


def parse_mapping(params, fixtures):
    mapping = {}
    if "weeks" in params:
        mapping["weeks"] = int_param(params, "weeks", minimum=1)
    if "end" in params:
        try:
            mapping["end"] = datetime.date.fromisoformat(params["end"])
        except ValueError:
            raise ControlError("end must be YYYY-MM-DD") from None
    if "seed" in params:
        mapping["seed"] = params["seed"]
    if "restate" in params:
        try:
            mapping["restate"] = float(params["restate"])
        except ValueError:
            raise ControlError("restate must be a number") from None
    if params.get("as_symbol"):
        mapping["as_symbol"] = params["as_symbol"]
    if "events" in params:
        try:
            genpayload.parse_events(params["events"])
        except ValueError as e:
            raise ControlError(str(e)) from None
        mapping["events"] = params["events"]
    if "dividends" in params:
        if params["dividends"] not in ("raw", "current"):
            raise ControlError("dividends must be raw or current") from None
        mapping["dividends"] = params["dividends"]
    if params.get("exchange"):
        if params["exchange"] not in genpayload.EXCHANGE_SUFFIXES:
            raise ControlError("exchange is one of " + ", ".join(sorted(genpayload.EXCHANGE_SUFFIXES)))
        mapping["exchange"] = params["exchange"]
    if params.get("file"):
        fixture_path(fixtures, params["file"])
        mapping["file"] = params["file"]
    if params.get("function"):
        if params["function"] not in genpayload.OTHER_FUNCTIONS:
            raise ControlError("function is one of " + ", ".join(sorted(genpayload.OTHER_FUNCTIONS)))
        mapping["function"] = params["function"]
    for name in ("unknown", "crlf", "christmas_monday"):
        if flag(params, name):
            mapping[name] = True
    return mapping


def jsonable(value):
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


class Control:
    """The /_control/ endpoints; each returns a JSON-ready object."""

    def __init__(self, config, state):
        self.config = config
        self.state = state

    def dispatch(self, name, params):
        handler = getattr(self, "do_" + name, None)
        if handler is None or name.startswith("_"):
            raise ControlError(f"unknown control endpoint {name}")
        return handler(params)

    def do_ping(self, params):
        return {"ok": True}

    def do_next(self, params):
        behaviour = parse_behaviour(params, self.config.fixtures)
        count = int_param(params, "count", 1, 1)
        self.state.enqueue(behaviour, count)
        return {"ok": True, "queued": count, "kind": behaviour.kind}

    def do_symbol(self, params):
        symbol = params.get("symbol")
        if not symbol:
            raise ControlError("symbol is required")
        mapping = None if flag(params, "clear") else parse_mapping(params, self.config.fixtures)
        self.state.set_mapping(symbol, mapping)
        return {"ok": True, "symbol": symbol,
                "mapping": mapping and {k: jsonable(v) for k, v in mapping.items()}}

    def do_limits(self, params):
        limiter = self.state.limiter
        limiter.configure(int_param(params, "rps"), int_param(params, "rpm"),
                          int_param(params, "rpd"))
        self.state.latency_ms = int_param(params, "latency_ms", self.state.latency_ms)
        return {"ok": True, **limiter.limits(), "latency_ms": self.state.latency_ms}

    def do_counts(self, params):
        return self.state.counts()

    def do_last(self, params):
        return self.state.last or {}

    def do_reset(self, params):
        self.state.reset()
        if flag(params, "limits"):
            self.state.limiter.configure(0, 0, 0)
            self.state.latency_ms = 0
        else:
            self.state.limiter.configure()
        return {"ok": True}


# ---------------------------------------------------------------- HTTP

def redact(path):
    return re.sub(r"(?i)(apikey=)[^&]*", r"\1REDACTED", path)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like the real service
    timeout = 300                   # idle keep-alive connections do not pile up forever

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and
        # delayed ACKs add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code="-", size="-"):
        pass  # one line per request is written by log_line, with the key redacted

    def log_message(self, fmt, *args):
        self.server.log(f"{self.address_string()} {fmt % args}")

    def log_line(self, status, size, note):
        self.server.log(f"{self.address_string()} {self.command} {redact(self.path)} "
                        f"{status} {size} {note}")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/query":
            self.query(url, params)
        elif url.path.startswith("/_control/"):
            self.control(url.path[len("/_control/"):], params)
        else:
            self.send(Answer(b'{"ok": false, "error": "not found"}', 404, note="not found"))

    # -- /query

    def query(self, url, params):
        server = self.server
        server.state.record({"method": self.command, "path": url.path, "query": url.query,
                             "params": params, "headers": dict(self.headers.items()),
                             "client": self.client_address[0]})
        behaviour = server.state.next_behaviour()
        if server.state.latency_ms:
            server.stopping.wait(server.state.latency_ms / 1000)
        if behaviour is None:
            self.send(server.api.answer(params))
        else:
            self.act(behaviour, params)

    def act(self, b, params):
        if b.kind == "reset":
            return self.reset_connection()
        if b.kind == "hang":
            self.server.stopping.wait(60)
            self.close_connection = True
            return self.log_line("-", 0, "queued:hang")
        if b.kind == "delay":
            self.server.stopping.wait(b.value / 1000)
            answer = self.server.api.answer(params)
            answer.note = f"queued:delay {answer.note}"
            return self.send(answer)
        if b.kind == "truncate":
            return self.send_truncated(self.server.api.answer(params), b.value, b.full_length)
        if b.kind == "redirect":
            return self.send_redirect(b)
        if b.kind == "extra":
            return self.send_with_extra(b, params)
        if b.kind == "echo_key":
            return self.send(echo_key_answer(b, params.get("apikey", "")))
        self.send(self.scripted_answer(b, params))

    def send_with_extra(self, b, params):
        """The answer, then a second complete response on the same connection, unasked."""
        self.send(self.server.api.answer(params))
        extra = weekly_payload(b.value, self.server.config.weeks, self.server.config.end,
                               "extra-response", 1.0, None, "json")
        self.server.stopping.wait(b.delay_ms / 1000)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(extra)}\r\n\r\n".encode() + extra)
        self.log_line(200, len(extra), f"queued:extra:{b.value}")

    def send_redirect(self, b):
        """Same host: the same path on this server; other: a host that is never contacted."""
        host = self.headers.get("Host", "127.0.0.1") if b.value == "same" else "elsewhere.invalid"
        self.send_response(b.status)
        self.send_header("Location", f"http://{host}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.log_line(b.status, 0, f"queued:redirect:{b.value}")

    def scripted_answer(self, b, params):
        if b.kind == "body":
            body = read_fixture(self.server.config.fixtures, b.value)
        elif b.kind == "message" and b.value == "invalid_call":
            body = invalid_call(params.get("function", ""))
        elif b.kind == "message" and b.value == "html503":
            body = HTML_503
        elif b.kind == "message":
            body = MESSAGES[b.value]
        else:
            body = HTML_503
        note = f"queued:{b.kind}" + (f":{b.value}" if b.value is not None else "")
        return Answer(BOM + body if b.bom else body, b.status,
                      b.content_type or "application/json", note)

    def reset_connection(self):
        """A TCP RST instead of an answer: SO_LINGER 0, then close at once."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.log_line("-", 0, "queued:reset")
        self.connection.close()

    def send_truncated(self, answer, size, full_length):
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        if full_length:
            self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer.body[:size])
        self.log_line(answer.status, min(size, len(answer.body)),
                      f"queued:truncate:{size}{' length=full' if full_length else ''}")

    # -- /_control/

    def control(self, name, params):
        try:
            result = self.server.control.dispatch(name, params)
            status = 200
        except ControlError as e:
            result, status = {"ok": False, "error": str(e)}, 400
        self.send(Answer(json.dumps(result, indent=1).encode() + b"\n", status, note="control"))

    # -- plumbing

    def send(self, answer):
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)
        self.log_line(answer.status, len(answer.body), answer.note)


@dataclass
class Config:
    apikey: str
    fixtures: str = None
    payload_dir: str = None
    weeks: int = genpayload.DEFAULT_WEEKS
    end: datetime.date = genpayload.DEFAULT_END


class StandinServer(http.server.ThreadingHTTPServer):
    daemon_threads = True          # hanging answers must not keep the process alive
    request_queue_size = 128       # benchmarks open many connections at once

    def __init__(self, address, config, state, log_file):
        super().__init__(address, Handler)
        self.config = config
        self.state = state
        self.api = Api(config, state)
        self.control = Control(config, state)
        self.stopping = threading.Event()
        self.log_lock = threading.Lock()
        self.log_file = log_file

    def log(self, line):
        stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
        with self.log_lock:
            self.log_file.write(f"{stamp} {line}\n")
            self.log_file.flush()

    def handle_error(self, request, client_address):
        # Clients that give up (timeouts, resets) are part of the tests, not server faults.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------- main

def write_port_file(path, port):
    """Write then rename, so that a caller polling for the file never reads half of it."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Local stand-in for the Alpha Vantage API.")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="where to write the port actually used")
    p.add_argument("--apikey", required=True)
    p.add_argument("--fixtures", help="folder of real API responses to serve from")
    p.add_argument("--payload-dir",
                   help="serve SYMBOL.json from here when it exists (genpayload.py --out-dir)")
    p.add_argument("--weeks", type=int, default=genpayload.DEFAULT_WEEKS)
    p.add_argument("--end", type=datetime.date.fromisoformat, default=genpayload.DEFAULT_END)
    p.add_argument("--rps", type=int, default=0)
    p.add_argument("--rpm", type=int, default=0)
    p.add_argument("--rpd", type=int, default=0)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--log", help="request log (default: stderr)")
    p.add_argument("--tls-cert", help="serve https with this certificate chain (PEM)")
    p.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.fixtures and not os.path.isdir(args.fixtures):
        p.error(f"--fixtures {args.fixtures} is not a folder")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log_file = open(args.log, "a") if args.log else sys.stderr
    state = State(Limiter(args.rps, args.rpm, args.rpd), args.latency_ms)
    config = Config(args.apikey, args.fixtures, args.payload_dir, args.weeks, args.end)
    server = StandinServer(("127.0.0.1", args.port), config, state, log_file)
    if args.tls_cert:
        # The handshake happens in accept(): a client that refuses the certificate is an
        # OSError there, which the server ignores.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                     daemon=True).start()
    server.log(f"listening on 127.0.0.1:{port}")
    if args.port_file:
        write_port_file(args.port_file, port)
    while not stop.wait(0.5):
        pass
    server.log("stopping")
    server.stopping.set()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
