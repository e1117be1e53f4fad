"""Messaging limits, their tiers, and what quality does to them.

A messaging limit is the number of unique WhatsApp users a business may deliver messages to
*outside* a customer-service window in a moving 24-hour period (Meta, "Messaging limits").
Messages inside a window are not limited and do not count. Two schemes, by date:

- **Per phone number** (until 6 Oct 2025): each number had its own limit on the ladder
  250 → 1K → 10K → 100K → unlimited (TIER_50 existed below it). A number left 250 by business
  verification or enough volume; from 1K up it scaled automatically when it was connected, its
  quality was Medium or High, and it had used at least half its limit in the last 7 days; the
  upgrade landed 24 h after the criteria were met. A number Flagged for 7 days lost one level.
- **Per business portfolio** (from 7 Oct 2025): all numbers of a portfolio share one limit on
  250 → 2,000 → 10K → 100K → unlimited. 2,000 comes from a scaling path (business
  verification, partner-led verification, or 2,000 delivered messages outside windows to unique
  users in 30 days with high-quality templates), granted at once when approved. Above it,
  automatic scaling: high-quality messages across all numbers and templates and at least half
  the current limit used in the last 7 days raise the limit one level "within 6 hours". Quality
  no longer lowers a limit and the Flagged state no longer exists ("Upcoming changes to
  messaging limits", now live).

Meta reports the limit as ``whatsapp_business_manager_messaging_limit`` (v24.0+: TIER_250,
TIER_2K, TIER_10K, TIER_100K, TIER_UNLIMITED; webhooks also list TIER_50 and TIER_NOT_SET), the
deprecated per-number ``messaging_limit_tier`` (TIER_50, TIER_250, TIER_1K, TIER_10K,
TIER_100K, TIER_UNLIMITED) and, in ``business_capability_update``, as integers (250, 2000,
10000, 100000, -1 for unlimited). `Tier.from_meta` reads all of them.

Unverified and therefore choices of ours, each said again where it is made: how "utilized at
least half of the limit in the last 7 days" is measured (we count unique recipients outside a
window over the 7 days); whether UNKNOWN quality blocks an upgrade (we say no); the thresholds of
the quality model (Meta publishes none; ours is an emulator approximation); and whether template
pause counts ever reset (we never reset them).

Pure: times are aware datetimes passed in; nothing here reads a clock.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

__all__ = [
    "DEFAULT_QUALITY_THRESHOLDS",
    "LIMIT_WINDOW",
    "PER_NUMBER_LADDER",
    "PORTFOLIO_LADDER",
    "PORTFOLIO_LIMITS_FROM",
    "QUALITY_LOOKBACK",
    "TEMPLATE_PAUSE_DURATIONS",
    "UPGRADE_LOOKBACK",
    "LimitDecision",
    "LimitReason",
    "LimitScope",
    "QualityEffects",
    "QualityRating",
    "QualityThresholds",
    "RecipientSend",
    "RecipientWindow",
    "TemplatePauseDecision",
    "TemplateStatus",
    "Tier",
    "TierUpgrade",
    "UnknownTier",
    "UpgradeReason",
    "check_send",
    "counted_recipients",
    "limit_scope_at",
    "next_tier",
    "previous_tier",
    "quality_effects",
    "quality_from_feedback",
    "template_pause_decision",
    "throughput_upgrade_eligible",
    "unique_recipients_in_window",
    "usage_needed_for_upgrade",
]

LIMIT_WINDOW = timedelta(hours=24)
UPGRADE_LOOKBACK = timedelta(days=7)
QUALITY_LOOKBACK = timedelta(days=7)
PORTFOLIO_LIMITS_FROM = datetime(2025, 10, 7, tzinfo=UTC)
"""Meta names the day, not the hour; we switch at midnight UTC."""

_PORTFOLIO_UPGRADE_DELAY = timedelta(hours=6)
_PER_NUMBER_UPGRADE_DELAY = timedelta(hours=24)
_FLAGGED_DOWNGRADE_AFTER = timedelta(days=7)
_HIGH_THROUGHPUT_RECIPIENTS = 100_000

TEMPLATE_PAUSE_DURATIONS: tuple[timedelta, ...] = (timedelta(hours=3), timedelta(hours=6))
"""First pause 3 h, second 6 h, the next low-quality instance disables (Template pausing)."""


class LimitScope(StrEnum):
    """Where a messaging limit lives: per number before 7 Oct 2025, per portfolio since."""

    PHONE_NUMBER = "phone_number"
    PORTFOLIO = "business_portfolio"


def limit_scope_at(now: datetime) -> LimitScope:
    """Which scheme Meta applied at ``now``."""
    _require_aware(now)
    return LimitScope.PORTFOLIO if now >= PORTFOLIO_LIMITS_FROM else LimitScope.PHONE_NUMBER


class UnknownTier(ValueError):
    """Meta sent a messaging-limit value we do not know; ``value`` is what it sent."""

    def __init__(self, value: object) -> None:
        self.value = value
        known = ", ".join(tier.value for tier in Tier)
        super().__init__(
            f"unknown messaging limit {value!r}; known: {known}, TIER_NOT_SET, "
            "or the integers 50, 250, 1000, 2000, 10000, 100000 and -1 (unlimited)"
        )


class Tier(StrEnum):
    """A messaging limit, named as Meta names it; ``limit`` is the number (None: unlimited)."""

    TIER_50 = "TIER_50"
    TIER_250 = "TIER_250"
    TIER_1K = "TIER_1K"
    TIER_2K = "TIER_2K"
    TIER_10K = "TIER_10K"
    TIER_100K = "TIER_100K"
    TIER_UNLIMITED = "TIER_UNLIMITED"

    @property
    def limit(self) -> int | None:
        """Unique recipients per moving 24 h; None when unlimited."""
        return _LIMITS[self]

    @property
    def is_unlimited(self) -> bool:
        return self is Tier.TIER_UNLIMITED

    @classmethod
    def from_meta(cls, value: str | int) -> Tier | None:
        """Read any of Meta's spellings of a limit; None for TIER_NOT_SET (no limit yet).

        Accepts the enum strings of both fields ("TIER_2K", case and spaces forgiven), the
        integers of ``business_capability_update`` (2000, -1 for unlimited) and their string
        forms ("2000", "UNLIMITED"). Anything else raises `UnknownTier`, never ``KeyError``.
        """
        if isinstance(value, bool):
            raise UnknownTier(value)
        if isinstance(value, int):
            return cls.for_limit(None if value == -1 else value, original=value)
        text = value.strip().upper()
        if text in ("TIER_NOT_SET", "NOT_SET"):
            return None
        if text in cls.__members__:
            return cls[text]
        if text == "UNLIMITED":
            return cls.TIER_UNLIMITED
        if text.lstrip("-").isdigit():
            number = int(text)
            return cls.for_limit(None if number == -1 else number, original=value)
        raise UnknownTier(value)

    @classmethod
    def for_limit(cls, limit: int | None, *, original: object = None) -> Tier:
        """The tier whose limit is exactly ``limit`` (None: unlimited)."""
        for tier, tier_limit in _LIMITS.items():
            if tier_limit == limit:
                return tier
        raise UnknownTier(limit if original is None else original)


_LIMITS: dict[Tier, int | None] = {
    Tier.TIER_50: 50,
    Tier.TIER_250: 250,
    Tier.TIER_1K: 1_000,
    Tier.TIER_2K: 2_000,
    Tier.TIER_10K: 10_000,
    Tier.TIER_100K: 100_000,
    Tier.TIER_UNLIMITED: None,
}

PER_NUMBER_LADDER: tuple[Tier, ...] = (
    Tier.TIER_50,
    Tier.TIER_250,
    Tier.TIER_1K,
    Tier.TIER_10K,
    Tier.TIER_100K,
    Tier.TIER_UNLIMITED,
)
PORTFOLIO_LADDER: tuple[Tier, ...] = (
    Tier.TIER_250,
    Tier.TIER_2K,
    Tier.TIER_10K,
    Tier.TIER_100K,
    Tier.TIER_UNLIMITED,
)
# Below this, only a scaling path (verification or volume) raises the limit. A portfolio that
# inherited 1K from a number in October 2025 had been through a scaling path already, so it
# scales automatically like one at 2,000 (unverified: Meta may have lifted those to 2,000).
_AUTOMATIC_SCALING_FROM = Tier.TIER_1K


def _ladder(scope: LimitScope) -> tuple[Tier, ...]:
    return PORTFOLIO_LADDER if scope is LimitScope.PORTFOLIO else PER_NUMBER_LADDER


def _rank(tier: Tier) -> float:
    limit = tier.limit
    return math.inf if limit is None else limit


def _next_rung(tier: Tier, scope: LimitScope) -> Tier | None:
    # A tier off this ladder (a 1K number migrated to portfolio limits) moves to the next rung
    # above its own limit.
    return next((rung for rung in _ladder(scope) if _rank(rung) > _rank(tier)), None)


def previous_tier(tier: Tier, scope: LimitScope) -> Tier | None:
    """One level down on ``scope``'s ladder, or None at the bottom."""
    below = [rung for rung in _ladder(scope) if _rank(rung) < _rank(tier)]
    return below[-1] if below else None


