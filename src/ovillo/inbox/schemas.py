"""What the inbox API takes and answers: conversations, messages, notes, events, media."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ovillo.cloudapi.errors import spec_for
from ovillo.contacts.schemas import ContactOut
from ovillo.contacts.service import display_name
from ovillo.core.paging import Page
from ovillo.rules import window as window_rules

if TYPE_CHECKING:
    from ovillo.channels.models import Channel
    from ovillo.contacts.models import Contact
    from ovillo.inbox.models import (
        Conversation,
        ConversationEvent,
        MediaFile,
        Message,
        Note,
    )
    from ovillo.inbox.service import ConversationView, QueuedMessage

MessageType = Literal[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "template",
]
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageType)

_META_SEND_DOCS = "https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages"


# --- Pieces ------------------------------------------------------------------------------


class WindowOut(BaseModel):
    """The 24-hour customer-service window: free-form messages are delivered only while it
    is open; outside it only templates are."""

    open: bool
    opened_at: datetime | None = Field(description="The customer's latest message.")
    closes_at: datetime | None
    remaining_seconds: int = Field(description="0 once closed.")

    @classmethod
    def at(cls, *, last_inbound_at: datetime | None, now: datetime) -> WindowOut:
        state = window_rules.window_state(last_inbound_at=last_inbound_at, now=now)
        return cls(
            open=state.open,
            opened_at=state.opened_at,
            closes_at=state.closes_at,
            remaining_seconds=int(state.remaining.total_seconds()),
        )


class FreeEntryPointOut(BaseModel):
    """72 hours of free messages after answering a Click-to-WhatsApp ad or Page button."""

    expires_at: datetime
    active: bool


class NumberSummary(BaseModel):
    id: uuid.UUID
    phone_number_id: str
    display_phone_number: str

    @classmethod
    def of(cls, channel: Channel) -> NumberSummary:
        return cls(
            id=channel.id,
            phone_number_id=channel.phone_number_id,
            display_phone_number=channel.display_phone_number,
        )


class ContactSummary(BaseModel):
    id: uuid.UUID
    display_name: str
    name: str | None
    profile_name: str | None = Field(description="The name the user set in WhatsApp.")
    wa_id: str | None
    phone: str | None = Field(description="E.164.")
    user_id: str | None = Field(description="Business-scoped user id (BSUID).")

    @classmethod
    def of(cls, contact: Contact) -> ContactSummary:
        return cls(
            id=contact.id,
            display_name=display_name(contact),
            name=contact.name,
            profile_name=contact.profile_name,
            wa_id=contact.wa_id,
            phone=contact.phone_e164,
            user_id=contact.user_id,
        )


class UserSummary(BaseModel):
    id: uuid.UUID
    name: str


class TeamSummary(BaseModel):
    id: uuid.UUID
    name: str


class ActorOut(BaseModel):
    type: str = Field(description="contact, user, api (an API key), flow, campaign or system.")
    id: str | None = Field(description="The user's, API key's, flow's or campaign's id.")


# --- Conversations -----------------------------------------------------------------------


class ConversationOut(BaseModel):
    id: uuid.UUID
    number: NumberSummary = Field(description="The WhatsApp number of the business.")
    contact: ContactSummary
    status: str = Field(description="open, snoozed or closed.")
    assignee: UserSummary | None
    team: TeamSummary | None
    last_message_preview: str | None
    last_activity_at: datetime
    last_inbound_at: datetime | None
    unread_count: int
    window: WindowOut
    free_entry_point: FreeEntryPointOut | None = Field(
        description="Set when the customer came from an ad and was answered in time."
    )
    referral: dict[str, Any] | None = Field(description="The ad or post the customer came from.")
    snoozed_until: datetime | None
    created_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, view: ConversationView, *, now: datetime) -> ConversationOut:
        conversation = view.conversation
        return cls(
            id=conversation.id,
            number=NumberSummary.of(view.channel),
            contact=ContactSummary.of(view.contact),
            status=conversation.status,
            assignee=UserSummary(id=view.assignee.id, name=view.assignee.name)
            if view.assignee is not None
            else None,
            team=TeamSummary(id=view.team.id, name=view.team.name)
            if view.team is not None
            else None,
            last_message_preview=conversation.last_message_preview,
            last_activity_at=conversation.last_activity_at,
            last_inbound_at=conversation.last_inbound_at,
            unread_count=conversation.unread_count,
            window=WindowOut.at(last_inbound_at=conversation.last_inbound_at, now=now),
            free_entry_point=_free_entry_point(conversation, now=now),
            referral=dict(conversation.referral) if conversation.referral else None,
            snoozed_until=conversation.snoozed_until,
            created_at=conversation.created_at,
            closed_at=conversation.closed_at,
        )


def _free_entry_point(conversation: Conversation, *, now: datetime) -> FreeEntryPointOut | None:
    expires_at = conversation.free_entry_point_expires_at
    if expires_at is None:
        return None
    return FreeEntryPointOut(expires_at=expires_at, active=now < expires_at)


class ConversationPageOut(Page[ConversationOut]):
    pass


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID | None = Field(
        description="The agent to assign; null leaves the conversation unassigned."
    )
    team_id: uuid.UUID | None = Field(
        default=None, description="The team; left as it is when not sent, cleared by null."
    )


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=10_000, description="Seen by the team only.")


class NoteOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    author_id: uuid.UUID | None = Field(description="The user who wrote it; null for the API.")
    body: str
    created_at: datetime

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        return cls(
            id=note.id,
            conversation_id=note.conversation_id,
            author_id=note.author_id,
            body=note.body,
            created_at=note.created_at,
        )


class NoteListOut(BaseModel):
    data: list[NoteOut]


class ConversationEventOut(BaseModel):
    id: int
    kind: str = Field(description="assigned, unassigned, closed, reopened, ...")
    actor: ActorOut
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: ConversationEvent) -> ConversationEventOut:
        return cls(
            id=event.id,
            kind=event.kind,
            actor=ActorOut(type=event.actor_type, id=event.actor_id),
            data=dict(event.data or {}),
            created_at=event.created_at,
        )


class ConversationEventListOut(BaseModel):
    data: list[ConversationEventOut]


# --- Messages ----------------------------------------------------------------------------


class MessageErrorOut(BaseModel):
    code: int | None = Field(description="Meta's error code, e.g. 131047.")
    title: str | None
    details: str | None = Field(description="Meta's (or our pipeline's) own words.")
    explanation: str | None = Field(description="What it means and what to do, in plain words.")


class TemplateRef(BaseModel):
    name: str
    language: str | None
    category: str | None


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    number_id: uuid.UUID
    direction: str = Field(description="in (from the customer) or out.")
    type: str
    text: str | None = Field(description="The body, caption, title or template name.")
    content: dict[str, Any] = Field(description="The message as WhatsApp shapes it.")
    template: TemplateRef | None
    media_id: uuid.UUID | None = Field(description="Our copy: GET /media/{id}/content.")
    status: str = Field(
        description="Out: queued, sending, accepted, sent, delivered, read or failed. "
        "In: received or read."
    )
    error: MessageErrorOut | None
    author: ActorOut
    wamid: str | None = Field(description="WhatsApp's message id, once it has one.")
    reply_to_wamid: str | None
    pricing: dict[str, Any] | None = Field(description="What Meta charged, from its statuses.")
    conversation_origin: str | None
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a retry is due (queued only).")
    created_at: datetime
    queued_at: datetime | None
    sending_at: datetime | None
    accepted_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    occurred_at: datetime | None = Field(description="When WhatsApp stamped it.")
    campaign_id: uuid.UUID | None = Field(
        default=None,
        description="In: the campaign this message answers (it quotes the campaign's message, "
        "or came within 24 hours of it with nothing sent since), GET /campaigns/{id}.",
    )

    @classmethod
    def fields_of(cls, message: Message) -> dict[str, Any]:
        return {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "contact_id": message.contact_id,
            "number_id": message.channel_id,
            "direction": message.direction,
            "type": message.type,
            "text": message.text,
            "content": dict(message.content or {}),
            "template": TemplateRef(
                name=message.template_name,
                language=message.template_language,
                category=message.template_category,
            )
            if message.template_name
            else None,
            "media_id": message.media_id,
            "status": message.status,
            "error": _error_of(message),
            "author": ActorOut(type=message.author_type, id=message.author_id),
            "wamid": message.wamid,
            "reply_to_wamid": message.reply_to_wamid,
            "pricing": dict(message.pricing) if message.pricing else None,
            "conversation_origin": message.conversation_origin,
            "attempts": message.attempts,
            "next_attempt_at": message.next_attempt_at,
            "campaign_id": message.campaign_id,
            "created_at": message.created_at,
            "queued_at": message.queued_at,
            "sending_at": message.sending_at,
            "accepted_at": message.accepted_at,
            "sent_at": message.sent_at,
            "delivered_at": message.delivered_at,
            "read_at": message.read_at,
            "failed_at": message.failed_at,
            "occurred_at": message.occurred_at,
        }

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(**cls.fields_of(message))


def _error_of(message: Message) -> MessageErrorOut | None:
    if message.error_code is None and message.error_title is None and not message.error_detail:
        return None
    spec = spec_for(message.error_code)
    return MessageErrorOut(
        code=message.error_code,
        title=message.error_title or (spec.title if spec else None),
        details=message.error_detail,
        explanation=spec.explanation if spec else None,
    )


class MessagePageOut(Page[MessageOut]):
    pass


class ContactHitsOut(BaseModel):
    data: list[ContactOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (same `q`) for more contacts; null when there are no more."
    )


class MessageHitsOut(BaseModel):
    data: list[MessageOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (same `q`) for more messages; null when there are no more."
    )


class SearchOut(BaseModel):
    """Contacts and messages matching the query, best first. A section is null when a
    cursor asked for the other one."""

    contacts: ContactHitsOut | None
    messages: MessageHitsOut | None


class MessageSend(BaseModel):
    """A message to send: who to, from which number, and the message as Meta's API takes it.

    The recipient is exactly one of `to`, `contact_id` or `conversation_id`; `number_id` is
    required unless `conversation_id` names the number. Then `type` and the object of that
    type under the key of the same name, exactly as in Meta's Cloud API
    (`"text": {"body": "...", "preview_url": false}`, `"image": {"id": "..."}`,
    `"template": {"name", "language", "components"}`, `"interactive": {...}`, ...).
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"externalDocs": {"url": _META_SEND_DOCS}},
    )

    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=160,
        description="A phone number in any common writing (+52 1 55 1234 5678, a wa_id) or a "
        "business-scoped user id (BSUID). The contact is created if new.",
        examples=["+1 555 010 1234"],
    )
    contact_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = Field(
        default=None,
        description="Send in this conversation's thread (a closed one: in the contact's next "
        "conversation on that number).",
    )
    number_id: uuid.UUID | None = Field(
        default=None, description="The business number to send from (`/numbers` id)."
    )
    type: MessageType = "text"
    reply_to: uuid.UUID | None = Field(
        default=None,
        description="The id of one of our messages (in or out) to quote; it must have reached "
        "WhatsApp (have a `wamid`).",
    )
    text: dict[str, Any] | None = Field(default=None, examples=[{"body": "Hello!"}])
    image: dict[str, Any] | None = Field(
        default=None,
        description='`{"id": <meta_media_id from POST /media>}` or `{"link": "https://..."}`, '
        "optional `caption`.",
    )
    video: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    document: dict[str, Any] | None = None
    sticker: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] | None = None
    reaction: dict[str, Any] | None = Field(
        default=None, description='`{"message_id": <wamid>, "emoji": "👍"}`.'
    )
    interactive: dict[str, Any] | None = None
    template: dict[str, Any] | None = Field(
        default=None,
        description="Meta's object (`name`, `language`, `components`), or a template of "
        "/templates by `name` and `language` with `variables` by name instead of "
        '`components` (`{"first_name": "{{contact.first_name|there}}", "button.0": "A1"}`), '
        "an optional `header_media` and `track_links` (links in values become tracked short "
        "links). A template known here must be APPROVED and its values fit it.",
        examples=[
            {"name": "order_update", "language": {"code": "en_US"}, "components": []},
            {"name": "order_update", "language": "en_US",
             "variables": {"first_name": "{{contact.first_name|there}}", "order": "A-7"}},
        ],
    )  # fmt: skip

    def type_object(self) -> Any:
        return getattr(self, self.type)

    def other_type_objects(self) -> list[str]:
        """The type objects sent besides the one `type` names (a mistake to point out)."""
        return [
            kind for kind in MESSAGE_TYPES if kind != self.type and getattr(self, kind) is not None
        ]


