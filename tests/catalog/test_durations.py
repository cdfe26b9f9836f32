"""ISO 8601 durations: one parser (isodate underneath) for the server's `duration` format check and
the emulator, with years, months and weeks read as the service's .NET conversion reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_mcp.catalog import load_catalog
from batch_mcp.catalog.durations import is_duration, parse_duration
from batch_mcp.catalog.validation import validation_errors
from batch_mcp.emulator.timefmt import UNLIMITED, UNLIMITED_TEXT
from batch_mcp.emulator.timefmt import parse_duration as emulator_parse

ACCEPTED = {
    "PT30M": timedelta(minutes=30),
    "P1DT2H": timedelta(days=1, hours=2),
    "P1M": timedelta(days=30),
    "P3Y6M4DT12H30M5S": timedelta(days=3 * 365 + 6 * 30 + 4, hours=12, minutes=30, seconds=5),
    "P18M": timedelta(days=365 + 6 * 30),  # a year's worth of months counts as a year, as in .NET
    "P2W": timedelta(days=14),
    "PT0.5S": timedelta(milliseconds=500),
    "PT1,5S": timedelta(seconds=1.5),
    "P0D": timedelta(0),
}
REFUSED = ["", "P", "PT", "P1DT", "-PT1H", "P0003-06-04T12:30:05", "pt1h", " PT1H", "PT1H ", "1H", "PT1X", "P1.5"]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED.items())
def test_designator_durations_parse_to_the_services_timespan(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert is_duration(text)


@pytest.mark.parametrize("text", REFUSED)
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
    assert not is_duration(text)


def test_the_emulator_reads_unlimited_and_overlong_durations_as_unlimited() -> None:
    assert emulator_parse(UNLIMITED_TEXT) == UNLIMITED
    assert emulator_parse("P99999999999Y") == UNLIMITED
    assert is_duration("P99999999999Y")  # well formed: the format check does not judge length


@settings(max_examples=200, deadline=None)
@given(
    parts=st.tuples(*(st.integers(0, 500) for _ in range(7))),
    present=st.lists(st.booleans(), min_size=7, max_size=7).filter(any),
)
def test_every_designator_combination_parses_to_its_sum(parts: tuple[int, ...], present: list[bool]) -> None:
    chosen = (v if on else None for v, on in zip(parts, present, strict=True))
    years, months, weeks, days, hours, minutes, seconds = chosen
    date = "".join(f"{v}{u}" for v, u in ((years, "Y"), (months, "M"), (weeks, "W"), (days, "D")) if v is not None)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if v is not None)
    text = "P" + date + (f"T{time}" if time else "")
    m = months or 0
    expected = timedelta(
        days=((years or 0) + m // 12) * 365 + (m % 12) * 30 + (weeks or 0) * 7 + (days or 0),
        hours=hours or 0,
        minutes=minutes or 0,
        seconds=seconds or 0,
    )
    assert parse_duration(text) == expected
    assert emulator_parse(text) == expected


def test_the_server_check_and_the_emulator_agree_on_a_tools_duration_argument() -> None:
    """The format check behind every tool call is the emulator's parser: what one accepts, so does
    the other; a refused value names its path and what was expected."""
    validator = load_catalog("2024-02-01.19.0").validator("pool_resize")
    assert validation_errors(validator, {"pool_id": "p", "targetDedicatedNodes": 1, "resizeTimeout": "P1M"}) == []
    [problem] = validation_errors(validator, {"pool_id": "p", "targetDedicatedNodes": 1, "resizeTimeout": "PT"})
    assert problem.startswith("$.resizeTimeout: expected an ISO 8601 duration")