# --- the rolling count --------------------------------------------------------------------


def tier_or_none(value: str | int | None) -> Tier | None:
    """The tier a stored limit names, or None when it is unset or a spelling Meta may add
    that this code does not know yet: then there is nothing to enforce or predict."""
    if value is None or value == "":
        return None
    try:
        return Tier.from_meta(value)
    except UnknownTier:
        return None


class RecipientSend(NamedTuple):
    """One message as the limit sees it. A plain ``(recipient, sent_at, outside_window)``
    tuple works as well.

    ``outside_window`` is True for a message that is delivered with no customer-service window
    open (a template that opens the conversation): only those count. Pass delivered messages
    to enforce, as Meta does; pass sent or planned ones to predict.
    """

    recipient: str
    sent_at: datetime
    outside_window: bool = True


def counted_recipients(
    sends: Iterable[tuple[str, datetime, bool]], now: datetime, *, window: timedelta = LIMIT_WINDOW
) -> dict[str, datetime]:
    """Each recipient counted against the limit at ``now``, with its latest counted send.

    A send counts when it is outside a window and ``now - window < sent_at <= now``: one sent
    exactly 24 h ago has just left, and one dated after ``now`` has not happened yet. The
    recipient stops counting at its latest counted send + ``window``.
    """
    _require_aware(now)
    since = now - window
    latest: dict[str, datetime] = {}
    for recipient, sent_at, outside_window in sends:
        if outside_window and since < sent_at <= now:
            known = latest.get(recipient)
            if known is None or sent_at > known:
                latest[recipient] = sent_at
    return latest


