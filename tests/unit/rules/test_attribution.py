"""Which campaign a customer's message answers (``rules.attribution``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ovillo.rules.attribution import REPLY_HORIZON, Outgoing, attributed_campaign

SENT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CAMPAIGN = uuid.UUID("0195f3c2-0000-7000-8000-000000000001")
OTHER = uuid.UUID("0195f3c2-0000-7000-8000-000000000002")


def campaign_message(
    status: str = "delivered", left_at: datetime | None = SENT, campaign: uuid.UUID = CAMPAIGN
) -> Outgoing:
    return Outgoing(author_type="campaign", author_id=str(campaign), status=status, left_at=left_at)


AGENT = Outgoing(author_type="user", author_id="someone", status="read", left_at=SENT)


@pytest.mark.parametrize(
    ("quoted", "latest", "after", "expected"),
    [
        # No quote: the latest message decides, within the horizon only.
        (None, campaign_message(), timedelta(minutes=5), CAMPAIGN),
        (None, campaign_message(), REPLY_HORIZON - timedelta(microseconds=1), CAMPAIGN),
        (None, campaign_message(), REPLY_HORIZON, None),
        (None, campaign_message(status="accepted"), timedelta(seconds=1), CAMPAIGN),
        # Not taken by WhatsApp (still queued, or failed): the customer never saw it.
        (None, campaign_message(status="queued", left_at=None), timedelta(seconds=1), None),
        (None, campaign_message(status="failed"), timedelta(seconds=1), None),
        # An agent wrote after the campaign: the customer answers the agent.
        (None, AGENT, timedelta(seconds=1), None),
        (None, None, timedelta(seconds=1), None),
        # A quote decides, whatever its age and whatever was sent after it.
        (campaign_message(campaign=OTHER), campaign_message(), timedelta(days=9), OTHER),
        (campaign_message(status="read"), AGENT, timedelta(seconds=1), CAMPAIGN),
        (AGENT, campaign_message(), timedelta(seconds=1), None),
        # Not one of our campaigns' ids.
        (
            Outgoing(author_type="campaign", author_id="nope", status="read", left_at=SENT),
            None,
            timedelta(seconds=1),
            None,
        ),
    ],
)
def test_attributed_campaign(
    quoted: Outgoing | None, latest: Outgoing | None, after: timedelta, expected: uuid.UUID | None
) -> None:
    assert attributed_campaign(quoted=quoted, latest=latest, received_at=SENT + after) == expected
