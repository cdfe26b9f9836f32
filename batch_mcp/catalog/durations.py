"""ISO 8601 durations as Batch accepts them: one parser for the server's argument check and the
local emulator, so a duration one accepts the other accepts too.

The designator form is parsed by `isodate`: years, months, weeks, days, hours, minutes and seconds,
fractions included (`P3Y6M4DT12H30M5S`, `P1M`, `P2W`, `PT1.5S`). The service converts a duration
to a .NET `TimeSpan` as `XmlConvert` does, a year being 365 days and a month 30, so a duration
here is a plain `timedelta` computed the same way. Not accepted: negative durations, the
alternative form (`P0003-06-04T12:30:05`), and a bare `P`/`PT` or a trailing `T` with nothing
after it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import isodate

YEAR_DAYS = 365
MONTH_DAYS = 30


def parse_duration(text: str) -> timedelta:
    """The duration `text` stands for; ValueError when it is not one Batch accepts, OverflowError
    when it is longer than a `timedelta` can hold."""
    if not isinstance(text, str) or not text.startswith("P") or text.endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    if "-" in text or ":" in text:
        raise ValueError(f"not an ISO 8601 duration in designator form (like PT1H30M): {text!r}")
    try:
        value = isodate.parse_duration(text)
    except isodate.ISO8601Error as exc:
        raise ValueError(f"not an ISO 8601 duration: {text!r}") from exc
    if isinstance(value, timedelta):
        return value
    months = Decimal(str(value.months))
    years = Decimal(str(value.years)) + months // 12
    days = years * YEAR_DAYS + (months % 12) * MONTH_DAYS
    return value.tdelta + timedelta(days=float(days))


def is_duration(value: object) -> bool:
    """For a JSON Schema `duration` format check: whether `value` is a duration Batch accepts."""
    if not isinstance(value, str):
        return True  # the format applies to strings only; `type` rules on the rest
    try:
        parse_duration(value)
    except ValueError:
        return False
    except OverflowError:
        return True  # well formed; how long is too long is for the service to judge
    return True