def unique_recipients_in_window(
    sends: Iterable[tuple[str, datetime, bool]], now: datetime, *, window: timedelta = LIMIT_WINDOW
) -> int:
    """How many unique recipients count against the limit at ``now`` (see `counted_recipients`).

    Each recipient once, however many messages it got. For a portfolio, pass the sends of all
    its numbers. With ``window=UPGRADE_LOOKBACK`` it is the usage `next_tier` asks for.
    """
    return len(counted_recipients(sends, now, window=window))


class LimitReason(StrEnum):
    """Why `check_send` decided as it did."""

    IN_SERVICE_WINDOW = "in_service_window"
    UNLIMITED = "unlimited"
    ALREADY_COUNTED = "already_counted"
    WITHIN_LIMIT = "within_limit"
    LIMIT_REACHED = "limit_reached"


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """Whether one more send fits the messaging limit, and what it leaves.

    ``used`` counts unique recipients before this send; ``remaining`` is what is left after it
    (None when unlimited). When refused, ``frees_at`` is the first moment the same send would
    be allowed: when enough counted recipients have left the 24-hour window.
    """

    allowed: bool
    reason: LimitReason
    counts: bool
    """This send takes a new slot (a recipient not yet counted, outside a window)."""
    used: int
    limit: int | None
    remaining: int | None
    frees_at: datetime | None = None


def check_send(
    *,
    tier: Tier,
    sends: Iterable[tuple[str, datetime, bool]],
    recipient: str,
    now: datetime,
    outside_window: bool = True,
) -> LimitDecision:
    """Decide whether a send to ``recipient`` at ``now`` stays within ``tier``'s limit.

    ``sends`` are the counted messages so far (see `RecipientSend`), of the whole portfolio
    under portfolio limits. A recipient already counted costs nothing more; a send inside a
    customer-service window (``outside_window=False``) is never limited. Meta documents no
    error code for going over (unverified); the caller chooses how to refuse.
    """
    counted = counted_recipients(sends, now)
    return _decide(
        tier=tier,
        latest=counted,
        recipient=recipient,
        outside_window=outside_window,
        nth_oldest=lambda index: sorted(counted.values())[index],
    )


