"""The customer-service window and the free entry point window, as pure functions.

Customer-service window (CSW): every message a WhatsApp user sends to the business opens, or
restarts, a 24-hour window. While it is open the business may send any message type
("free-form"); once it closes only approved templates get through, anything else fails
asynchronously with error 131047 ("Re-engagement message").
https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/send-messages

Free entry point (FEP): when the user arrives from a Click-to-WhatsApp ad or a Facebook Page
call-to-action (the inbound message carries a ``referral``) and the business answers within
that message's 24-hour window, the business's reply opens a 72-hour window in which every
message, templates included, is free. The 72 hours run from the reply, not from the user's
message; that was the rule under conversation-based pricing ("free entry point
conversation") and it stayed the rule under per-message pricing ("free entry point window").
The FEP only makes messages free: free-form messages still need an open CSW.

Edges: a window that opens at ``t`` is open for every instant ``t <= now < t + 24 h`` and closed
at exactly ``t + 24 h`` (Meta's timer "expires" then).

Every datetime must be timezone-aware; naive ones raise ``ValueError`` because a naive time is
ambiguous by up to a day and the windows are measured to the microsecond.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "CUSTOMER_SERVICE_WINDOW",
    "FREE_ENTRY_POINT_REPLY_DEADLINE",
    "FREE_ENTRY_POINT_WINDOW",
    "FreeEntryPoint",
    "WindowState",
    "free_entry_point",
    "free_form_allowed",
    "latest_inbound_at",
    "require_aware",
    "window_open",
    "window_state",
]

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
FREE_ENTRY_POINT_WINDOW = timedelta(hours=72)
# The business must answer the referral message while its customer-service window is open.
FREE_ENTRY_POINT_REPLY_DEADLINE = CUSTOMER_SERVICE_WINDOW


def require_aware(value: datetime, *, name: str) -> datetime:
    """Return ``value`` if it is timezone-aware, else raise ``ValueError`` naming the argument."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}; "
            "attach a zone, e.g. datetime(..., tzinfo=UTC)"
        )
    return value


def _require_optional_aware(value: datetime | None, *, name: str) -> datetime | None:
    return None if value is None else require_aware(value, name=name)


@dataclass(frozen=True, slots=True)
class WindowState:
    """The customer-service window as seen at one instant.

    ``opened_at`` is the user's latest inbound message (``None`` if the user never wrote);
    ``closes_at`` is ``opened_at + 24 h``; ``remaining`` is ``closes_at - now`` while open and
    zero once closed.
    """

    open: bool
    opened_at: datetime | None
    closes_at: datetime | None
    remaining: timedelta


def window_state(*, last_inbound_at: datetime | None, now: datetime) -> WindowState:
    """The customer-service window at ``now``, given the user's latest inbound message.

    Precondition: ``last_inbound_at`` is the latest message the user sent (use
    ``latest_inbound_at`` over all of them); business messages never extend the window.
    """
    require_aware(now, name="now")
    if last_inbound_at is None:
        return WindowState(open=False, opened_at=None, closes_at=None, remaining=timedelta(0))
    require_aware(last_inbound_at, name="last_inbound_at")
    closes_at = last_inbound_at + CUSTOMER_SERVICE_WINDOW
    is_open = now < closes_at
    return WindowState(
        open=is_open,
        opened_at=last_inbound_at,
        closes_at=closes_at,
        remaining=closes_at - now if is_open else timedelta(0),
    )


def window_open(*, last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether the customer-service window is open at ``now``."""
    return window_state(last_inbound_at=last_inbound_at, now=now).open


def free_form_allowed(*, last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a non-template message sent at ``now`` would be accepted by Meta.

    Only an open customer-service window allows it; a free entry point window does not (it
    makes messages free, not free-form). Outside the window Meta fails the message with 131047.
    """
    return window_open(last_inbound_at=last_inbound_at, now=now)


def latest_inbound_at(inbound_at: Iterable[datetime]) -> datetime | None:
    """The latest of a contact's inbound message times, or ``None`` if there are none."""
    latest: datetime | None = None
    for index, value in enumerate(inbound_at):
        require_aware(value, name=f"inbound_at[{index}]")
        if latest is None or value > latest:
            latest = value
    return latest


@dataclass(frozen=True, slots=True)
class FreeEntryPoint:
    """A free entry point window: every message sent in ``[opens_at, expires_at)`` is free.

    ``referral_inbound_at`` is the user's message that carried the ad or Page ``referral``;
    ``opens_at`` is the business's first reply to it; ``active`` is evaluated at the ``now``
    the window was computed for (use ``covers`` for any other instant).
    """

    referral_inbound_at: datetime
    opens_at: datetime
    expires_at: datetime
    active: bool

    def covers(self, at: datetime) -> bool:
        """Whether a message sent at ``at`` falls inside this free entry point window."""
        require_aware(at, name="at")
        return self.opens_at <= at < self.expires_at


def free_entry_point(
    *,
    referral_inbound_at: datetime | None,
    first_business_reply_at: datetime | None,
    now: datetime,
) -> FreeEntryPoint | None:
    """The free entry point window opened by a reply to a referral message, if there is one.

    ``referral_inbound_at`` is the user's message that carried a ``referral`` (Click-to-WhatsApp
    ad or Page CTA); ``first_business_reply_at`` is the first message the business sent at or
    after it. Returns ``None`` when either is missing or the reply came too late (24 h or more
    after the referral message) or before it. The window is returned even once expired, with
    ``active=False``, so callers can explain why a message was or was not free.
    """
    require_aware(now, name="now")
    referral = _require_optional_aware(referral_inbound_at, name="referral_inbound_at")
    reply = _require_optional_aware(first_business_reply_at, name="first_business_reply_at")
    if referral is None or reply is None:
        return None
    if not referral <= reply < referral + FREE_ENTRY_POINT_REPLY_DEADLINE:
        return None
    expires_at = reply + FREE_ENTRY_POINT_WINDOW
    return FreeEntryPoint(
        referral_inbound_at=referral,
        opens_at=reply,
        expires_at=expires_at,
        active=reply <= now < expires_at,
    )
