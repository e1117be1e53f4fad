"""The emulator's world: businesses, WABAs, numbers, customers, messages, media, templates.

Plain dataclasses held in memory by ``EmulatorState``; the emulator's store persists them
(SQLite by default, nothing for tests). Each module of the emulator owns the behaviour of
its entities; this module only says what they are.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ovillo.emulator.ids import IdFactory

DEFAULT_THROUGHPUT_MPS = 80
WEBHOOK_LOG_LIMIT = 100_000


@dataclass(slots=True)
class Business:
    """A Meta business portfolio: owns WABAs; its system-user token reaches all of them."""

    id: str
    name: str
    access_token: str
    verified: bool = False
    # Since Oct 2025 the messaging limit belongs to the portfolio (rules.limits).
    messaging_limit: str = "TIER_250"
    tier_changed_at: datetime | None = None


@dataclass(slots=True)
class Waba:
    """A WhatsApp Business Account."""

    id: str
    business_id: str
    name: str
    currency: str = "USD"
    timezone_id: str = "1"
    subscribed_apps: list[dict[str, Any]] = field(default_factory=list)
    message_template_namespace: str = ""
    # Set by `POST /{waba-id}/subscribed_apps` with `override_callback_uri`: the WABA's
    # numbers deliver there instead of the app's callback (emulator.numbers).
    override_callback_uri: str | None = None
    override_verify_token: str | None = None
    # The subscribed app's id, kept across unsubscribe and subscribe again.
    app_id: str | None = None


@dataclass(slots=True)
class PhoneNumber:
    """A business phone number on the Cloud API."""

    id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    webhook_url: str | None
    app_secret: str
    verify_token: str | None = None
    quality_rating: str = "GREEN"
    messaging_limit_tier: str = "TIER_250"
    throughput_mps: int = DEFAULT_THROUGHPUT_MPS
    code_verification_status: str = "VERIFIED"
    name_status: str = "APPROVED"
    status: str = "CONNECTED"
    platform_type: str = "CLOUD_API"
    account_mode: str = "LIVE"
    registered: bool = True
    pin: str | None = None
    is_official_business_account: bool = False
    business_profile: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    # Onboarding (emulator.numbers): register/deregister calls in Meta's 72-hour window,
    # the end of a 133016 lockout, the code of the last request_code.
    register_attempts: list[datetime] = field(default_factory=list)
    register_blocked_until: datetime | None = None
    verification_code: str | None = None
    last_onboarded_at: datetime | None = None
    # Callback overrides (emulator.numbers): while one is in force `webhook_url` is the
    # override and `app_webhook_url` keeps the app's own callback to return to.
    webhook_override: str | None = None
    webhook_overridden: bool = False
    app_webhook_url: str | None = None

    @property
    def throughput_level(self) -> str:
        return "HIGH" if self.throughput_mps >= 1000 else "STANDARD"


@dataclass(slots=True)
class Persona:
    """How a simulated customer behaves (delays in emulator seconds)."""

    name: str = "default"
    delivers: bool = True
    delivery_delay: float = 1.0
    reads: bool = True
    read_delay: float = 5.0
    online: bool = True
    offline_for: float = 0.0
    replies: bool = False
    reply_delay: float = 10.0
    reply_texts: list[str] = field(default_factory=lambda: ["Thanks!"])
    taps_first_button: bool = False
    # False: the number has no WhatsApp account, so sends to it fail with 131026.
    on_whatsapp: bool = True
    # A guard against two bots answering each other forever (a business auto-reply).
    max_replies_per_day: int = 50


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """A customer blocked or reported a business number: what Meta's quality rating counts."""

    at: datetime
    phone_number_id: str
    kind: str  # "block" | "report"