def _decide(
    *,
    tier: Tier,
    latest: Mapping[str, datetime],
    recipient: str,
    outside_window: bool,
    nth_oldest: Callable[[int], datetime],
) -> LimitDecision:
    used = len(latest)
    limit = tier.limit
    remaining = None if limit is None else max(0, limit - used)
    if not outside_window:
        return LimitDecision(True, LimitReason.IN_SERVICE_WINDOW, False, used, limit, remaining)
    if limit is None:
        new_recipient = recipient not in latest
        return LimitDecision(True, LimitReason.UNLIMITED, new_recipient, used, None, None)
    if recipient in latest:
        return LimitDecision(True, LimitReason.ALREADY_COUNTED, False, used, limit, remaining)
    if used < limit:
        return LimitDecision(True, LimitReason.WITHIN_LIMIT, True, used, limit, limit - used - 1)
    # Room for one more needs used - limit + 1 recipients gone; each leaves the window 24 h
    # after its latest counted send.
    frees_at = nth_oldest(used - limit) + LIMIT_WINDOW
    return LimitDecision(False, LimitReason.LIMIT_REACHED, True, used, limit, 0, frees_at)


class RecipientWindow:
    """The rolling count kept incrementally, for an enforcer that sees every send.

    `check_send` rereads all sends of the last 24 h on every call, which suits a prediction
    over stored rows; the emulator, checking thousands of sends a second against a 100K limit,
    keeps one of these instead. It answers exactly as `check_send` over the same sends,
    provided sends are recorded in time order and ``now`` never goes backwards. It holds one
    entry per recipient counted in the window, plus superseded heap entries that are dropped
    as they reach the front. Not thread-safe; no I/O, no clock.
    """

    def __init__(self) -> None:
        self._latest: dict[str, datetime] = {}
        self._expiring: list[tuple[datetime, str]] = []

    def record(self, recipient: str, sent_at: datetime, *, outside_window: bool = True) -> None:
        """Count a delivered send (only sends outside a service window count)."""
        _require_aware(sent_at)
        if not outside_window:
            return
        known = self._latest.get(recipient)
        if known is None or sent_at > known:
            self._latest[recipient] = sent_at
            heapq.heappush(self._expiring, (sent_at, recipient))

    def counted(self, now: datetime) -> int:
        """Unique recipients counted at ``now``; forgets those that have left the window."""
        _require_aware(now)
        since = now - LIMIT_WINDOW
        while self._expiring:
            sent_at, recipient = self._expiring[0]
            is_current = self._latest.get(recipient) == sent_at
            if is_current and sent_at > since:
                break
            heapq.heappop(self._expiring)
            if is_current:
                del self._latest[recipient]
        return len(self._latest)

    def check(
        self, *, tier: Tier, recipient: str, now: datetime, outside_window: bool = True
    ) -> LimitDecision:
        """`check_send` over the recorded sends; `record` the send if it goes out."""
        self.counted(now)
        return _decide(
            tier=tier,
            latest=self._latest,
            recipient=recipient,
            outside_window=outside_window,
            nth_oldest=self._nth_oldest,
        )

    def _nth_oldest(self, index: int) -> datetime:
        if index == 0:
            # `counted` has just cleaned the front of the heap: it is the oldest current send.
            return self._expiring[0][0]
        current = (
            sent_at
            for sent_at, recipient in self._expiring
            if self._latest.get(recipient) == sent_at
        )
        return heapq.nsmallest(index + 1, current)[index]


# --- quality ------------------------------------------------------------------------------


