"""The campaign page's hourly chart: bars at their own pixel size, scaled to the busiest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ovillo.campaigns.funnel import HourCounts
from ovillo.campaigns.views import hourly_chart

START = datetime(2026, 11, 26, 9, tzinfo=UTC)


def test_no_hours_draws_an_empty_chart_of_one_hour_s_width() -> None:
    chart = hourly_chart(())
    assert chart.bars == []
    assert chart.peak == 0
    assert chart.width > 0


def test_the_busiest_bar_fills_the_chart_and_the_others_scale_to_it() -> None:
    chart = hourly_chart((HourCounts(hour=START, sent=100, delivered=50, read=0),), height=120)
    tall = {bar["kind"]: bar["height"] for bar in chart.bars}
    assert tall == {"sent": 100, "delivered": 50, "read": 0}
    # Every bar stands on the same baseline, inside the chart.
    assert {bar["y"] + bar["height"] for bar in chart.bars} == {120 - 16}
    assert all(bar["y"] >= 0 for bar in chart.bars)


def test_a_bar_an_hour_keeps_its_width_however_long_the_campaign() -> None:
    def hours(n: int) -> tuple[HourCounts, ...]:
        return tuple(
            HourCounts(hour=START + timedelta(hours=i), sent=i + 1, delivered=i, read=0)
            for i in range(n)
        )

    short, long = hourly_chart(hours(2)), hourly_chart(hours(200))
    assert short.bars[0]["width"] == long.bars[0]["width"]
    assert long.width == 100 * short.width
    # Hours side by side, never overlapping: sent, delivered, read, then the next hour.
    xs = [bar["x"] for bar in long.bars]
    assert xs == sorted(xs)
    assert len(set(xs)) == len(xs)


def test_hours_are_named_under_their_bars_a_dozen_at_most() -> None:
    def hours(n: int) -> tuple[HourCounts, ...]:
        return tuple(
            HourCounts(hour=START + timedelta(hours=i), sent=1, delivered=1, read=1)
            for i in range(n)
        )

    few = hourly_chart(hours(3), height=120)
    assert [label["hour"] for label in few.labels] == [START + timedelta(hours=i) for i in range(3)]
    # Under the bars, inside the chart.
    assert all(
        max(b["y"] + b["height"] for b in few.bars) < label["y"] <= 120 for label in few.labels
    )
    many = hourly_chart(hours(200))
    assert 1 < len(many.labels) <= 12
    assert many.labels[0]["hour"] == START
