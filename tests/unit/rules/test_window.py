"""Customer-service window and free entry point: documented edges and laws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.rules.window import (
    CUSTOMER_SERVICE_WINDOW,
    FREE_ENTRY_POINT_WINDOW,
    FreeEntryPoint,
    free_entry_point,
    free_form_allowed,
    latest_inbound_at,
    window_open,
    window_state,
)

INBOUND = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
NAIVE = INBOUND.replace(tzinfo=None)
HOUR = timedelta(hours=1)

ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=-3)),
        timezone(timedelta(hours=5, minutes=30)),
        ZoneInfo("America/Mexico_City"),
        ZoneInfo("Europe/Madrid"),
    ]
)
# hypothesis takes naive bounds and attaches the zone it draws.
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=ZONES,
)
OFFSETS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5))


def test_constants_are_metas_durations() -> None:
    assert timedelta(hours=24) == CUSTOMER_SERVICE_WINDOW
    assert timedelta(hours=72) == FREE_ENTRY_POINT_WINDOW


@pytest.mark.parametrize(
    ("since_inbound", "is_open", "remaining"),
    [
        pytest.param(timedelta(0), True, timedelta(hours=24), id="at-the-inbound-message"),
        pytest.param(HOUR, True, timedelta(hours=23), id="one-hour-later"),
        pytest.param(CUSTOMER_SERVICE_WINDOW - MICROSECOND, True, MICROSECOND, id="24h-minus-1us"),
        pytest.param(CUSTOMER_SERVICE_WINDOW, False, timedelta(0), id="exactly-24h"),
        pytest.param(CUSTOMER_SERVICE_WINDOW + MICROSECOND, False, timedelta(0), id="24h-plus"),
        pytest.param(timedelta(days=3), False, timedelta(0), id="days-later"),
    ],
)
def test_window_edges(since_inbound: timedelta, is_open: bool, remaining: timedelta) -> None:
    state = window_state(last_inbound_at=INBOUND, now=INBOUND + since_inbound)

    assert state.open is is_open
    assert state.opened_at == INBOUND
    assert state.closes_at == INBOUND + timedelta(hours=24)
    assert state.remaining == remaining
    assert window_open(last_inbound_at=INBOUND, now=INBOUND + since_inbound) is is_open
    assert free_form_allowed(last_inbound_at=INBOUND, now=INBOUND + since_inbound) is is_open


def test_no_inbound_message_means_no_window() -> None:
    state = window_state(last_inbound_at=None, now=INBOUND)

    assert state.open is False
    assert state.opened_at is None
    assert state.closes_at is None
    assert state.remaining == timedelta(0)


def test_offsets_are_compared_as_instants() -> None:
    sao_paulo_evening = INBOUND.astimezone(ZoneInfo("America/Sao_Paulo"))

    state = window_state(
        last_inbound_at=sao_paulo_evening,
        now=(INBOUND + CUSTOMER_SERVICE_WINDOW - MICROSECOND).astimezone(UTC),
    )

    assert state.open is True


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: window_state(last_inbound_at=None, now=NAIVE), id="now"),
        pytest.param(
            lambda: window_state(last_inbound_at=NAIVE, now=INBOUND),
            id="last_inbound_at",
        ),
        pytest.param(
            lambda: free_entry_point(
                referral_inbound_at=NAIVE,
                first_business_reply_at=INBOUND,
                now=INBOUND,
            ),
            id="referral_inbound_at",
        ),
        pytest.param(
            lambda: free_entry_point(
                referral_inbound_at=INBOUND,
                first_business_reply_at=NAIVE,
                now=INBOUND,
            ),
            id="first_business_reply_at",
        ),
        pytest.param(lambda: latest_inbound_at([INBOUND, NAIVE]), id="inbound_at"),
    ],
)
def test_naive_datetimes_are_refused_by_name(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


def test_latest_inbound_at_picks_the_latest_instant() -> None:
    earlier = INBOUND - HOUR
    same_instant_elsewhere = (INBOUND + HOUR).astimezone(timezone(timedelta(hours=-5)))

    assert latest_inbound_at([]) is None
    assert latest_inbound_at([earlier, same_instant_elsewhere, INBOUND]) == INBOUND + HOUR


REFERRAL = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reply_after_referral", "opens"),
    [
        pytest.param(timedelta(0), True, id="reply-at-once"),
        pytest.param(timedelta(hours=5), True, id="reply-within-24h"),
        pytest.param(CUSTOMER_SERVICE_WINDOW - MICROSECOND, True, id="reply-24h-minus-1us"),
        pytest.param(CUSTOMER_SERVICE_WINDOW, False, id="reply-exactly-24h"),
        pytest.param(timedelta(hours=30), False, id="reply-too-late"),
        pytest.param(-MICROSECOND, False, id="reply-before-referral"),
    ],
)
def test_free_entry_point_needs_a_reply_within_24h(
    reply_after_referral: timedelta, opens: bool
) -> None:
    reply = REFERRAL + reply_after_referral

    window = free_entry_point(
        referral_inbound_at=REFERRAL, first_business_reply_at=reply, now=reply
    )

    assert (window is not None) is opens


def test_free_entry_point_runs_72h_from_the_reply_not_from_the_referral() -> None:
    reply = REFERRAL + timedelta(hours=20)

    window = free_entry_point(
        referral_inbound_at=REFERRAL, first_business_reply_at=reply, now=reply
    )

    assert window == FreeEntryPoint(
        referral_inbound_at=REFERRAL,
        opens_at=reply,
        expires_at=reply + timedelta(hours=72),
        active=True,
    )


@pytest.mark.parametrize(
    ("since_reply", "active"),
    [
        pytest.param(-MICROSECOND, False, id="before-the-reply"),
        pytest.param(timedelta(0), True, id="at-the-reply"),
        pytest.param(FREE_ENTRY_POINT_WINDOW - MICROSECOND, True, id="72h-minus-1us"),
        pytest.param(FREE_ENTRY_POINT_WINDOW, False, id="exactly-72h"),
    ],
)
def test_free_entry_point_edges(since_reply: timedelta, active: bool) -> None:
    reply = REFERRAL + HOUR

    window = free_entry_point(
        referral_inbound_at=REFERRAL, first_business_reply_at=reply, now=reply + since_reply
    )

    assert window is not None
    assert window.active is active
    assert window.covers(reply + since_reply) is active


@pytest.mark.parametrize(
    ("referral", "reply"),
    [(None, REFERRAL), (REFERRAL, None), (None, None)],
    ids=["no-referral", "no-reply", "neither"],
)
def test_no_free_entry_point_without_referral_and_reply(
    referral: datetime | None, reply: datetime | None
) -> None:
    assert (
        free_entry_point(referral_inbound_at=referral, first_business_reply_at=reply, now=REFERRAL)
        is None
    )


def test_free_entry_point_does_not_allow_free_form_after_the_window_closes() -> None:
    window = free_entry_point(
        referral_inbound_at=REFERRAL, first_business_reply_at=REFERRAL, now=REFERRAL
    )
    later = REFERRAL + timedelta(hours=30)

    assert window is not None
    assert window.covers(later)
    assert free_form_allowed(last_inbound_at=REFERRAL, now=later) is False


@given(last_inbound=INSTANTS, offset=OFFSETS)
def test_law_window_is_open_for_exactly_24h(last_inbound: datetime, offset: timedelta) -> None:
    state = window_state(last_inbound_at=last_inbound, now=last_inbound + offset)

    assert state.open is (offset < CUSTOMER_SERVICE_WINDOW)
    if state.open:
        assert state.closes_at == last_inbound + offset + state.remaining


@given(inbound=st.lists(INSTANTS, min_size=1, max_size=6), later=OFFSETS, probe=OFFSETS)
def test_law_a_later_inbound_message_never_shortens_the_window(
    inbound: list[datetime], later: timedelta, probe: timedelta
) -> None:
    before = latest_inbound_at(inbound)
    assert before is not None
    after = latest_inbound_at([*inbound, before + later])
    now = before + probe

    old = window_state(last_inbound_at=before, now=now)
    new = window_state(last_inbound_at=after, now=now)

    assert new.closes_at is not None
    assert old.closes_at is not None
    assert new.closes_at >= old.closes_at
    assert new.open or not old.open
    assert new.remaining >= old.remaining


@given(
    referral=INSTANTS,
    reply_delay=OFFSETS,
    probe=st.timedeltas(min_value=-timedelta(days=1), max_value=timedelta(days=5)),
)
def test_law_free_entry_point_covers_exactly_72h_from_a_timely_reply(
    referral: datetime, reply_delay: timedelta, probe: timedelta
) -> None:
    reply = referral + reply_delay

    window = free_entry_point(
        referral_inbound_at=referral, first_business_reply_at=reply, now=reply + probe
    )

    if reply_delay >= CUSTOMER_SERVICE_WINDOW:
        assert window is None
    else:
        assert window is not None
        assert window.active is (timedelta(0) <= probe < FREE_ENTRY_POINT_WINDOW)
