"""Which campaign a customer's message answers, as a pure function.

A customer's message is a reply to a campaign when:

1. it quotes one of the campaign's messages (Meta's ``context.id``, the customer swiped
   "Reply" on it): that decides, whatever the message's age. A quote of another message
   (an agent's) decides too: the customer answers that one, not the campaign;
2. otherwise, when the latest message the business sent in the conversation is the
   campaign's, it left the outbox (WhatsApp accepted it) and did not fail, and the customer
   wrote within ``REPLY_HORIZON`` of its sending. 24 hours: the window the campaign's
   message itself opens for an answer; a customer who writes days later, with nothing sent
   in between, writes about something else as often as not.

The funnel's ``replied`` and the inbox's "reply to campaign X" read the result, stored on the
inbound message (``message.campaign_id``) when it is received.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

__all__ = ["REPLY_HORIZON", "Outgoing", "attributed_campaign", "campaign_of"]

REPLY_HORIZON: Final = timedelta(hours=24)
CAMPAIGN_AUTHOR: Final = "campaign"
# Statuses of a message WhatsApp has taken (``inbox.models.MessageStatus``).
_LEFT: Final = frozenset({"accepted", "sent", "delivered", "read"})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What the rule needs of one of the business's messages."""

    author_type: str
    author_id: str | None
    status: str
    # When WhatsApp took it: its ``sent`` status, else the accepted answer of the send.
    left_at: datetime | None


def campaign_of(message: Outgoing) -> uuid.UUID | None:
    """The campaign that sent ``message``, if one did."""
    if message.author_type != CAMPAIGN_AUTHOR or not message.author_id:
        return None
    try:
        return uuid.UUID(message.author_id)
    except ValueError:
        return None


def attributed_campaign(
    *, quoted: Outgoing | None, latest: Outgoing | None, received_at: datetime
) -> uuid.UUID | None:
    """The campaign a customer's message received at ``received_at`` answers, or None.

    ``quoted``: the business's message it quotes (``context.id``), if it quotes one we know;
    ``latest``: the latest message the business sent in its conversation, if any.
    """
    if quoted is not None:
        return campaign_of(quoted)
    if latest is None or latest.status not in _LEFT or latest.left_at is None:
        return None
    if received_at >= latest.left_at + REPLY_HORIZON:
        return None
    return campaign_of(latest)
