#!/usr/bin/python3
"""Deterministic TIME_SERIES_WEEKLY_ADJUSTED payloads in the Alpha Vantage format.

The series is simulated week by week from a fixed epoch, so a symbol's history does
not depend on --end or --weeks: a later --end adds weeks and restates adjusted closes
exactly as a later fetch from the real API would, while older raw bars stay the same.

Usage:
    genpayload.py SYMBOL [--weeks N] [--end YYYY-MM-DD] [--seed S]
                  [--format json|csv|api-csv] [--truth]
                  [--restate-factor F] [--as-symbol OTHER] [--exchange TSX|LSE]
                  [--christmas-monday] [--function weekly_adjusted|weekly|monthly_adjusted|daily]
                  [--dividends-on-current-basis] [--events KIND:DATE:VALUE[:FACTOR],...]
    genpayload.py --out-dir DIR (--symbols-file F | --count N [--prefix P]) [same options]
"""

import argparse
import dataclasses
import datetime
import functools
import hashlib
import json
import math
import os
import random
import sys
from dataclasses import dataclass

DEFAULT_END = datetime.date(2024, 4, 15)
DEFAULT_WEEKS = 260

# Every series starts here so that a week's values depend only on the seed and the
# calendar. Windows reaching further back start earlier and lose that property.
EPOCH = datetime.date(1990, 1, 5)

# With the noise clipped to three sigmas this keeps weekly volumes below 1e9 (and so
# below 2**31), like every real series in the fixtures.
MAX_DAILY_VOLUME = 6e7

ONE_DAY = datetime.timedelta(days=1)
ONE_WEEK = datetime.timedelta(days=7)

# Unscheduled full-day NYSE closures; the week of September 11, 2001 is keyed by its Monday.
SPECIAL_CLOSURES = frozenset(datetime.date.fromisoformat(d) for d in (
    "1994-04-27", "2001-09-11", "2001-09-12", "2001-09-13", "2001-09-14",
    "2004-06-11", "2007-01-02", "2012-10-29", "2012-10-30", "2018-12-05",
    "2025-01-09",
))


# ---------------------------------------------------------------- calendar