class QualityRating(StrEnum):
    """A number's or template's ``quality_rating``/``quality_score``.

    WhatsApp Manager shows GREEN as High, YELLOW as Medium, RED as Low; UNKNOWN is a number or
    template without enough feedback yet.
    """

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_low(self) -> bool:
        return self is QualityRating.RED


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Negative feedback per recipient at which quality turns YELLOW and RED.

    Meta publishes no thresholds; it rates on recent user feedback (blocks, reports) weighted
    toward the last days. These are the emulator's approximation, chosen so that a campaign
    blocked by 1 in 100 recipients warns and 3 in 100 turns red.
    """

    yellow_at: float = 0.01
    red_at: float = 0.03

    def __post_init__(self) -> None:
        if not 0 < self.yellow_at <= self.red_at:
            raise ValueError("thresholds need 0 < yellow_at <= red_at")


DEFAULT_QUALITY_THRESHOLDS = QualityThresholds()


def quality_from_feedback(
    *,
    unique_recipients: int,
    blocks: int,
    reports: int,
    thresholds: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS,
) -> QualityRating:
    """The emulator's quality model: negative feedback over recent unique recipients.

    Count both over `QUALITY_LOOKBACK` (7 days). A block and a report by the same user count
    twice, as the stronger signal they are. No recipients and no feedback is UNKNOWN.
    """
    if min(unique_recipients, blocks, reports) < 0:
        raise ValueError("recipient and feedback counts cannot be negative")
    negative = blocks + reports
    if unique_recipients == 0 and negative == 0:
        return QualityRating.UNKNOWN
    rate = negative / max(unique_recipients, 1)
    if rate >= thresholds.red_at:
        return QualityRating.RED
    if rate >= thresholds.yellow_at:
        return QualityRating.YELLOW
    return QualityRating.GREEN


@dataclass(frozen=True, slots=True)
class QualityEffects:
    """What a quality rating does to a number under a limit scheme."""

    blocks_limit_upgrade: bool
    flagged: bool
    """Per-number scheme only: low quality shows the number as Flagged."""
    downgrade_after: timedelta | None
    """Per-number scheme only: Flagged this long loses one level (`previous_tier`)."""
    allows_throughput_upgrade: bool
    """Medium (YELLOW) or better is needed for 1,000 mps."""


def quality_effects(quality: QualityRating, scope: LimitScope) -> QualityEffects:
    """What ``quality`` means for limits and throughput under ``scope``.

    Low quality blocks limit upgrades under both schemes. Only the per-number scheme flagged a
    number and took a level away after 7 days Flagged; portfolio limits are never lowered by
    quality (Meta: "its messaging limit will not be downgraded").
    """
    per_number = scope is LimitScope.PHONE_NUMBER
    return QualityEffects(
        blocks_limit_upgrade=quality.is_low,
        flagged=per_number and quality.is_low,
        downgrade_after=_FLAGGED_DOWNGRADE_AFTER if per_number and quality.is_low else None,
        allows_throughput_upgrade=quality in (QualityRating.GREEN, QualityRating.YELLOW),
    )


# --- upgrades -----------------------------------------------------------------------------


class UpgradeReason(StrEnum):
    """Why `next_tier` decided as it did."""

    TOP_TIER = "top_tier"
    LOW_QUALITY = "low_quality"
    NOT_CONNECTED = "not_connected"
    NEEDS_SCALING_PATH = "needs_scaling_path"
    SCALING_PATH_COMPLETED = "scaling_path_completed"
    NOT_ENOUGH_USAGE = "not_enough_usage"
    AUTOMATIC_SCALING = "automatic_scaling"


@dataclass(frozen=True, slots=True)
class TierUpgrade:
    """Whether the limit rises, to what, and when it takes effect."""

    eligible: bool
    reason: UpgradeReason
    current: Tier
    next_tier: Tier | None
    """The level an upgrade leads to (set even when not eligible yet, for display)."""
    effective_at: datetime | None
    usage_needed: int | None
    """Unique recipients outside a window in the last 7 days that automatic scaling asks."""


def usage_needed_for_upgrade(tier: Tier) -> int | None:
    """Half of ``tier``'s limit, rounded up; None when unlimited."""
    limit = tier.limit
    return None if limit is None else math.ceil(limit / 2)


