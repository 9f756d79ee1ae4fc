"""Bank holidays of England and Wales, from the ``holidays`` package: the one calendar everything asks.

The days are those gov.uk lists: substitute days when a holiday falls at a weekend, and the one-off holidays
(2012's Diamond Jubilee, 2020's moved VE Day, 2022's Platinum Jubilee and state funeral, 2023's coronation).
"""

from __future__ import annotations

from datetime import date
from functools import cache

__all__ = ["bank_holidays", "is_bank_holiday"]

SUBDIVISIONS = ("ENG", "WLS")  # one list for both: Signpost covers England and Wales


@cache
def bank_holidays(year: int) -> frozenset[date]:
    """The bank holidays of England and Wales in ``year`` (always weekdays, as on gov.uk)."""
    import holidays  # loaded on first use: most commands never ask

    days: set[date] = set()
    for subdivision in SUBDIVISIONS:
        days |= set(holidays.country_holidays("GB", subdiv=subdivision, years=year, observed=True))
    # A holiday on a Saturday or Sunday is listed with its weekday substitute; the weekend day itself is not one.
    return frozenset(day for day in days if day.weekday() < 5)


def is_bank_holiday(day: date) -> bool:
    """True on a bank holiday in England and Wales."""
    return day in bank_holidays(day.year)