def easter_sunday(year):
    """Gregorian Easter (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return datetime.date(year, month, day + 1)


def nth_weekday(year, month, weekday, n):
    """The n-th given weekday of a month; n = -1 means the last one."""
    if n > 0:
        first = datetime.date(year, month, 1)
        return first + datetime.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    following = datetime.date(year + month // 12, month % 12 + 1, 1)
    last = following - ONE_DAY
    return last - datetime.timedelta(days=(last.weekday() - weekday) % 7)


def observed(day):
    """Saturday holidays are observed on Friday, Sunday holidays on Monday."""
    if day.weekday() == 5:
        return day - ONE_DAY
    if day.weekday() == 6:
        return day + ONE_DAY
    return day


@functools.lru_cache(maxsize=None)
def nyse_holidays(year):
    days = {
        nth_weekday(year, 2, 0, 3),           # Presidents Day
        easter_sunday(year) - 2 * ONE_DAY,    # Good Friday
        nth_weekday(year, 5, 0, -1),          # Memorial Day
        observed(datetime.date(year, 7, 4)),
        nth_weekday(year, 9, 0, 1),           # Labor Day
        nth_weekday(year, 11, 3, 4),          # Thanksgiving
        observed(datetime.date(year, 12, 25)),
    }
    # NYSE does not close on December 31 when New Year's Day is a Saturday.
    new_year = datetime.date(year, 1, 1)
    if new_year.weekday() != 5:
        days.add(observed(new_year))
    if year >= 1998:
        days.add(nth_weekday(year, 1, 0, 3))  # third Monday of January
    if year >= 2022:
        days.add(observed(datetime.date(year, 6, 19)))  # Juneteenth
    days.update(d for d in SPECIAL_CLOSURES if d.year == year)
    return frozenset(days)


def is_trading_day(day):
    return day.weekday() < 5 and day not in nyse_holidays(day.year)


def trading_days(friday):
    """Trading days of the Monday-to-Friday week that ends on `friday`."""
    monday = friday - 4 * ONE_DAY
    days = (monday + n * ONE_DAY for n in range(5))
    return [d for d in days if is_trading_day(d)]


# ---------------------------------------------------------------- other exchanges
# With exchange="TSX" or "LSE" (--exchange) a series is simulated on that exchange's
# calendar (stockelt's own rules, written again here); without, on New York's, as before.
# Toronto listings have, as the provider sends them, two keys in a week whose Christmas
# or Boxing Day falls between sessions: the last session before the holiday, and the week's
# last session.

EXCHANGE_SUFFIXES = {"TSX": ".TO", "LSE": ".LON"}

LSE_EXTRA_CLOSURES = frozenset(datetime.date.fromisoformat(d) for d in (
    "1977-06-07", "1981-07-29", "1999-12-31", "2002-06-03", "2011-04-29", "2012-06-05",
    "2022-06-03", "2022-09-19", "2023-05-08",
))


def next_monday(day):
    """Weekend holidays are observed on the next Monday."""
    return day + datetime.timedelta(days={5: 2, 6: 1}.get(day.weekday(), 0))


def christmas_days(year):
    """Christmas and Boxing Day, a weekend one moved past December 26."""
    dow = datetime.date(year, 12, 25).weekday()
    return {datetime.date(year, 12, 27 if dow >= 5 else 25),
            datetime.date(year, 12, 28 if dow in (4, 5) else 26)}


@functools.lru_cache(maxsize=None)
def tsx_holidays(year):
    may24 = datetime.date(year, 5, 24)
    days = {
        next_monday(datetime.date(year, 1, 1)),
        easter_sunday(year) - 2 * ONE_DAY,              # Good Friday
        may24 - datetime.timedelta(days=may24.weekday()),  # Victoria Day
        next_monday(datetime.date(year, 7, 1)),         # Canada Day
        nth_weekday(year, 8, 0, 1),                     # Civic Holiday
        nth_weekday(year, 9, 0, 1),                     # Labour Day
        nth_weekday(year, 10, 0, 2),                    # Thanksgiving
    } | christmas_days(year)
    if year >= 2008:
        days.add(nth_weekday(year, 2, 0, 3))            # Family Day
    return frozenset(days)


@functools.lru_cache(maxsize=None)
def lse_holidays(year):
    easter = easter_sunday(year)
    days = {next_monday(datetime.date(year, 1, 1)), easter - 2 * ONE_DAY, easter + ONE_DAY,
            nth_weekday(year, 8, 0, -1)} | christmas_days(year)
    if year in (1995, 2020):
        days.add(datetime.date(year, 5, 8))             # early May, moved for VE Day
    elif year >= 1978:
        days.add(nth_weekday(year, 5, 0, 1))
    spring = {2002: datetime.date(2002, 6, 4), 2012: datetime.date(2012, 6, 4),
              2022: datetime.date(2022, 6, 2)}
    days.add(spring.get(year) or nth_weekday(year, 5, 0, -1))
    days.update(d for d in LSE_EXTRA_CLOSURES if d.year == year)
    return frozenset(days)


HOLIDAYS = {"NYSE": nyse_holidays, "TSX": tsx_holidays, "LSE": lse_holidays}


def sessions(friday, exchange):
    """Sessions of the Monday-to-Friday week that ends on `friday` on an exchange."""
    monday = friday - 4 * ONE_DAY
    days = (monday + n * ONE_DAY for n in range(5))
    return [d for d in days if d.weekday() < 5 and d not in HOLIDAYS[exchange](d.year)]


def split_session(friday, exchange):
    """Toronto: the last session before a Christmas holiday with sessions after it."""
    if exchange != "TSX":
        return None
    days = sessions(friday, exchange)
    holidays = christmas_days(friday.year)
    for before, after in zip(days, days[1:]):
        if any(before < h < after for h in holidays):
            return before
    return None


def split_keys(bar, day, before):
    """Two bars for one week: the sessions up to `day`, then the rest (same totals)."""
    n = len(before)
    share = before.index(day) + 1
    mid = rounded_price(bar.open + (bar.close - bar.open) * share / n)
    volume = max(int(bar.volume * share / n), 1)
    first = Bar(day, bar.open, max(bar.open, mid), min(bar.open, mid), mid, volume)
    second = Bar(bar.key, mid, bar.high, bar.low, bar.close, max(bar.volume - volume, 1),
                 bar.dividend, bar.split, bar.partial)
    return [first, second]


def friday_of(day):
    """The Friday closing the week of `day`; weekends belong to the week just ended."""
    return day + datetime.timedelta(days=4 - day.weekday()) if day.weekday() <= 4 \
        else day - datetime.timedelta(days=day.weekday() - 4)


# ---------------------------------------------------------------- symbol profile

def seed_int(symbol, seed=None):
    """A stable integer seed; the symbol's upper-case form unless a seed is given."""
    text = f"seed:{seed}" if seed is not None else f"symbol:{symbol.upper()}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass
class Profile:
    price: float            # close of the week before the epoch
    drift: float            # mean weekly log return
    sigma: float            # weekly volatility
    volume: float           # shares per trading day
    dividend_start: object  # first Friday with dividends, None for a non-payer
    dividend_yield: float
    dividend_phase: int     # dividends in months where month % 3 == phase
    ex_day: int             # index of the ex-dividend day within the week
    split_above: object     # price that makes a forward split likely, None for never


def draw_profile(rng):
    def log_uniform(lo, hi):
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))

    pays = rng.random() < 0.75
    late_start = rng.random() < 0.4
    start = EPOCH + ONE_WEEK * (rng.randrange(1, 1500) if late_start else 0)
    split_class = rng.random()
    return Profile(
        price=log_uniform(5, 150),
        drift=rng.gauss(0.0012, 0.0012),
        sigma=rng.uniform(0.025, 0.065),
        volume=log_uniform(1e5, 2e7),
        dividend_start=start if pays else None,
        dividend_yield=rng.uniform(0.008, 0.04),
        dividend_phase=rng.randrange(3),
        ex_day=rng.randrange(5),
        split_above=None if split_class < 0.2
        else rng.uniform(1000, 3000) if split_class > 0.9
        else rng.uniform(80, 500),
    )


def profile(symbol, seed=None):
    """The symbol's parameters, for callers that describe the company (OVERVIEW)."""
    return draw_profile(random.Random(seed_int(symbol, seed)))


# ---------------------------------------------------------------- simulation

@dataclass
class Bar:
    key: datetime.date
    open: float
    high: float
    low: float
    close: float
    volume: int
    dividend: float = 0.0
    split: tuple = None     # (numerator, denominator) of a split in this week
    partial: bool = False
    special: float = 0.0    # the part of `dividend` that is a special dividend (--events)
    distribution: float = 0.0  # a distribution in kind stated as a dividend (--events)
    jump: float = 1.0       # a factor jump no cash dividend explains (--events)


@dataclass
class State:
    close: float
    volume: float
    quarterly: float = None  # current dividend per share per quarter
    dividend_year: int = None


def rounded_price(x):
    """Cents above a dollar, four decimals below, never zero."""
    return max(round(x, 2) if x >= 1 else round(x, 4), 0.0001)


