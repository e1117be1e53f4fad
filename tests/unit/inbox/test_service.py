"""Pure parts of the inbox service: cursors, content checks, media checks, send warnings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.inbox.errors import (
    InvalidAssigneeError,
    InvalidCursorError,
    InvalidMessageContentError,
    InvalidReplyToError,
    MediaTooLargeError,
    UnsupportedMediaError,
)
from ovillo.inbox.schemas import MessageSend
from ovillo.inbox.service import (
    OUTSIDE_WINDOW_WARNING,
    assignee_filter,
    check_media,
    check_message_content,
    decode_conversation_cursor,
    decode_message_cursor,
    encode_conversation_cursor,
    encode_message_cursor,
    field_path,
    send_warnings,
)
from ovillo.rules.window import window_state

moments = st.datetimes(
    # Hypothesis wants naive bounds and attaches the zone itself.
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(moments, st.uuids())
def test_a_conversation_cursor_resumes_after_its_row(moment: datetime, row: uuid.UUID) -> None:
    assert decode_conversation_cursor(encode_conversation_cursor(moment, row)) == (moment, row)


@given(st.integers(min_value=0, max_value=2**62), st.sampled_from(["asc", "desc"]))
def test_a_message_cursor_keeps_its_order(seq: int, order: Any) -> None:
    assert decode_message_cursor(encode_message_cursor(seq, order)) == (seq, order)


@given(st.text(max_size=80))
def test_anything_else_is_refused_as_a_cursor(garbage: str) -> None:
    for decode in (decode_conversation_cursor, decode_message_cursor):
        try:
            decode(garbage)
        except InvalidCursorError:
            continue
        pytest.fail(f"{garbage!r} decoded")


def test_cursors_of_one_list_are_refused_by_the_other() -> None:
    with pytest.raises(InvalidCursorError):
        decode_message_cursor(encode_conversation_cursor(datetime.now(UTC), uuid.uuid4()))
    with pytest.raises(InvalidCursorError):
        decode_conversation_cursor(encode_message_cursor(7, "asc"))


@pytest.mark.parametrize(
    ("data", "loc", "path"),
    [
        ({"type": "text", "text": {"body": ""}}, ("text", "text", "body"), "text.body"),
        ({"type": "text"}, ("text", "text"), "text"),
        ({"type": "template", "template": {"name": "x"}}, ("template", "template", "language"),
         "template.language"),
        ({"type": "interactive", "interactive": {"type": "button", "action": {"buttons": []}}},
         ("interactive", "interactive", "button", "action", "buttons"),
         "interactive.action.buttons"),
        ({"buttons": [{"type": "reply", "reply": {}}]}, ("buttons", 0, "reply", "title"),
         "buttons.0.reply.title"),
        ({"components": [{"type": "body", "parameters": [{"type": "text"}]}]},
         ("components", 0, "body", "parameters", 0, "text", "text"),
         "components.0.parameters.0.text"),
        ({"header": {"type": "text", "text": 5}}, ("header", "text", "text"), "header.text"),
    ],
)  # fmt: skip
def test_error_paths_follow_the_data_not_the_union_tags(
    data: dict[str, Any], loc: tuple[int | str, ...], path: str
) -> None:
    assert field_path(data, loc) == path


def _send(**fields: Any) -> MessageSend:
    return MessageSend.model_validate({"to": "+15550100100", **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "text", "text": {"body": ""}}, "text.body"),
        ({"type": "text", "text": {"body": "x" * 4097}}, "text.body"),
        ({"type": "text"}, "text"),
        ({"type": "text", "text": {"body": "hi"}, "image": {"id": "1"}}, "image"),
        ({"type": "image", "image": {"caption": "no media"}}, "image"),
        ({"type": "image", "image": {"link": "ftp://example.com/a.png"}}, "image.link"),
        ({"type": "audio", "audio": {"id": "1", "caption": "no"}}, "audio"),
        ({"type": "template", "template": {"name": "order_update"}}, "template.language"),
        ({"type": "interactive", "interactive": {
            "type": "button", "body": {"text": "Pick"},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": str(i), "title": f"B{i}"}} for i in range(4)
            ]}}}, "interactive.action.buttons"),
        ({"type": "interactive", "interactive": {
            "type": "button", "body": {"text": "Pick"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]},
        }}, "interactive.action.buttons.0.reply.title"),
        ({"type": "location", "location": {"latitude": 91, "longitude": 0}}, "location.latitude"),
        ({"type": "reaction", "reaction": {"emoji": "👍"}}, "reaction.message_id"),
    ],
)  # fmt: skip
def test_bad_content_names_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidMessageContentError) as caught:
        check_message_content(_send(**fields))
    assert caught.value.extra["field"] == field
    assert field in (caught.value.detail or "")


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "text", "text": {"body": "hi", "preview_url": True}},
        {"type": "image", "image": {"id": "123", "caption": "receipt"}},
        {"type": "document", "document": {"link": "https://example.com/a.pdf", "filename": "a"}},
        {"type": "sticker", "sticker": {"id": "9"}},
        {"type": "location", "location": {"latitude": 19.4, "longitude": -99.1, "name": "HQ"}},
        {"type": "contacts", "contacts": [{"name": {"formatted_name": "Ana"}}]},
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}},
        {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}},
        {"type": "interactive", "interactive": {
            "type": "list", "body": {"text": "Menu"},
            "action": {"button": "Open", "sections": [{"rows": [{"id": "1", "title": "One"}]}]},
        }},
    ],
)  # fmt: skip
def test_good_content_passes_as_given(fields: dict[str, Any]) -> None:
    kind = fields["type"]
    assert check_message_content(_send(**fields)) == {"type": kind, kind: fields[kind]}


@pytest.mark.parametrize(
    ("mime", "filename", "size", "expected"),
    [
        ("image/jpeg", None, 10, ("image/jpeg", "image")),
        ("IMAGE/PNG; charset=binary", None, 10, ("image/png", "image")),
        ("application/octet-stream", "scan.pdf", 10, ("application/pdf", "document")),
        (None, "voice.ogg", 10, ("audio/ogg", "audio")),
        ("image/webp", None, 10, ("image/webp", "sticker")),
    ],
)
def test_media_whatsapp_takes(
    mime: str | None, filename: str | None, size: int, expected: tuple[str, str]
) -> None:
    assert check_media(mime_type=mime, filename=filename, size=size) == expected


@pytest.mark.parametrize(
    ("mime", "filename", "size", "error"),
    [
        ("text/html", None, 10, UnsupportedMediaError),
        ("image/gif", None, 10, UnsupportedMediaError),
        (None, None, 10, UnsupportedMediaError),
        ("image/png", None, 0, UnsupportedMediaError),
        ("image/png", None, 5 * 1024 * 1024 + 1, MediaTooLargeError),
    ],
)
def test_media_whatsapp_refuses(
    mime: str | None, filename: str | None, size: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        check_media(mime_type=mime, filename=filename, size=size)


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message_type", "last_inbound_at", "warned"),
    [
        ("text", NOW - timedelta(hours=1), False),
        ("text", NOW - timedelta(hours=24), True),
        ("text", None, True),
        ("image", NOW - timedelta(hours=25), True),
        ("template", None, False),
        ("template", NOW - timedelta(days=3), False),
    ],
)
def test_free_form_outside_the_window_is_warned(
    message_type: str, last_inbound_at: datetime | None, warned: bool
) -> None:
    state = window_state(last_inbound_at=last_inbound_at, now=NOW)
    warnings = send_warnings(message_type=message_type, window=state)
    assert [w.code for w in warnings] == ([OUTSIDE_WINDOW_WARNING] if warned else [])
    if warned:
        assert "only a template will be delivered" in warnings[0].detail


def test_a_reaction_cannot_quote_a_message() -> None:
    send = _send(
        type="reaction",
        reaction={"message_id": "wamid.X", "emoji": "👍"},
        reply_to=str(uuid.uuid4()),
    )
    with pytest.raises(InvalidReplyToError):
        check_message_content(send)


def test_assignee_filter() -> None:
    user = uuid.uuid4()
    assert assignee_filter("none") == "none"
    assert assignee_filter(str(user)) == user
    with pytest.raises(InvalidAssigneeError):
        assignee_filter("nobody")
