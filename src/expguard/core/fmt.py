"""How numbers are written for people, in one place: percentages, p-values, durations, counts, days.

Two percent forms are in use, each asserted where it is read: :func:`percent` (a fixed number
of decimals: two in the models' messages and details, one in ``diagnose``), and
:func:`percent_short` (the report's captions: whole points where decimals would be noise).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Iterable


def percent(value: float | None, digits: int = 1, none: str = "n/a") -> str:
    """A share as a percentage with ``digits`` decimals; ``none`` for None.

    >>> percent(0.3125, 2), percent(0.3125), percent(None), percent(None, none="-")
    ('31.25%', '31.2%', 'n/a', '-')
    """
    return none if value is None else f"{100 * value:.{digits}f}%"


def percent_short(value: float | None) -> str:
    """A share as a percentage, with one decimal where whole points would hide it ("-" for None).

    >>> percent_short(0.9213), percent_short(0.0412), percent_short(0.0004), percent_short(0.996), percent_short(None)
    ('92%', '4.1%', '0.04%', '99.6%', '-')
    """
    if value is None:
        return "-"
    points = 100 * value
    if 10 <= points <= 99:
        return f"{points:.0f}%"
    if 0 < abs(points) < 0.1:
        return f"{points:.2f}%"
    return f"{points:.1f}%".replace(".0%", "%")


def p_value(p: float) -> str:
    """A p-value in a short, readable form.

    >>> p_value(0.0123), p_value(1.5e-12), p_value(0.0)
    ('0.0123', '1.5e-12', '0')
    """
    if p == 0 or not math.isfinite(p):
        return f"{p:g}"
    return f"{p:.3g}" if p >= 1e-3 else f"{p:.2g}"


format_p_value = p_value


def p_text(p: float | None) -> str:
    """``p = 0.0123``; ``p < 1e-300`` where the float ran out.

    >>> p_text(0.0123), p_text(0.0), p_text(None)
    ('p = 0.0123', 'p < 1e-300', 'no p-value')
    """
    if p is None:
        return "no p-value"
    return "p < 1e-300" if p == 0 else f"p = {p_value(p)}"


def duration(seconds: float | None) -> str:
    """A lag for people.

    >>> duration(42), duration(600), duration(5400), duration(3 * 86400), duration(None)
    ('42 s', '10 min', '1.5 h', '3.0 d', 'n/a')
    """
    if seconds is None:
        return "n/a"
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    if s < 120:
        return f"{sign}{s:.0f} s"
    if s < 90 * 60:
        return f"{sign}{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86400:.1f} d"


def hours(value: float) -> str:
    """An age in hours, in days from two days on (the health checks' freshness).

    >>> hours(5.25), hours(72)
    ('5.2 h', '3.0 days')
    """
    return f"{value:,.1f} h" if value < 48 else f"{value / 24:,.1f} days"


def count(value: float | None, none: str = "n/a") -> str:
    """A count with thousands separators, rounded to a whole number.

    >>> count(1234.6), count(None)
    ('1,235', 'n/a')
    """
    return none if value is None else f"{value:,.0f}"


def units(n: int, noun: str = "unit") -> str:
    """``8,120 units``, ``1 unit``.

    >>> units(8120), units(1, "event")
    ('8,120 units', '1 event')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def plural(n: int, noun: str) -> str:
    """``noun`` with an ``s`` unless ``n`` is 1.

    >>> plural(1, "day"), plural(3, "day")
    ('day', 'days')
    """
    return noun if n == 1 else noun + "s"


def days_text(days: Iterable[dt.date]) -> str:
    """Dates as ranges.

    >>> days_text([dt.date(2026, 1, 3), dt.date(2026, 1, 4), dt.date(2026, 1, 5), dt.date(2026, 1, 9)])
    '2026-01-03..2026-01-05, 2026-01-09'
    """
    days = sorted(set(days))
    parts, start = [], None
    for i, day in enumerate(days):
        start = start or day
        if i + 1 == len(days) or days[i + 1] != day + dt.timedelta(days=1):
            parts.append(start.isoformat() if start == day else f"{start.isoformat()}..{day.isoformat()}")
            start = None
    return ", ".join(parts)