def choose_split(rng, prof, price):
    """A forward split when the price is high, a rare reverse split when it is tiny."""
    if price < 1.0:
        return (1, 10) if rng.random() < 0.03 else None
    if prof.split_above is None or price < prof.split_above or rng.random() >= 0.02:
        return None
    u = rng.random()
    if price >= 1500:
        return (20, 1) if u < 0.6 else (10, 1)
    if price >= 600:
        return (4, 1) if u < 0.5 else (7, 1) if u < 0.65 else (3, 1) if u < 0.85 else (5, 1)
    return (2, 1) if u < 0.7 else (3, 2) if u < 0.85 else (3, 1)


def dividend_week(prof, friday):
    return (prof.dividend_start is not None and friday >= prof.dividend_start
            and friday.month % 3 == prof.dividend_phase and 8 <= friday.day <= 14)


def next_dividend(rng, prof, state, friday):
    """The quarterly amount: raised most years, sometimes cut, never absurd."""
    if state.quarterly is None:
        state.quarterly = state.close * prof.dividend_yield / 4
    elif friday.year != state.dividend_year:
        u = rng.random()
        if u < 0.06:
            state.quarterly *= rng.uniform(0.5, 0.75)
        elif u < 0.85:
            state.quarterly *= rng.uniform(1.02, 1.12)
    if state.quarterly > 0.04 * state.close:
        state.quarterly = 0.01 * state.close
    state.dividend_year = friday.year
    q = state.quarterly
    return max(round(q, 2) if q >= 0.05 else round(q, 4), 0.0001)


def drift(prof, price):
    """Pulls prices of symbols that never split back toward plausible levels."""
    return prof.drift - 0.004 * max(0.0, math.log(price / 3000))


def simulate_week(rng, prof, state, friday, end, exchange="NYSE"):
    """One weekly bar, or None for a week without trading days up to `end`."""
    days = trading_days(friday) if exchange == "NYSE" else sessions(friday, exchange)
    traded = [d for d in days if d <= end]
    z, gap, vol_noise = rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)
    up, down = rng.expovariate(1), rng.expovariate(1)
    split = choose_split(rng, prof, state.close) if len(days) >= 2 else None
    split_day = rng.randrange(1, len(days)) if split else None
    dividend = 0.0
    if dividend_week(prof, friday) and not split:
        dividend = next_dividend(rng, prof, state, friday)
    if not traded:
        return None

    n = len(traded)
    daily = prof.sigma / math.sqrt(5)
    spread = daily * math.sqrt(n) * 0.6
    open_ = rounded_price(state.close * math.exp(0.25 * daily * gap))
    close = open_ * math.exp(drift(prof, state.close) * n / 5 + daily * math.sqrt(n) * z)
    high = max(open_, close) * math.exp(up * spread)
    low = min(open_, close) * math.exp(-down * spread)
    noise = math.exp(0.35 * max(-3.0, min(3.0, vol_noise)))
    volume = state.volume * n * noise

    if split and split_day < n:
        ratio = split[0] / split[1]
        high, low = max(high, high / ratio), min(low, low / ratio)
        close /= ratio
        post_split = min(state.volume * ratio, MAX_DAILY_VOLUME)
        volume = (state.volume * split_day + post_split * (n - split_day)) * noise
        state.volume = post_split
        if state.quarterly is not None:
            state.quarterly /= ratio
    else:
        split = None
    if dividend and min(prof.ex_day, len(days) - 1) >= n:
        dividend = 0.0

    close = rounded_price(close)
    bar = Bar(traded[-1], open_, rounded_price(max(high, open_, close)),
              rounded_price(min(low, open_, close)), close, max(int(volume), 1),
              dividend, split, partial=n < len(days))
    state.close = close
    return bar


