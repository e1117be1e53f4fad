"""The pure rules of ingestion: the status order, texts, hashes, retries, free entry points."""

from __future__ import annotations

import base64
import hashlib
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.cloudapi import webhooks as wire
from ovillo.inbox.ingest import (
    MAX_EVENT_ATTEMPTS,
    MAX_MEDIA_ATTEMPTS,
    STATUS_RANK,
    DeliveryState,
    StatusError,
    StatusUpdate,
    advance_status,
    do_open_free_entry_point,
    event_retry_delay,
    media_hash_matches,
    media_retry_delay,
    opens_window,
    preview_of,
    status_update_of,
    text_of,
)
from ovillo.inbox.models import Conversation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fold(state: DeliveryState, updates: list[StatusUpdate]) -> DeliveryState:
    return reduce(advance_status, updates, state)


# --- The status order ------------------------------------------------------------------------

_errors = st.none() | st.builds(
    StatusError,
    code=st.sampled_from([None, 131026, 131047, 131049]),
    title=st.sampled_from([None, "Message undeliverable", "Re-engagement message"]),
    detail=st.sampled_from([None, "why", "other"]),
)
_updates = st.builds(
    StatusUpdate,
    status=st.sampled_from(["sent", "delivered", "read", "failed", "deleted", "warning"]),
    at=st.integers(0, 600).map(lambda s: T0 + timedelta(seconds=s)),
    error=_errors,
)
_starts = st.sampled_from(
    [
        DeliveryState(status="accepted"),
        DeliveryState(status="sending"),
        DeliveryState(status="queued"),
        DeliveryState(status="sent", sent_at=T0),
        DeliveryState(
            status="failed", failed_at=T0 + timedelta(seconds=30), error=StatusError(code=1)
        ),
    ]
)


@given(_starts, st.lists(_updates, max_size=7), st.randoms(use_true_random=False))
def test_any_order_of_the_same_statuses_ends_in_the_same_state(
    start: DeliveryState, updates: list[StatusUpdate], random: Any
) -> None:
    shuffled = list(updates)
    random.shuffle(shuffled)
    assert fold(start, shuffled) == fold(start, updates)


@given(_starts, st.lists(_updates, max_size=7))
def test_applying_statuses_again_changes_nothing(
    start: DeliveryState, updates: list[StatusUpdate]
) -> None:
    once = fold(start, updates)
    assert fold(once, updates) == once


@given(_starts, st.lists(_updates, max_size=7))
def test_the_status_never_moves_back(start: DeliveryState, updates: list[StatusUpdate]) -> None:
    state = start
    for update in updates:
        after = advance_status(state, update)
        assert STATUS_RANK[after.status] >= STATUS_RANK[state.status]
        # A time once filled is never cleared.
        for name in ("sent_at", "delivered_at", "read_at", "failed_at"):
            if getattr(state, name) is not None:
                assert getattr(after, name) is not None
        state = after


def test_read_before_delivered_ends_read_with_both_times() -> None:
    state = fold(
        DeliveryState(status="accepted"),
        [
            StatusUpdate("read", T0 + timedelta(seconds=20)),
            StatusUpdate("delivered", T0 + timedelta(seconds=10)),
        ],
    )
    assert state == DeliveryState(
        status="read", delivered_at=T0 + timedelta(seconds=10), read_at=T0 + timedelta(seconds=20)
    )


ERROR = StatusError(code=131026, title="Message undeliverable", detail="not on WhatsApp")