@dataclass(slots=True)
class Customer:
    """A WhatsApp user the businesses talk to."""

    wa_id: str
    user_id: str
    name: str
    country: str | None = None
    username: str | None = None
    persona: Persona = field(default_factory=Persona)
    on_whatsapp: bool = True
    opted_out_marketing: bool = False
    blocked_numbers: set[str] = field(default_factory=set)
    reported_numbers: set[str] = field(default_factory=set)
    # phone_number_id -> when this customer last wrote to that number.
    last_inbound_at: dict[str, datetime] = field(default_factory=dict)
    # phone_number_id -> (referral received at, referral object) of a Click-to-WhatsApp entry.
    referrals: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    # phone_number_id -> when the customer tapped "stop" on that number's marketing (131050).
    # `opted_out_marketing` mirrors "any number"; ask customers.opted_out_of_marketing().
    marketing_opt_outs: dict[str, datetime] = field(default_factory=dict)
    # Every block and report, kept after an unblock: Meta's quality counts the event.
    feedback: list[FeedbackEvent] = field(default_factory=list)
    # An offline persona's phone comes back at this moment; messages wait until then.
    offline_until: datetime | None = None
    # When the persona answered automatically, for Persona.max_replies_per_day.
    persona_replies: list[datetime] = field(default_factory=list)
    created_at: datetime | None = None


@dataclass(slots=True)
class SentMessage:
    """A message a business sent, as the emulator accepted it."""

    id: str
    phone_number_id: str
    to: str
    user_id: str | None
    type: str
    payload: dict[str, Any]
    accepted_at: datetime
    biz_opaque_callback_data: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    category: str | None = None
    status: str = "accepted"
    # status -> when it happened on the emulator clock
    timestamps: dict[str, datetime] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    pricing: dict[str, Any] | None = None
    # The `sent` status's conversation object; later statuses drop its expiration_timestamp.
    conversation: dict[str, Any] | None = None
    # What the request carried in `to` or `recipient`, echoed as `contacts[0].input`.
    recipient_input: str | None = None
    # Sent to a BSUID (`recipient`): statuses then carry `recipient_user_id`, not `recipient_id`.
    addressed_by_user_id: bool = False


@dataclass(slots=True)
class InboundMessage:
    """A message a simulated customer sent to a business number."""

    id: str
    phone_number_id: str
    from_wa_id: str
    type: str
    payload: dict[str, Any]
    timestamp: datetime
    read: bool = False


@dataclass(slots=True)
class Media:
    """A media file held by the emulator: uploaded by a business or sent by a customer."""

    id: str
    phone_number_id: str
    mime_type: str
    sha256: str
    file_size: int
    data: bytes
    filename: str | None = None
    created_at: datetime | None = None
    # Meta keeps uploaded media 30 days and media from webhooks 7 days (emulator.media).
    expires_at: datetime | None = None
    # Signs this media's download URLs, so a URL cannot be forged or outlive its media.
    url_secret: bytes = b""


@dataclass(slots=True)
class Template:
    """A message template of a WABA: one name in one language (emulator.templates).

    A deleted template stays here with status ``DELETED`` and ``deleted_at``: Meta blocks
    its name in that language for 30 days, and its id must never answer again.
    """

    id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str = "POSITIONAL"
    status: str = "PENDING"
    rejected_reason: str = "NONE"
    quality_score: str = "UNKNOWN"
    created_at: datetime | None = None
    review_due_at: datetime | None = None
    # Low-quality pauses so far (3 h, 6 h, then DISABLED; rules.limits.template_pause_decision).
    pauses: int = 0
    # When each edit of an APPROVED template happened: Meta allows 1 a day and 10 in 30 days.
    edits: list[datetime] = field(default_factory=list)
    # (when, status, reason) of every status change, oldest first.
    history: list[tuple[datetime, str, str]] = field(default_factory=list)
    # Set when Meta recategorised the template (template_category_update).
    previous_category: str | None = None
    message_send_ttl_seconds: int | None = None
    quality_updated_at: datetime | None = None
    paused_until: datetime | None = None
    deleted_at: datetime | None = None
    # Bumped by every edit, so a review scheduled for an older version does nothing.
    revision: int = 0