def simulate(symbol, weeks, end, seed=None, exchange=None):
    """Bars oldest first, from before the window to the week of `end`."""
    rng = random.Random(seed_int(symbol, seed))
    prof = draw_profile(rng)
    last_friday = friday_of(end)
    first_friday = min(EPOCH, last_friday - ONE_WEEK * (weeks + 2))
    state = State(close=prof.price, volume=prof.volume)
    exchange = exchange or "NYSE"
    bars = []
    friday = first_friday
    while friday <= last_friday:
        bar = simulate_week(rng, prof, state, friday, end, exchange)
        if bar is not None:
            day = split_session(friday, exchange)
            if day is not None and day < bar.key and not bar.split:
                traded = [d for d in sessions(friday, exchange) if d <= bar.key]
                bars.extend(split_keys(bar, day, traded))
            else:
                bars.append(bar)
        friday += ONE_WEEK
    return bars


# ---------------------------------------------------------------- adjusted series

@dataclass
class Series:
    symbol: str
    bars: list            # the window, oldest first
    adjusted: list        # unrounded adjusted closes, aligned with bars
    restate_factor: float = 1.0
    meta_symbol: str = None
    dividend_fields: list = None  # the dividend as the payload states it, when not bar.dividend

    @property
    def partial_week(self):
        return self.bars[-1].key if self.bars and self.bars[-1].partial else None


def event_factor(bar, previous_close):
    """How much a week's events scale the adjusted closes of all earlier weeks."""
    factor = 1.0
    if bar.split:
        factor *= bar.split[1] / bar.split[0]
    if bar.dividend:
        factor *= 1 - bar.dividend / previous_close
    return factor / bar.jump


def adjusted_closes(bars, before_close, restate_factor):
    """close(t) times the factors of every later event in the window."""
    result = [0.0] * len(bars)
    cumulative = restate_factor
    for i in range(len(bars) - 1, -1, -1):
        result[i] = bars[i].close * cumulative
        previous_close = bars[i - 1].close if i > 0 else before_close
        cumulative *= event_factor(bars[i], previous_close)
    return result


def as_date(value):
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


def christmas_week(bar):
    """True if the bar's week has Christmas on Tuesday to Friday."""
    christmas = datetime.date(bar.key.year, 12, 25)
    return friday_of(bar.key) == friday_of(christmas) and christmas.weekday() in (1, 2, 3, 4)