@pytest.mark.parametrize(
    ("updates", "status", "error"),
    [
        # A late `sent` does not undo a failure, nor erase its error.
        ([StatusUpdate("failed", T0, ERROR), StatusUpdate("sent", T0)], "failed", ERROR),
        ([StatusUpdate("sent", T0), StatusUpdate("failed", T0, ERROR)], "failed", ERROR),
        # A delivery proves the message arrived: it wins over failed, the error is kept.
        ([StatusUpdate("failed", T0, ERROR), StatusUpdate("delivered", T0)], "delivered", ERROR),
        ([StatusUpdate("read", T0), StatusUpdate("failed", T0, ERROR)], "read", ERROR),
        # Statuses we do not rank change nothing.
        ([StatusUpdate("deleted", T0), StatusUpdate("played", T0)], "accepted", None),
        ([StatusUpdate("sent", T0), StatusUpdate("sent", T0)], "sent", None),
    ],
)
def test_status_table(updates: list[StatusUpdate], status: str, error: StatusError | None) -> None:
    state = fold(DeliveryState(status="accepted"), updates)
    assert state.status == status
    assert state.error == error


def test_of_two_failures_the_earliest_error_is_kept_in_any_order() -> None:
    early = StatusUpdate("failed", T0, StatusError(code=131049))
    late = StatusUpdate("failed", T0 + timedelta(seconds=5), StatusError(code=131026))
    for order in itertools.permutations([early, late]):
        state = fold(DeliveryState(status="sent"), list(order))
        assert (state.failed_at, state.error) == (T0, StatusError(code=131049))


def test_delivered_after_read_fills_delivered_at_and_nothing_else() -> None:
    read = DeliveryState(status="read", sent_at=T0, read_at=T0 + timedelta(seconds=9))
    after = advance_status(read, StatusUpdate("delivered", T0 + timedelta(seconds=4)))
    assert after == DeliveryState(
        status="read",
        sent_at=T0,
        delivered_at=T0 + timedelta(seconds=4),
        read_at=T0 + timedelta(seconds=9),
    )


def test_status_update_of_reads_the_first_error() -> None:
    status = wire.MessageStatus.model_validate(
        {
            "id": "wamid.X",
            "status": "failed",
            "timestamp": str(int(T0.timestamp())),
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "More than 24 hours have passed."},
                }
            ],
        }
    )
    assert status_update_of(status) == StatusUpdate(
        "failed",
        T0,
        StatusError(131047, "Re-engagement message", "More than 24 hours have passed."),
    )


# --- What an inbound message says --------------------------------------------------------------


def _message(kind: str, body: dict[str, Any], **extra: Any) -> wire.InboundMessageBase:
    value = wire.parse_change_value(
        "messages",
        {
            "metadata": {"display_phone_number": "1", "phone_number_id": "2"},
            "messages": [
                {
                    "from": "1555",
                    "id": "wamid.A",
                    "timestamp": "1",
                    "type": kind,
                    kind: body,
                    **extra,
                }
            ],
        },
    )
    assert isinstance(value, wire.MessagesValue)
    assert value.messages is not None
    message: wire.InboundMessageBase = value.messages[0]
    return message


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        ("text", {"body": "hola"}, "hola"),
        ("image", {"id": "1", "mime_type": "image/jpeg", "caption": "foto"}, "foto"),
        ("image", {"id": "1", "mime_type": "image/jpeg"}, None),
        ("document", {"id": "1", "filename": "factura.pdf"}, "factura.pdf"),
        ("button", {"payload": "STOP", "text": "Parar"}, "Parar"),
        ("interactive", {"type": "button_reply", "button_reply": {"id": "y", "title": "Sí"}}, "Sí"),
        ("interactive", {"type": "list_reply", "list_reply": {"id": "r", "title": "Rojo"}}, "Rojo"),
        ("location", {"latitude": 19.4, "longitude": -99.1, "name": "Zócalo"}, "Zócalo"),
        ("location", {"latitude": 19.4, "longitude": -99.1}, "19.4,-99.1"),
        ("contacts", [{"name": {"formatted_name": "Luis"}}], "Luis"),
        ("reaction", {"message_id": "wamid.B", "emoji": "👍"}, "👍"),
        ("reaction", {"message_id": "wamid.B"}, None),
        (
            "system",
            {"body": "User changed number", "type": "user_changed_number"},
            "User changed number",
        ),
        ("sticker", {"id": "1", "mime_type": "image/webp"}, None),
        ("poll_of_the_future", {"question": "?"}, None),
    ],
)
def test_text_of(kind: str, body: Any, expected: str | None) -> None:
    message = _message(kind, body)
    assert text_of(message) == expected
    assert preview_of(message, text_of(message)) == (expected or f"[{kind}]")


