"""Times and durations as the Batch wire writes them.

Entities carry ISO 8601 UTC timestamps (`2024-05-01T12:00:00.1234567Z`); headers carry RFC 1123
(`Wed, 01 May 2024 12:00:00 GMT`); durations are ISO 8601 (`PT1H30M`, `P1DT2H`, `P1M`), read by
`batch_mcp.catalog.durations`. The largest duration the service writes, meaning "unlimited", is
`P10675199DT2H48M5.4775807S`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from batch_mcp.catalog import durations

UNLIMITED = timedelta.max
UNLIMITED_TEXT = "P10675199DT2H48M5.4775807S"


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(moment: datetime | float) -> str:
    """The entity timestamp form, with 7 fractional digits like the service."""
    if not isinstance(moment, datetime):
        moment = from_epoch(moment)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (any fractional precision, Z or offset)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    match = re.match(r"^(.*?\.\d{1,6})\d*(.*)$", value)
    if match:
        value = match.group(1) + match.group(2)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc1123(moment: datetime | float) -> str:
    if not isinstance(moment, datetime):
        moment = from_epoch(moment)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_rfc1123(text: str) -> datetime:
    moment = parsedate_to_datetime(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_duration(text: str) -> timedelta:
    """ISO 8601 duration to timedelta, by the catalog's parser (the server's argument check uses
    the same one); the service's 'unlimited' value, and anything longer than a timedelta holds,
    map to timedelta.max."""
    if text == UNLIMITED_TEXT:
        return UNLIMITED
    try:
        return durations.parse_duration(text.strip())
    except OverflowError:
        return UNLIMITED


def format_duration(value: timedelta | float) -> str:
    if isinstance(value, timedelta):
        if value >= UNLIMITED:
            return UNLIMITED_TEXT
        seconds = value.total_seconds()
    else:
        seconds = float(value)
    days, rest = divmod(max(seconds, 0.0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "P"
    if days:
        text += f"{int(days)}D"
    text += "T"
    if hours:
        text += f"{int(hours)}H"
    if minutes:
        text += f"{int(minutes)}M"
    text += f"{secs:.3f}".rstrip("0").rstrip(".") + "S"
    return text


def duration_seconds(text: str | None, default: float | None = None) -> float | None:
    """Seconds of an optional duration; None or 'unlimited' → default."""
    if not text:
        return default
    value = parse_duration(text)
    if value >= UNLIMITED:
        return default
    return value.total_seconds()


def since(start: datetime | float, end: datetime | float) -> timedelta:
    if not isinstance(start, datetime):
        start = from_epoch(start)
    if not isinstance(end, datetime):
        end = from_epoch(end)
    return end - start


__all__ = [
    "UNLIMITED",
    "UNLIMITED_TEXT",
    "duration_seconds",
    "format_duration",
    "from_epoch",
    "iso",
    "parse_duration",
    "parse_iso",
    "parse_rfc1123",
    "rfc1123",
    "since",
    "utcnow",
]