def with_christmas_mondays(bars):
    """Like a Toronto listing: a Christmas week traded after its Monday has two keys, the
    Monday before the holiday (a bar of that day alone) and the week's last session."""
    result = []
    for bar in bars:
        monday = friday_of(bar.key) - 4 * ONE_DAY
        if christmas_week(bar) and bar.key > monday and not bar.split and is_trading_day(monday):
            close = rounded_price(min(max((bar.open + bar.close) / 2, bar.low), bar.high))
            result.append(Bar(monday, bar.open, max(bar.open, close), min(bar.open, close),
                              close, max(bar.volume // 4, 1)))
        result.append(bar)
    return result


def dividends_on_current_basis(bars):
    """Each week's dividend on today's share basis: divided by the splits after it, as
    some listings state it while their raw prices stay on the basis of their week."""
    fields = [b.dividend + b.distribution for b in bars]
    factor = 1.0
    for i in range(len(bars) - 1, -1, -1):
        fields[i] = (bars[i].dividend + bars[i].distribution) / factor
        if bars[i].split:
            factor *= bars[i].split[0] / bars[i].split[1]
    return fields


def parse_events(text):
    """--events: comma-separated KIND:DATE:VALUE[:FACTOR], each in the week of DATE:
    special:D:A pays a special cash dividend A (on top of the week's own, if any);
    spinoff:D:F scales every earlier adjusted close by 1/F with no dividend field;
    distribution:D:A:F states a dividend A whose factor jump is F, not what A explains."""
    events = []
    for item in filter(None, (text or "").split(",")):
        kind, day, *values = item.split(":")
        if kind not in ("special", "spinoff", "distribution") \
                or len(values) != (2 if kind == "distribution" else 1):
            raise ValueError(f"bad event {item!r}")
        events.append((kind, datetime.date.fromisoformat(day), *map(float, values)))
    return tuple(events)


def with_events(bars, events):
    """The bars with the events applied, each to the bar of its week."""
    by_friday = {friday_of(kind_day[1]): kind_day for kind_day in events}
    result = []
    for bar in bars:
        event = by_friday.get(friday_of(bar.key))
        if event and event[0] == "special":
            bar = dataclasses.replace(bar, dividend=bar.dividend + event[2], special=event[2])
        elif event and event[0] == "spinoff":
            bar = dataclasses.replace(bar, jump=event[2])
        elif event:
            bar = dataclasses.replace(bar, distribution=event[2], jump=event[3])
        result.append(bar)
    return result


@functools.lru_cache(maxsize=32)
def series(symbol, weeks=DEFAULT_WEEKS, end=DEFAULT_END, seed=None,
           restate_factor=1.0, as_symbol=None, christmas_monday=False, dividends_current=False,
           events=(), exchange=None):
    end = as_date(end)
    bars = simulate(symbol, weeks, end, seed, exchange)
    if events:
        bars = with_events(bars, events)
    window = bars[-weeks:] if weeks > 0 else []
    if christmas_monday:
        window = with_christmas_mondays(window)
    before = bars[-weeks - 1].close if len(bars) > len(window) else window[0].open
    return Series(symbol, window, adjusted_closes(window, before, restate_factor),
                  restate_factor, as_symbol or symbol,
                  dividends_on_current_basis(window) if dividends_current
                  else [b.dividend + b.distribution for b in window] if events else None)


# ---------------------------------------------------------------- rendering

JSON_HEAD = """{
    "Meta Data": {
        "1. Information": "Weekly Adjusted Prices and Volumes",
        "2. Symbol": %s,
        "3. Last Refreshed": "%s",
        "4. Time Zone": "US/Eastern"
    },
    "Weekly Adjusted Time Series": {"""

JSON_WEEK = """
        "%s": {
            "1. open": "%.4f",
            "2. high": "%.4f",
            "3. low": "%.4f",
            "4. close": "%.4f",
            "5. adjusted close": "%.4f",
            "6. volume": "%d",
            "7. dividend amount": "%.4f"
        }"""


def newest_first(s):
    if s.dividend_fields is None:
        return zip(reversed(s.bars), reversed(s.adjusted))
    return zip(reversed(s.bars), reversed(s.adjusted), reversed(s.dividend_fields))


def week_fields(bar, adjusted, dividend=None):
    return (bar.key.isoformat(), bar.open, bar.high, bar.low, bar.close,
            adjusted, bar.volume, bar.dividend if dividend is None else dividend)


def render_json(s):
    """The exact layout of the API: 4-space indentation, no final newline."""
    head = JSON_HEAD % (json.dumps(s.meta_symbol), s.bars[-1].key.isoformat())
    body = ",".join(JSON_WEEK % week_fields(*w) for w in newest_first(s))
    return (head + body + "\n    }\n}").encode()


def csv_field(text):
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def render_csv(s):
    """Rows for COPY ... FROM ... (FORMAT csv, HEADER), newest first."""
    symbol = csv_field(s.meta_symbol)
    row = symbol + ",%s,%.4f,%.4f,%.4f,%.4f,%.4f,%d,%.4f\n"
    lines = ["symbol,week_ending,open,high,low,close,adjusted_close,volume,dividend_amount\n"]
    lines.extend(row % week_fields(*w) for w in newest_first(s))
    return "".join(lines).encode()


def render_api_csv(s, eol="\n"):
    """What the API sends for datatype=csv."""
    row = "%s,%.4f,%.4f,%.4f,%.4f,%.4f,%d,%.4f" + eol
    lines = ["timestamp,open,high,low,close,adjusted close,volume,dividend amount" + eol]
    lines.extend(row % week_fields(*w) for w in newest_first(s))
    return "".join(lines).encode()


def truth(s):
    """What the generator knows, oldest week first."""
    weeks = []
    for i, (bar, adjusted) in enumerate(zip(s.bars, s.adjusted)):
        ret = adjusted / s.adjusted[i - 1] - 1 if i > 0 else None
        weeks.append({"date": bar.key.isoformat(), "close": bar.close,
                      "adjusted_close": adjusted, "return": ret})
    return {
        "symbol": s.symbol,
        "meta_symbol": s.meta_symbol,
        "last_refreshed": s.bars[-1].key.isoformat() if s.bars else None,
        "partial_week": s.partial_week and s.partial_week.isoformat(),
        "restate_factor": s.restate_factor,
        "non_friday_weeks": [b.key.isoformat() for b in s.bars if b.key.weekday() != 4],
        "dividends": [{"date": b.key.isoformat(), "amount": "%.4f" % b.dividend}
                      for b in s.bars if b.dividend],
        "splits": [{"date": b.key.isoformat(), "numerator": b.split[0],
                    "denominator": b.split[1]} for b in s.bars if b.split],
        "weeks": weeks,
    }


def render_truth(s):
    return (json.dumps(truth(s), indent=1) + "\n").encode()


RENDERERS = {"json": render_json, "csv": render_csv, "api-csv": render_api_csv}

# Other functions' answers, which a weekly adjusted fetch must not take for its data:
# (series key, Meta Data information, whether bars have adjusted close and dividend).
OTHER_FUNCTIONS = {
    "weekly": ("Weekly Time Series", "Weekly Prices (open, high, low, close) and Volumes", False),
    "monthly_adjusted": ("Monthly Adjusted Time Series", "Monthly Adjusted Prices and Volumes", True),
    "daily": ("Time Series (Daily)", "Daily Prices (open, high, low, close) and Volumes", False),
}


def render_other_function(s, function):
    """The series in the layout of another function (the bars stay weekly)."""
    key, information, adjusted = OTHER_FUNCTIONS[function]
    weeks = {}
    for b, a in newest_first(s):
        fields = {"1. open": "%.4f" % b.open, "2. high": "%.4f" % b.high,
                  "3. low": "%.4f" % b.low, "4. close": "%.4f" % b.close}
        if adjusted:
            fields.update({"5. adjusted close": "%.4f" % a, "6. volume": "%d" % b.volume,
                           "7. dividend amount": "%.4f" % b.dividend})
        else:
            fields["5. volume"] = "%d" % b.volume
        weeks[b.key.isoformat()] = fields
    meta = {"1. Information": information, "2. Symbol": s.meta_symbol,
            "3. Last Refreshed": s.bars[-1].key.isoformat(), "4. Time Zone": "US/Eastern"}
    return json.dumps({"Meta Data": meta, key: weeks}, indent=4).encode()


def weekly_adjusted(symbol, weeks=DEFAULT_WEEKS, end=DEFAULT_END, seed=None,
                    restate_factor=1.0, as_symbol=None, fmt="json", christmas_monday=False,
                    function="weekly_adjusted", dividends_current=False, events=(), exchange=None):
    """The payload body as bytes; fmt is json, csv (COPY rows) or api-csv; function other
    than weekly_adjusted renders the series as that function's answer (JSON)."""
    s = series(symbol, weeks, as_date(end), seed, restate_factor, as_symbol, christmas_monday,
               dividends_current, events, exchange)
    if function != "weekly_adjusted":
        return render_other_function(s, function)
    return RENDERERS[fmt](s)


def weekly_truth(symbol, weeks=DEFAULT_WEEKS, end=DEFAULT_END, seed=None,
                 restate_factor=1.0, as_symbol=None, exchange=None):
    return truth(series(symbol, weeks, as_date(end), seed, restate_factor, as_symbol,
                        exchange=exchange))


# ---------------------------------------------------------------- command line

def parse_args(argv):
    p = argparse.ArgumentParser(description="Deterministic TIME_SERIES_WEEKLY_ADJUSTED payloads.")
    p.add_argument("symbol", nargs="?")
    p.add_argument("--weeks", type=int, default=DEFAULT_WEEKS)
    p.add_argument("--end", type=datetime.date.fromisoformat, default=DEFAULT_END)
    p.add_argument("--seed")
    p.add_argument("--format", choices=sorted(RENDERERS), default="json")
    p.add_argument("--truth", action="store_true",
                   help="print what the generator knows instead of the payload "
                        "(with --out-dir: also write SYMBOL.truth.json)")
    p.add_argument("--restate-factor", type=float, default=1.0)
    p.add_argument("--as-symbol")
    p.add_argument("--christmas-monday", action="store_true",
                   help="Christmas weeks traded after their Monday have two keys, the Monday "
                        "and the week's last session (as a Toronto listing has)")
    p.add_argument("--function", choices=["weekly_adjusted"] + sorted(OTHER_FUNCTIONS),
                   default="weekly_adjusted",
                   help="render the series as another function's answer instead")
    p.add_argument("--dividends-on-current-basis", action="store_true",
                   help="state each dividend divided by the splits after it (raw prices unchanged)")
    p.add_argument("--events", type=parse_events, default=(),
                   help="special:DATE:AMOUNT, spinoff:DATE:FACTOR, distribution:DATE:AMOUNT:FACTOR, "
                        "comma-separated")
    p.add_argument("--out-dir", help="write one SYMBOL.json (or .csv) per symbol")
    p.add_argument("--symbols-file", help="symbols for --out-dir, one a line")
    p.add_argument("--count", type=int, help="generate PREFIX1..PREFIXN for --out-dir")
    p.add_argument("--prefix", default="SYM")
    p.add_argument("--exchange", choices=sorted(EXCHANGE_SUFFIXES),
                   help="simulate on this exchange's calendar, and add its suffix to the symbols")
    args = p.parse_args(argv)
    if args.weeks < 1:
        p.error("--weeks must be at least 1")
    if args.out_dir is None and not args.symbol:
        p.error("a SYMBOL is required unless --out-dir is given")
    if args.out_dir is not None and not (args.symbols_file or args.count or args.symbol):
        p.error("--out-dir needs --symbols-file, --count or a SYMBOL")
    return args


def listed(args, symbol):
    suffix = EXCHANGE_SUFFIXES.get(args.exchange)
    if suffix and not symbol.upper().endswith(suffix):
        return symbol + suffix
    return symbol


def batch_symbols(args):
    if args.symbols_file:
        with open(args.symbols_file) as f:
            return [listed(args, line.strip()) for line in f
                    if line.strip() and not line.startswith("#")]
    if args.count:
        width = len(str(args.count))
        return [listed(args, f"{args.prefix}{i:0{width}d}") for i in range(1, args.count + 1)]
    return [listed(args, args.symbol)]


def render(s, args):
    if args.function != "weekly_adjusted":
        return render_other_function(s, args.function)
    return RENDERERS[args.format](s)


def write_file(path, data):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_batch(args):
    os.makedirs(args.out_dir, exist_ok=True)
    suffix = ".json" if args.format == "json" else ".csv"
    for symbol in batch_symbols(args):
        s = series(symbol, args.weeks, args.end, args.seed, args.restate_factor, args.as_symbol,
                   args.christmas_monday, args.dividends_on_current_basis, args.events,
                   args.exchange)
        base = os.path.join(args.out_dir, symbol)
        write_file(base + suffix, render(s, args))
        if args.truth:
            write_file(base + ".truth.json", render_truth(s))
        series.cache_clear()  # a batch never asks twice; keep memory flat


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.out_dir is not None:
        write_batch(args)
        return 0
    s = series(listed(args, args.symbol), args.weeks, args.end, args.seed, args.restate_factor,
               args.as_symbol, args.christmas_monday, args.dividends_on_current_basis, args.events,
               args.exchange)
    out = render_truth(s) if args.truth else render(s, args)
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