class WarningOut(BaseModel):
    code: str = Field(description="Stable slug, e.g. outside_customer_service_window.")
    detail: str


class MessageQueuedOut(MessageOut):
    """The message as queued, with what is known now about its chances."""

    window: WindowOut = Field(description="The customer-service window when it was queued.")
    warnings: list[WarningOut] = Field(
        description="Reasons it may not be delivered, known before WhatsApp answers."
    )

    @classmethod
    def of_queued(cls, queued: QueuedMessage) -> MessageQueuedOut:
        return cls(
            **MessageOut.fields_of(queued.message),
            window=WindowOut.at(last_inbound_at=queued.last_inbound_at, now=queued.queued_at),
            warnings=[WarningOut(code=w.code, detail=w.detail) for w in queued.warnings],
        )


# --- Media -------------------------------------------------------------------------------


class MediaOut(BaseModel):
    id: uuid.UUID
    number_id: uuid.UUID | None
    meta_media_id: str | None = Field(
        description='Send it with `{"image": {"id": <this>}}` (30 days from upload).'
    )
    mime_type: str
    size: int | None
    sha256: str | None
    filename: str | None
    state: str = Field(description="pending (being fetched from WhatsApp), stored or failed.")
    created_at: datetime

    @classmethod
    def of(cls, media: MediaFile) -> MediaOut:
        return cls(
            id=media.id,
            number_id=media.channel_id,
            meta_media_id=media.meta_media_id,
            mime_type=media.mime_type,
            size=media.size,
            sha256=media.sha256,
            filename=media.filename,
            state=media.state,
            created_at=media.created_at,
        )
