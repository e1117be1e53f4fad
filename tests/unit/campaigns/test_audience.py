"""A recipient's send window: their time zone from their number, the window's next opening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.campaigns.audience import check_audience, next_window_start, recipient_zone

NINE, EIGHT_PM = 9 * 60, 20 * 60


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("+5491155550000", "America/Buenos_Aires"),
        ("5491155550000", "America/Buenos_Aires"),
        ("+14155550100", "America/Los_Angeles"),
        ("not a number", "UTC"),
        (None, "UTC"),
    ],
)
def test_the_zone_comes_from_the_number(number: str | None, zone: str) -> None:
    assert recipient_zone(number) == ZoneInfo(zone)


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        # Buenos Aires is UTC-3: 02:00 UTC is 23:00 there, the window opens at 12:00 UTC.
        (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        # 11:59 UTC is 08:59 there: a minute to wait.
        (datetime(2026, 11, 25, 11, 59, tzinfo=UTC), datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        # 15:00 UTC is noon there: now.
        (datetime(2026, 11, 25, 15, 0, tzinfo=UTC), datetime(2026, 11, 25, 15, 0, tzinfo=UTC)),
        # 23:00 UTC is 20:00 there, the end is excluded: tomorrow at nine.
        (datetime(2026, 11, 25, 23, 0, tzinfo=UTC), datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
    ],
)
def test_the_window_opens_at_the_next_local_nine(now: datetime, opens: datetime) -> None:
    zone = ZoneInfo("America/Buenos_Aires")
    found = next_window_start(now=now, zone=zone, start_minute=NINE, end_minute=EIGHT_PM)
    assert found == opens


@given(
    # hypothesis takes naive bounds and attaches the zone it draws.
    now=st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001
        max_value=datetime(2030, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(["Europe/Madrid", "America/New_York", "Asia/Kolkata", "UTC"]),
)
def test_the_answer_is_inside_the_window_and_within_a_day(now: datetime, zone: str) -> None:
    found = next_window_start(now=now, zone=ZoneInfo(zone), start_minute=NINE, end_minute=EIGHT_PM)
    local = found.astimezone(ZoneInfo(zone))
    assert now <= found <= now + timedelta(days=1, hours=1)
    assert NINE <= local.hour * 60 + local.minute < EIGHT_PM


def test_a_bad_audience_is_named_field_by_field() -> None:
    problems = check_audience({"tags_any": [""], "nonsense": 1})
    assert {p["field"] for p in problems} >= {"audience.tags_any.0", "audience.nonsense"}
    assert check_audience({"tags_any": ["vip"]}) == []
