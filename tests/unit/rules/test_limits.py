"""Messaging limits: tiers, the rolling 24-hour count, upgrades, quality, template pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.rules.limits import (
    LIMIT_WINDOW,
    PER_NUMBER_LADDER,
    PORTFOLIO_LADDER,
    LimitReason,
    LimitScope,
    QualityRating,
    QualityThresholds,
    RecipientSend,
    RecipientWindow,
    TemplateStatus,
    Tier,
    UnknownTier,
    UpgradeReason,
    check_send,
    counted_recipients,
    limit_scope_at,
    next_tier,
    previous_tier,
    quality_effects,
    quality_from_feedback,
    template_pause_decision,
    throughput_upgrade_eligible,
    tier_or_none,
    unique_recipients_in_window,
    usage_needed_for_upgrade,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


# --- tiers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tier"),
    [
        ("TIER_50", Tier.TIER_50),
        ("TIER_250", Tier.TIER_250),
        ("TIER_1K", Tier.TIER_1K),
        ("TIER_2K", Tier.TIER_2K),
        ("TIER_10K", Tier.TIER_10K),
        ("TIER_100K", Tier.TIER_100K),
        ("TIER_UNLIMITED", Tier.TIER_UNLIMITED),
        (" tier_2k ", Tier.TIER_2K),
        ("TIER_NOT_SET", None),
        (250, Tier.TIER_250),
        (2000, Tier.TIER_2K),
        (100_000, Tier.TIER_100K),
        (-1, Tier.TIER_UNLIMITED),
        ("2000", Tier.TIER_2K),
        ("-1", Tier.TIER_UNLIMITED),
        ("UNLIMITED", Tier.TIER_UNLIMITED),
    ],
)
def test_tier_reads_every_meta_spelling(value: str | int, tier: Tier | None) -> None:
    assert Tier.from_meta(value) is tier


@pytest.mark.parametrize("value", ["TIER_5K", "", "TIER", "lots", 3000, 0, -2, "3000", True])
def test_an_unknown_tier_is_a_clear_error(value: str | int) -> None:
    with pytest.raises(UnknownTier, match="unknown messaging limit") as caught:
        Tier.from_meta(value)

    assert caught.value.value == value
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("tier", "limit"),
    [
        (Tier.TIER_50, 50),
        (Tier.TIER_250, 250),
        (Tier.TIER_1K, 1000),
        (Tier.TIER_2K, 2000),
        (Tier.TIER_10K, 10_000),
        (Tier.TIER_100K, 100_000),
        (Tier.TIER_UNLIMITED, None),
    ],
)
def test_tier_limits_round_trip(tier: Tier, limit: int | None) -> None:
    assert tier.limit == limit
    assert Tier.for_limit(limit) is tier
    assert Tier.from_meta(tier.value) is tier
    assert tier == tier.value


def test_ladders() -> None:
    assert [tier.limit for tier in PORTFOLIO_LADDER] == [250, 2000, 10_000, 100_000, None]
    assert [tier.limit for tier in PER_NUMBER_LADDER] == [50, 250, 1000, 10_000, 100_000, None]


@pytest.mark.parametrize(
    ("now", "scope"),
    [
        (datetime(2025, 10, 6, 23, 59, tzinfo=UTC), LimitScope.PHONE_NUMBER),
        (datetime(2025, 10, 7, tzinfo=UTC), LimitScope.PORTFOLIO),
        (NOW, LimitScope.PORTFOLIO),
    ],
)
def test_limit_scope_changes_on_7_october_2025(now: datetime, scope: LimitScope) -> None:
    assert limit_scope_at(now) is scope


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        limit_scope_at(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


# --- the rolling count --------------------------------------------------------------------


def test_count_is_unique_recipients_outside_a_window_in_the_last_24_hours() -> None:
    sends = [
        RecipientSend("a", NOW - 1 * HOUR),
        RecipientSend("a", NOW - 2 * HOUR),
        RecipientSend("b", NOW - 23 * HOUR),
        ("c", NOW - 24 * HOUR, True),  # just left the window
        ("d", NOW - 3 * HOUR, False),  # inside a customer-service window
        ("e", NOW + HOUR, True),  # not yet sent
    ]

    assert unique_recipients_in_window(sends, NOW) == 2
    assert counted_recipients(sends, NOW) == {"a": NOW - HOUR, "b": NOW - 23 * HOUR}
    assert unique_recipients_in_window(sends, NOW, window=timedelta(days=7)) == 3


def _full(count: int, start: datetime, step: timedelta) -> list[RecipientSend]:
    return [RecipientSend(f"r{index}", start + index * step) for index in range(count)]


@pytest.mark.parametrize(
    ("tier", "used", "recipient", "outside_window", "allowed", "reason", "remaining"),
    [
        (Tier.TIER_250, 0, "new", True, True, LimitReason.WITHIN_LIMIT, 249),
        (Tier.TIER_250, 249, "new", True, True, LimitReason.WITHIN_LIMIT, 0),
        (Tier.TIER_250, 250, "new", True, False, LimitReason.LIMIT_REACHED, 0),
        (Tier.TIER_250, 250, "r7", True, True, LimitReason.ALREADY_COUNTED, 0),
        (Tier.TIER_250, 250, "new", False, True, LimitReason.IN_SERVICE_WINDOW, 0),
        (Tier.TIER_2K, 250, "new", True, True, LimitReason.WITHIN_LIMIT, 1749),
        (Tier.TIER_UNLIMITED, 250, "new", True, True, LimitReason.UNLIMITED, None),
    ],
)
def test_check_send(
    tier: Tier,
    used: int,
    recipient: str,
    outside_window: bool,
    allowed: bool,
    reason: LimitReason,
    remaining: int | None,
) -> None:
    sends = _full(used, NOW - 20 * HOUR, timedelta(minutes=1))

    decision = check_send(
        tier=tier, sends=sends, recipient=recipient, now=NOW, outside_window=outside_window
    )

    assert (decision.allowed, decision.reason, decision.remaining) == (allowed, reason, remaining)
    assert decision.used == used
    assert decision.limit == tier.limit


def test_a_refused_send_learns_when_the_oldest_recipient_leaves() -> None:
    oldest = NOW - 20 * HOUR
    sends = _full(250, oldest, timedelta(minutes=1))

    refused = check_send(tier=Tier.TIER_250, sends=sends, recipient="new", now=NOW)

    assert not refused.allowed
    assert refused.frees_at == oldest + LIMIT_WINDOW
    just_before = refused.frees_at - timedelta(microseconds=1)
    assert not check_send(tier=Tier.TIER_250, sends=sends, recipient="new", now=just_before).allowed
    assert check_send(
        tier=Tier.TIER_250, sends=sends, recipient="new", now=refused.frees_at
    ).allowed


def test_a_recipient_leaves_after_its_latest_counted_send() -> None:
    sends = [
        *_full(250, NOW - 20 * HOUR, timedelta(minutes=1)),
        RecipientSend("r0", NOW - HOUR),
    ]

    refused = check_send(tier=Tier.TIER_250, sends=sends, recipient="new", now=NOW)

    assert refused.frees_at == NOW - 20 * HOUR + timedelta(minutes=1) + LIMIT_WINDOW


def test_over_the_limit_waits_for_enough_recipients_to_leave() -> None:
    # A portfolio that sent to 260 under a higher limit and then sits on 250.
    start = NOW - 20 * HOUR
    sends = _full(260, start, timedelta(minutes=1))

    refused = check_send(tier=Tier.TIER_250, sends=sends, recipient="new", now=NOW)

    assert refused.used == 260
    assert refused.frees_at == start + 10 * timedelta(minutes=1) + LIMIT_WINDOW
    window = RecipientWindow()
    for send in sends:
        window.record(send.recipient, send.sent_at)
    assert window.check(tier=Tier.TIER_250, recipient="new", now=NOW) == refused


sends_strategy = st.lists(
    st.tuples(
        st.sampled_from([f"user{index}" for index in range(12)]),
        st.integers(min_value=-72 * 60, max_value=60).map(lambda m: NOW + timedelta(minutes=m)),
        st.booleans(),
    ),
    max_size=60,
)


@given(sends_strategy)
def test_count_never_counts_a_recipient_twice_nor_an_old_or_in_window_send(
    sends: list[tuple[str, datetime, bool]],
) -> None:
    counted = counted_recipients(sends, NOW)

    assert unique_recipients_in_window(sends, NOW) == len(counted) == len(set(counted))
    for recipient, latest in counted.items():
        assert NOW - LIMIT_WINDOW < latest <= NOW
        assert (recipient, latest, True) in sends
    expected = {
        recipient
        for recipient, sent_at, outside in sends
        if outside and NOW - LIMIT_WINDOW < sent_at <= NOW
    }
    assert set(counted) == expected


@given(sends_strategy, sends_strategy)
def test_adding_sends_never_lowers_the_count(
    sends: list[tuple[str, datetime, bool]], more: list[tuple[str, datetime, bool]]
) -> None:
    assert unique_recipients_in_window(sends + more, NOW) >= unique_recipients_in_window(sends, NOW)


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=79), st.integers(min_value=0, max_value=90)),
        max_size=300,
    )
)
def test_enforcing_check_send_keeps_every_window_within_the_limit(
    attempts: list[tuple[int, int]],
) -> None:
    tier = Tier.TIER_50
    delivered: list[RecipientSend] = []
    now = NOW
    for user, minutes_later in attempts:
        now += timedelta(minutes=minutes_later)
        recipient = f"user{user}"
        decision = check_send(tier=tier, sends=delivered, recipient=recipient, now=now)
        if decision.allowed:
            delivered.append(RecipientSend(recipient, now))
        else:
            assert decision.frees_at is not None
            assert decision.frees_at > now
            assert check_send(
                tier=tier, sends=delivered, recipient=recipient, now=decision.frees_at
            ).allowed
        assert unique_recipients_in_window(delivered, now) <= 50


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=79),
            st.sampled_from([0, 1, 2, 5, 30, 720, 1440]),
            st.booleans(),
            st.booleans(),
        ),
        max_size=300,
    ),
    st.sampled_from([Tier.TIER_50, Tier.TIER_UNLIMITED]),
)
def test_recipient_window_answers_as_check_send(
    attempts: list[tuple[int, int, bool, bool]], tier: Tier
) -> None:
    window = RecipientWindow()
    delivered: list[RecipientSend] = []
    now = NOW
    for user, minutes_later, outside_window, overfill in attempts:
        now += timedelta(minutes=minutes_later)
        recipient = f"user{user}"
        expected = check_send(
            tier=tier, sends=delivered, recipient=recipient, now=now, outside_window=outside_window
        )

        assert (
            window.check(tier=tier, recipient=recipient, now=now, outside_window=outside_window)
            == expected
        )
        # Record refused sends now and then too, as after a limit was lowered.
        if expected.allowed or overfill:
            delivered.append(RecipientSend(recipient, now, outside_window))
            window.record(recipient, now, outside_window=outside_window)
        assert window.counted(now) == unique_recipients_in_window(delivered, now)


# --- upgrades -----------------------------------------------------------------------------


def _rank(tier: Tier) -> float:
    return float("inf") if tier.limit is None else tier.limit


PORTFOLIO, NUMBER = LimitScope.PORTFOLIO, LimitScope.PHONE_NUMBER
GREEN, YELLOW, RED, UNKNOWN = (
    QualityRating.GREEN,
    QualityRating.YELLOW,
    QualityRating.RED,
    QualityRating.UNKNOWN,
)
PATH, AUTO = UpgradeReason.SCALING_PATH_COMPLETED, UpgradeReason.AUTOMATIC_SCALING
SIX_HOURS, DAY = timedelta(hours=6), timedelta(hours=24)


# fmt: off
NEXT_TIER_CASES = [
    # Portfolio scheme (since 7 Oct 2025): 250 -> 2,000 by a scaling path, then automatic.
    (Tier.TIER_250, PORTFOLIO, GREEN, 250, False, False,
     UpgradeReason.NEEDS_SCALING_PATH, Tier.TIER_2K, None),
    (Tier.TIER_250, PORTFOLIO, GREEN, 0, True, True, PATH, Tier.TIER_2K, timedelta(0)),
    (Tier.TIER_2K, PORTFOLIO, GREEN, 999, False, False,
     UpgradeReason.NOT_ENOUGH_USAGE, Tier.TIER_10K, None),
    (Tier.TIER_2K, PORTFOLIO, GREEN, 1000, False, True, AUTO, Tier.TIER_10K, SIX_HOURS),
    (Tier.TIER_2K, PORTFOLIO, YELLOW, 1000, False, True, AUTO, Tier.TIER_10K, SIX_HOURS),
    (Tier.TIER_2K, PORTFOLIO, UNKNOWN, 1000, False, True, AUTO, Tier.TIER_10K, SIX_HOURS),
    (Tier.TIER_2K, PORTFOLIO, RED, 2000, True, False,
     UpgradeReason.LOW_QUALITY, Tier.TIER_10K, None),
    (Tier.TIER_10K, PORTFOLIO, GREEN, 5000, False, True, AUTO, Tier.TIER_100K, SIX_HOURS),
    (Tier.TIER_100K, PORTFOLIO, GREEN, 50_000, False, True,
     AUTO, Tier.TIER_UNLIMITED, SIX_HOURS),
    (Tier.TIER_UNLIMITED, PORTFOLIO, GREEN, 10**6, False, False,
     UpgradeReason.TOP_TIER, None, None),
    # A portfolio that inherited 1K from a number goes to the next portfolio rung.
    (Tier.TIER_1K, PORTFOLIO, GREEN, 500, False, True, AUTO, Tier.TIER_2K, SIX_HOURS),
    # Per-number scheme (until 6 Oct 2025): 250 -> 1K by a scaling path, 24 h to apply.
    (Tier.TIER_250, NUMBER, GREEN, 0, True, True, PATH, Tier.TIER_1K, DAY),
    (Tier.TIER_1K, NUMBER, YELLOW, 500, False, True, AUTO, Tier.TIER_10K, DAY),
    (Tier.TIER_1K, NUMBER, GREEN, 499, False, False,
     UpgradeReason.NOT_ENOUGH_USAGE, Tier.TIER_10K, None),
    (Tier.TIER_10K, NUMBER, RED, 9000, False, False,
     UpgradeReason.LOW_QUALITY, Tier.TIER_100K, None),
]
# fmt: on


@pytest.mark.parametrize(
    ("tier", "scope", "quality", "used_7d", "path", "eligible", "reason", "to", "delay"),
    NEXT_TIER_CASES,
)
def test_next_tier(
    tier: Tier,
    scope: LimitScope,
    quality: QualityRating,
    used_7d: int,
    path: bool,
    eligible: bool,
    reason: UpgradeReason,
    to: Tier | None,
    delay: timedelta | None,
) -> None:
    upgrade = next_tier(
        tier=tier,
        scope=scope,
        quality=quality,
        unique_recipients_last_7_days=used_7d,
        now=NOW,
        scaling_path_completed=path,
    )

    assert (upgrade.eligible, upgrade.reason, upgrade.next_tier) == (eligible, reason, to)
    assert upgrade.effective_at == (None if delay is None else NOW + delay)


def test_a_disconnected_number_did_not_scale_under_the_old_scheme() -> None:
    upgrade = next_tier(
        tier=Tier.TIER_1K,
        scope=LimitScope.PHONE_NUMBER,
        quality=QualityRating.GREEN,
        unique_recipients_last_7_days=1000,
        now=NOW,
        number_connected=False,
    )

    assert (upgrade.eligible, upgrade.reason) == (False, UpgradeReason.NOT_CONNECTED)


@pytest.mark.parametrize(
    ("tier", "needed"),
    [
        (Tier.TIER_250, 125),
        (Tier.TIER_2K, 1000),
        (Tier.TIER_10K, 5000),
        (Tier.TIER_UNLIMITED, None),
    ],
)
def test_usage_needed_is_half_the_limit(tier: Tier, needed: int | None) -> None:
    assert usage_needed_for_upgrade(tier) == needed


@given(
    st.sampled_from(list(Tier)),
    st.sampled_from(list(LimitScope)),
    st.sampled_from(list(QualityRating)),
    st.integers(min_value=0, max_value=200_000),
    st.booleans(),
)
def test_an_upgrade_always_goes_one_rung_up_and_never_on_low_quality(
    tier: Tier, scope: LimitScope, quality: QualityRating, used: int, path: bool
) -> None:
    upgrade = next_tier(
        tier=tier,
        scope=scope,
        quality=quality,
        unique_recipients_last_7_days=used,
        now=NOW,
        scaling_path_completed=path,
    )

    if upgrade.eligible:
        assert quality is not QualityRating.RED
        assert upgrade.next_tier is not None
        assert upgrade.effective_at is not None
        assert NOW <= upgrade.effective_at <= NOW + timedelta(hours=24)
        ladder = PORTFOLIO_LADDER if scope is LimitScope.PORTFOLIO else PER_NUMBER_LADDER
        between = [rung for rung in ladder if _rank(tier) < _rank(rung) < _rank(upgrade.next_tier)]
        assert _rank(upgrade.next_tier) > _rank(tier)
        assert between == []
    else:
        assert upgrade.effective_at is None


@pytest.mark.parametrize(
    ("tier", "scope", "below"),
    [
        (Tier.TIER_10K, LimitScope.PORTFOLIO, Tier.TIER_2K),
        (Tier.TIER_10K, LimitScope.PHONE_NUMBER, Tier.TIER_1K),
        (Tier.TIER_250, LimitScope.PORTFOLIO, None),
        (Tier.TIER_UNLIMITED, LimitScope.PORTFOLIO, Tier.TIER_100K),
    ],
)
def test_previous_tier(tier: Tier, scope: LimitScope, below: Tier | None) -> None:
    assert previous_tier(tier, scope) is below


# --- quality ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipients", "blocks", "reports", "quality"),
    [
        (0, 0, 0, QualityRating.UNKNOWN),
        (1000, 0, 0, QualityRating.GREEN),
        (1000, 9, 0, QualityRating.GREEN),
        (1000, 5, 5, QualityRating.YELLOW),
        (1000, 20, 9, QualityRating.YELLOW),
        (1000, 20, 10, QualityRating.RED),
        (0, 1, 0, QualityRating.RED),
        (10, 1, 0, QualityRating.RED),
    ],
)
def test_quality_from_feedback(
    recipients: int, blocks: int, reports: int, quality: QualityRating
) -> None:
    assert (
        quality_from_feedback(unique_recipients=recipients, blocks=blocks, reports=reports)
        is quality
    )


def test_quality_thresholds_are_a_parameter() -> None:
    strict = QualityThresholds(yellow_at=0.001, red_at=0.002)

    assert (
        quality_from_feedback(unique_recipients=1000, blocks=2, reports=0, thresholds=strict)
        is QualityRating.RED
    )
    with pytest.raises(ValueError, match="yellow_at"):
        QualityThresholds(yellow_at=0.5, red_at=0.1)
    with pytest.raises(ValueError, match="negative"):
        quality_from_feedback(unique_recipients=-1, blocks=0, reports=0)


@given(st.integers(0, 10_000), st.integers(0, 500), st.integers(0, 500), st.integers(1, 100))
def test_more_negative_feedback_never_improves_quality(
    recipients: int, blocks: int, reports: int, more: int
) -> None:
    order = [QualityRating.GREEN, QualityRating.YELLOW, QualityRating.RED]
    before = quality_from_feedback(unique_recipients=recipients, blocks=blocks, reports=reports)
    after = quality_from_feedback(
        unique_recipients=recipients, blocks=blocks + more, reports=reports
    )

    assert after is not QualityRating.UNKNOWN
    if before is not QualityRating.UNKNOWN:
        assert order.index(after) >= order.index(before)


@pytest.mark.parametrize(
    ("quality", "scope", "blocks", "flagged", "downgrade", "throughput"),
    [
        (QualityRating.RED, LimitScope.PHONE_NUMBER, True, True, timedelta(days=7), False),
        (QualityRating.RED, LimitScope.PORTFOLIO, True, False, None, False),
        (QualityRating.YELLOW, LimitScope.PORTFOLIO, False, False, None, True),
        (QualityRating.GREEN, LimitScope.PHONE_NUMBER, False, False, None, True),
        (QualityRating.UNKNOWN, LimitScope.PORTFOLIO, False, False, None, False),
    ],
)
def test_quality_effects(
    quality: QualityRating,
    scope: LimitScope,
    blocks: bool,
    flagged: bool,
    downgrade: timedelta | None,
    throughput: bool,
) -> None:
    effects = quality_effects(quality, scope)

    assert effects.blocks_limit_upgrade is blocks
    assert effects.flagged is flagged
    assert effects.downgrade_after == downgrade
    assert effects.allows_throughput_upgrade is throughput


@pytest.mark.parametrize(
    ("tier", "scope", "quality", "recipients", "eligible"),
    [
        (Tier.TIER_UNLIMITED, LimitScope.PORTFOLIO, QualityRating.YELLOW, 100_000, True),
        (Tier.TIER_UNLIMITED, LimitScope.PORTFOLIO, QualityRating.GREEN, 99_999, False),
        (Tier.TIER_UNLIMITED, LimitScope.PORTFOLIO, QualityRating.RED, 200_000, False),
        (Tier.TIER_100K, LimitScope.PORTFOLIO, QualityRating.GREEN, 100_000, False),
        (Tier.TIER_UNLIMITED, LimitScope.PHONE_NUMBER, QualityRating.GREEN, 0, True),
    ],
)
def test_throughput_upgrade_eligible(
    tier: Tier, scope: LimitScope, quality: QualityRating, recipients: int, eligible: bool
) -> None:
    assert (
        throughput_upgrade_eligible(
            tier=tier, scope=scope, quality=quality, unique_recipients_last_24_hours=recipients
        )
        is eligible
    )


# --- template pausing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "status", "instance", "paused_for"),
    [
        (0, TemplateStatus.PAUSED, 1, timedelta(hours=3)),
        (1, TemplateStatus.PAUSED, 2, timedelta(hours=6)),
        (2, TemplateStatus.DISABLED, 3, None),
        (7, TemplateStatus.DISABLED, 8, None),
    ],
)
def test_template_pause_decision(
    previous: int, status: TemplateStatus, instance: int, paused_for: timedelta | None
) -> None:
    decision = template_pause_decision(previous, NOW)

    assert (decision.status, decision.instance) == (status, instance)
    assert decision.paused_until == (None if paused_for is None else NOW + paused_for)


def test_template_pause_count_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        template_pause_decision(-1, NOW)


@pytest.mark.parametrize(
    ("stored", "tier"),
    [
        (None, None),
        ("", None),
        ("TIER_NOT_SET", None),
        ("TIER_1K", Tier.TIER_1K),
        ("tier_10k ", Tier.TIER_10K),
        (2000, Tier.from_meta(2000)),
        ("TIER_SOMETHING_NEW", None),  # a spelling Meta may add: nothing to enforce yet
        (True, None),
    ],
)
def test_a_stored_limit_reads_as_its_tier_or_none(
    stored: str | int | None, tier: Tier | None
) -> None:
    assert tier_or_none(stored) is tier
