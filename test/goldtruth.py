#!/usr/bin/python3
"""What gold must say about generated series, from what the generator knows.

The generator knows each week's true events (its splits and dividends), its raw
volumes and its unrounded adjusted closes.  From those alone this prints, as CSV
for COPY, the answers the gold views must give, so that a test can compare every
column with them.  Nothing here reads the payload or PostgreSQL.

Usage:
    goldtruth.py weeks|years|actions SYMBOL... [--weeks N] [--end YYYY-MM-DD] [--events E]

Special dividends (--events special:...) count apart from the regular ones; distributions
in kind and spin-offs are no dividends at all.
"""

import argparse
import csv
import datetime
import math
import statistics
import sys
from fractions import Fraction

import genpayload


def as_sent(value):
    """A price as the payload states it: four decimals."""
    return Fraction("%.4f" % value)


def later_split_factors(bars):
    """For each week, the shares today for one share then: the product of later splits."""
    factors = [Fraction(1)] * len(bars)
    factor = Fraction(1)
    for i in range(len(bars) - 1, -1, -1):
        factors[i] = factor
        if bars[i].split:
            factor *= Fraction(bars[i].split[0], bars[i].split[1])
    return factors


def pearson(xs, ys):
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def week_rows(symbol, s):
    bars, adjusted = s.bars, s.adjusted
    factors = later_split_factors(bars)
    logs = [None] * len(bars)
    rows = []
    for i, bar in enumerate(bars):
        closed = not bar.partial
        ret = adjusted[i] / adjusted[i - 1] - 1 if closed and i > 0 else None
        logs[i] = math.log(adjusted[i] / adjusted[i - 1]) if ret is not None else None
        volume = bar.volume * factors[i]

        def trailing(k):
            return adjusted[i] / adjusted[i - k] - 1 if closed and i >= k else None

        def average(k):
            return statistics.fmean(adjusted[i - k + 1:i + 1]) if closed and i >= k - 1 else None

        corr = vol = mean_volume = None
        window = range(i - 51, i + 1)
        if closed and i >= 52:
            volumes = [float(bars[j].volume * factors[j]) for j in window]
            moves = [abs(logs[j]) for j in window]
            corr = pearson(volumes, moves)
            vol = statistics.stdev(logs[j] for j in window) * math.sqrt(52)
            mean_volume = statistics.fmean(volumes)
        rows.append([symbol, bar.key.isoformat(), bar.partial, ret, logs[i],
                     adjusted[i] / adjusted[0] - 1 if closed else None,
                     trailing(4), trailing(13), trailing(52), average(13), average(52),
                     float(factors[i]), float(volume), corr, vol, mean_volume])
    return rows


def sessions(year):
    first = datetime.date(year, 1, 1)
    days = (first + datetime.timedelta(days=n) for n in range(366))
    return [d for d in days if d.year == year and genpayload.is_trading_day(d)]


def last_session_of_week(day):
    return max(genpayload.trading_days(genpayload.friday_of(day)))


def year_rows(symbol, s):
    """Split-adjusted dividends per calendar year, growth and streaks over complete years."""
    bars = s.bars
    factors = later_split_factors(bars)
    paid = {}
    for bar, factor in zip(bars, factors):
        if bar.dividend > bar.special:
            amount = (as_sent(bar.dividend) - as_sent(bar.special)) / factor
            total, count = paid.get(bar.key.year, (Fraction(0), 0))
            paid[bar.key.year] = (total + amount, count + 1)
    closed = [b.key for b in bars if not b.partial]
    if not paid or not closed:
        return []
    first_week, last_closed = bars[0].key, closed[-1]
    rows, previous = [], None
    for year in range(min(paid), last_closed.year + 1):
        days = sessions(year)
        complete = first_week <= last_session_of_week(days[0]) and last_closed >= days[-1]
        total, count = paid.get(year, (Fraction(0), 0))
        growth = streak = None
        # a base year paid its schedule all year: at least as many payments as this one
        if previous and complete and previous["complete"] and previous["total"] > 0 \
                and previous["count"] >= count:
            growth = float(total / previous["total"]) - 1
        if complete:
            streak = previous["streak"] + 1 if growth is not None and total > previous["total"] else 0
        rows.append([symbol, year, complete, count, float(total), growth, streak])
        previous = {"complete": complete, "total": total, "streak": streak, "count": count}
    return rows


def action_rows(symbol, s):
    factors = later_split_factors(s.bars)
    rows = []
    for bar, factor in zip(s.bars, factors):
        if bar.split:
            rows.append([symbol, bar.key.isoformat(), "split", None, None, bar.split[0], bar.split[1],
                         None])
        if bar.dividend > bar.special:
            amount = as_sent(bar.dividend) - as_sent(bar.special)
            rows.append([symbol, bar.key.isoformat(), "dividend", float(amount),
                         float(amount / factor), None, None, None])
        if bar.special:
            amount = as_sent(bar.special)
            rows.append([symbol, bar.key.isoformat(), "special dividend", float(amount),
                         float(amount / factor), None, None, None])
        if bar.distribution:
            amount = as_sent(bar.distribution)
            rows.append([symbol, bar.key.isoformat(), "distribution", float(amount),
                         float(amount / factor), None, None, bar.jump])
        elif bar.jump != 1:
            rows.append([symbol, bar.key.isoformat(), "other adjustment", None, None, None, None,
                         bar.jump])
    return rows


TABLES = {"weeks": week_rows, "years": year_rows, "actions": action_rows}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("table", choices=sorted(TABLES))
    p.add_argument("symbols", nargs="+")
    p.add_argument("--weeks", type=int, default=genpayload.DEFAULT_WEEKS)
    p.add_argument("--end", type=datetime.date.fromisoformat, default=genpayload.DEFAULT_END)
    p.add_argument("--events", type=genpayload.parse_events, default=())
    args = p.parse_args(argv)
    out = csv.writer(sys.stdout, lineterminator="\n")
    for symbol in args.symbols:
        s = genpayload.series(symbol, args.weeks, args.end, events=args.events)
        for row in TABLES[args.table](symbol, s):
            out.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return 0


if __name__ == "__main__":
    sys.exit(main())