def test_system_messages_do_not_open_the_window() -> None:
    assert opens_window(_message("text", {"body": "x"}))
    assert opens_window(_message("reaction", {"message_id": "wamid.B", "emoji": "👍"}))
    assert not opens_window(_message("system", {"body": "x", "type": "user_changed_number"}))


def test_media_hash_matches_hex_or_base64() -> None:
    data = b"some bytes"
    digest = hashlib.sha256(data).digest()
    assert media_hash_matches(data, digest.hex())
    assert media_hash_matches(data, digest.hex().upper())
    assert media_hash_matches(data, base64.b64encode(digest).decode())
    assert media_hash_matches(data, None)
    assert not media_hash_matches(data, hashlib.sha256(b"other").hexdigest())


def test_retries_grow_then_stop() -> None:
    event_delays = [event_retry_delay(n) for n in range(1, MAX_EVENT_ATTEMPTS + 1)]
    assert event_delays[-1] is None
    finite = [d for d in event_delays if d is not None]
    assert finite == sorted(finite)
    assert len(finite) == MAX_EVENT_ATTEMPTS - 1
    media_delays = [media_retry_delay(n) for n in range(1, MAX_MEDIA_ATTEMPTS + 1)]
    assert media_delays[-1] is None
    assert all(d is not None and d > timedelta(0) for d in media_delays[:-1])


# --- Free entry point --------------------------------------------------------------------------


def _conversation(referral_at: datetime | None) -> Conversation:
    return Conversation(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        channel_id=uuid.uuid4(),
        contact_id=uuid.uuid4(),
        referral_at=referral_at,
        free_entry_point_expires_at=None,
        last_activity_at=T0,
        created_at=T0,
    )


def test_the_earliest_reply_within_24_hours_opens_the_free_entry_point() -> None:
    conversation = _conversation(T0)
    late, early = T0 + timedelta(hours=5), T0 + timedelta(hours=1)
    assert do_open_free_entry_point(conversation=conversation, replied_at=late, now=late) == (
        late + timedelta(hours=72)
    )
    assert do_open_free_entry_point(conversation=conversation, replied_at=early, now=late) == (
        early + timedelta(hours=72)
    )
    # A later reply does not move it.
    again = T0 + timedelta(hours=6)
    assert do_open_free_entry_point(conversation=conversation, replied_at=again, now=again) == (
        early + timedelta(hours=72)
    )
    assert conversation.free_entry_point_expires_at == early + timedelta(hours=72)


@pytest.mark.parametrize(
    ("referral_at", "replied_at"),
    [
        (None, T0),
        (T0, T0 - timedelta(seconds=1)),  # answered before the ad message
        (T0, T0 + timedelta(hours=24)),  # too late
    ],
)
def test_no_free_entry_point_without_a_timely_reply(
    referral_at: datetime | None, replied_at: datetime
) -> None:
    conversation = _conversation(referral_at)
    assert (
        do_open_free_entry_point(conversation=conversation, replied_at=replied_at, now=T0) is None
    )
    assert conversation.free_entry_point_expires_at is None


def test_a_new_referral_opens_a_new_free_entry_point() -> None:
    conversation = _conversation(T0)
    first = T0 + timedelta(hours=1)
    do_open_free_entry_point(conversation=conversation, replied_at=first, now=first)
    conversation.referral_at = T0 + timedelta(days=10)
    second = conversation.referral_at + timedelta(hours=2)
    assert do_open_free_entry_point(conversation=conversation, replied_at=second, now=second) == (
        second + timedelta(hours=72)
    )