def next_tier(
    *,
    tier: Tier,
    scope: LimitScope,
    quality: QualityRating,
    unique_recipients_last_7_days: int,
    now: datetime,
    scaling_path_completed: bool = False,
    number_connected: bool = True,
) -> TierUpgrade:
    """Decide whether a number (per-number scheme) or portfolio earns the next level at ``now``.

    Below automatic scaling (250 and 50), only ``scaling_path_completed`` (business or
    partner-led verification, or the volume path) raises the limit one rung: 250 to 2,000 at
    once under portfolio limits, 250 to 1K under the old scheme (24 h later, as its other
    upgrades; the old 50 to 250 step came with display-name approval, modelled the same way).
    From there, automatic scaling: quality not low, the number connected (per-number scheme
    only), and ``unique_recipients_last_7_days >= usage_needed_for_upgrade(tier)``; the
    upgrade takes effect 6 h later for portfolios ("within 6 hours", so at the latest) and
    24 h later for numbers. Call it again when the effective time comes: the emulator applies
    an upgrade only if it still holds.

    Unverified: "utilized at least half of your current messaging limit" is read as unique
    recipients outside a window over the 7 days; Meta's portfolio rule says "high-quality
    messages", read here as not RED, with UNKNOWN allowed (a new number has no feedback).
    """
    _require_aware(now)
    target = _next_rung(tier, scope)
    needed = usage_needed_for_upgrade(tier)
    delay = _PORTFOLIO_UPGRADE_DELAY if scope is LimitScope.PORTFOLIO else _PER_NUMBER_UPGRADE_DELAY

    def refuse(reason: UpgradeReason) -> TierUpgrade:
        return TierUpgrade(False, reason, tier, target, None, needed)

    if target is None:
        return TierUpgrade(False, UpgradeReason.TOP_TIER, tier, None, None, None)
    if quality.is_low:
        return refuse(UpgradeReason.LOW_QUALITY)
    if scope is LimitScope.PHONE_NUMBER and not number_connected:
        return refuse(UpgradeReason.NOT_CONNECTED)
    if _rank(tier) < _rank(_AUTOMATIC_SCALING_FROM):
        if not scaling_path_completed:
            return refuse(UpgradeReason.NEEDS_SCALING_PATH)
        # Portfolios get 2,000 "immediately" once approved; the old scheme kept its 24 h.
        effective_at = now if scope is LimitScope.PORTFOLIO else now + delay
        return TierUpgrade(
            True, UpgradeReason.SCALING_PATH_COMPLETED, tier, target, effective_at, None
        )
    assert needed is not None  # not unlimited: it has a next rung
    if unique_recipients_last_7_days < needed:
        return refuse(UpgradeReason.NOT_ENOUGH_USAGE)
    return TierUpgrade(True, UpgradeReason.AUTOMATIC_SCALING, tier, target, now + delay, needed)


def throughput_upgrade_eligible(
    *,
    tier: Tier,
    scope: LimitScope,
    quality: QualityRating,
    unique_recipients_last_24_hours: int,
) -> bool:
    """Whether a number qualifies for 1,000 mps (``throughput.level`` HIGH).

    Unlimited messaging and Medium quality or better under both schemes; portfolio limits add
    that the number itself messaged 100K or more unique users outside a window in a moving
    24 h. Meta upgrades within 12 h; the number is unusable for up to a minute (131057).
    """
    if not tier.is_unlimited or not quality_effects(quality, scope).allows_throughput_upgrade:
        return False
    if scope is LimitScope.PORTFOLIO:
        return unique_recipients_last_24_hours >= _HIGH_THROUGHPUT_RECIPIENTS
    return True


# --- template pausing ---------------------------------------------------------------------


class TemplateStatus(StrEnum):
    """The template status a low-quality pause leads to."""

    PAUSED = "PAUSED"
    DISABLED = "DISABLED"


@dataclass(frozen=True, slots=True)
class TemplatePauseDecision:
    """What happens to a template whose quality has just turned RED."""

    status: TemplateStatus
    instance: int
    """Which low-quality instance this is, counting from 1."""
    paused_until: datetime | None
    """When the template becomes sendable again by itself; None once disabled."""


def template_pause_decision(previous_pauses: int, now: datetime) -> TemplatePauseDecision:
    """Pause or disable a template that reached RED quality at ``now``.

    First instance: paused 3 h; second: 6 h; third: DISABLED (Meta, "Template pausing").
    While paused, sends fail with 132015, once disabled with 132016. ``previous_pauses``
    counts this template's earlier pauses; Meta does not say whether the count ever resets
    (unverified), so callers keep it for the template's lifetime.
    """
    _require_aware(now)
    if previous_pauses < 0:
        raise ValueError(f"previous_pauses cannot be negative: {previous_pauses}")
    instance = previous_pauses + 1
    if previous_pauses < len(TEMPLATE_PAUSE_DURATIONS):
        until = now + TEMPLATE_PAUSE_DURATIONS[previous_pauses]
        return TemplatePauseDecision(TemplateStatus.PAUSED, instance, until)
    return TemplatePauseDecision(TemplateStatus.DISABLED, instance, None)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware (UTC): {now!r}")