@dataclass(slots=True)
class UploadSession:
    """A Resumable Upload API session (``POST /{app-id}/uploads``): a file's declared name,
    length and type, the bytes received so far, and its handle once complete. Kept in
    memory only: an emulator restart loses unfinished uploads, as a lost session at Meta."""

    id: str
    app_id: str
    business_id: str
    file_name: str
    file_length: int
    file_type: str
    data: bytearray = field(default_factory=bytearray)
    handle: str | None = None


@dataclass(slots=True)
class WebhookAttempt:
    """One POST of a webhook to a receiver, and what came of it."""

    id: int
    phone_number_id: str | None
    url: str
    field: str
    items: int
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    delivered: bool
    body: bytes


@dataclass(slots=True)
class ScheduledJob:
    """Work due on the emulator clock that a restart must not lose (emulator.jobs): a
    template review, a pause ending, a tier upgrade, a simulated customer's message."""

    id: str
    kind: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    # Loaded from the store: what happened before the restart but is not persisted (sent
    # messages, webhook attempts) is gone, and the handler may need to know.
    restored: bool = False


@dataclass
class EmulatorState:
    """Everything the emulator knows, indexed for the Graph API's lookups."""

    ids: IdFactory = field(default_factory=IdFactory)
    businesses: dict[str, Business] = field(default_factory=dict)
    wabas: dict[str, Waba] = field(default_factory=dict)
    phone_numbers: dict[str, PhoneNumber] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    sent: dict[str, SentMessage] = field(default_factory=dict)
    inbound: dict[str, InboundMessage] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    uploads: dict[str, UploadSession] = field(default_factory=dict)
    webhook_log: deque[WebhookAttempt] = field(
        default_factory=lambda: deque(maxlen=WEBHOOK_LOG_LIMIT)
    )
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> business id
    jobs: dict[str, ScheduledJob] = field(default_factory=dict)
    # (kind, id) of customers and jobs changed since the store's last flush (emulator.store).
    dirty: set[tuple[str, str]] = field(default_factory=set)

    def touch(self, customer: Customer) -> None:
        """Mark a customer changed, for the store (emulator.store); cheap: a set.add.

        Businesses, WABAs, numbers, templates and media need no touch: the store finds
        their changes itself.
        """
        self.dirty.add(("customer", customer.wa_id))

    def node_kind(self, node_id: str) -> str | None:
        """What a Graph node id names, as the Graph API would resolve it."""
        if node_id in self.phone_numbers:
            return "phone_number"
        if node_id in self.wabas:
            return "waba"
        if node_id in self.templates:
            return "template"
        if node_id in self.media:
            return "media"
        if node_id in self.businesses:
            return "business"
        if node_id in self.uploads:
            return "upload"
        if self.app_business(node_id) is not None:
            return "app"
        return None

    def app_business(self, app_id: str) -> str | None:
        """The business of the app ``app_id`` (an app subscribed to one of its WABAs)."""
        for waba in self.wabas.values():
            if waba.app_id == app_id or any(
                str((app.get("whatsapp_business_api_data") or {}).get("id")) == app_id
                for app in waba.subscribed_apps
            ):
                return waba.business_id
        return None

    def business_of(self, node_id: str) -> str | None:
        """The business that owns a node: the token of that business may touch it."""
        if node_id in self.businesses:
            return node_id
        if node_id in self.wabas:
            return self.wabas[node_id].business_id
        if node_id in self.phone_numbers:
            return self.wabas[self.phone_numbers[node_id].waba_id].business_id
        if node_id in self.templates:
            return self.wabas[self.templates[node_id].waba_id].business_id
        if node_id in self.media:
            return self.business_of(self.media[node_id].phone_number_id)
        if node_id in self.uploads:
            return self.uploads[node_id].business_id
        return self.app_business(node_id)
