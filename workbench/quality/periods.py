"""Reporting periods an analyst types: ``2025``, ``2025-Q1``, ``2025-03``, ``2025-01-01..2025-06-30``."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from workbench.errors import ConfigError

_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Period:
    """Days from ``start`` to ``end``, both included, and how the analyst wrote them."""

    start: date
    end: date
    label: str

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def parse_period(text: str) -> Period:
    """Read a period, or raise :class:`ConfigError` saying which forms are understood.

    >>> parse_period("2025-Q1")
    Period(start=datetime.date(2025, 1, 1), end=datetime.date(2025, 3, 31), label='2025-Q1')
    >>> parse_period("2024-02").end
    datetime.date(2024, 2, 29)
    """
    cleaned = text.strip()
    try:
        if m := _YEAR.match(cleaned):
            year = int(m[1])
            return Period(date(year, 1, 1), date(year, 12, 31), cleaned)
        if m := _QUARTER.match(cleaned):
            year, quarter = int(m[1]), int(m[2])
            first = 3 * quarter - 2
            return Period(date(year, first, 1), date(year, first + 2, calendar.monthrange(year, first + 2)[1]), f"{year}-Q{quarter}")
        if m := _MONTH.match(cleaned):
            year, month = int(m[1]), int(m[2])
            return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]), f"{year}-{month:02d}")
        if m := _RANGE.match(cleaned):
            start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if end < start:
                raise ConfigError(f"period {text!r} ends before it starts")
            return Period(start, end, f"{start}..{end}")
    except ValueError as exc:  # month 13, 30 February ...
        raise ConfigError(f"period {text!r} is not a real date: {exc}") from None
    raise ConfigError(f"period {text!r} is not understood: write a year (2025), a quarter (2025-Q1), a month (2025-03) "
                      "or a range of days (2025-01-01..2025-06-30)")
