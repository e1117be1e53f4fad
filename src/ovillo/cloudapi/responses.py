"""Synchronous answers of the Graph API that several endpoints share.

``SendMessageResponse`` is the 200 of ``POST /{phone-number-id}/messages``: it says only that
Meta accepted the message; what happened to it arrives later in ``statuses`` webhooks.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from ovillo.cloudapi.wire import WireModel


class MessageStatus(StrEnum):
    """``messages[].message_status`` on template sends. Kept as ``str`` in the model: Meta
    may add values, and an unknown one must not fail a send that Meta accepted."""

    ACCEPTED = "accepted"
    HELD_FOR_QUALITY_ASSESSMENT = "held_for_quality_assessment"
    PAUSED = "paused"


class SentContact(WireModel):
    """The addressee as Meta resolved it."""

    # What the request carried in `to` (or `recipient`), verbatim.
    input: str
    # Empty or absent when the user was addressed by BSUID and has no known phone (2026).
    wa_id: str | None = None
    user_id: str | None = None


class SentMessage(WireModel):
    id: str = Field(min_length=1)
    message_status: str | None = None


class SendMessageResponse(WireModel):
    messaging_product: str = "whatsapp"
    contacts: list[SentContact] = Field(default_factory=list)
    messages: list[SentMessage] = Field(min_length=1)

    @property
    def wamid(self) -> str:
        """The id of the message sent (one per request)."""
        return self.messages[0].id


class SuccessResponse(WireModel):
    """``{"success": true}``: mark-as-read, media delete, template edit, register..."""

    success: bool


class Cursors(WireModel):
    before: str | None = None
    after: str | None = None


class Paging(WireModel):
    """Graph API cursor paging. ``next`` is absent on the last page."""

    cursors: Cursors | None = None
    next: str | None = None
    previous: str | None = None
