"""Media answers and Meta's table of accepted media."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ovillo.cloudapi.media import (
    MEDIA_LIMITS,
    MEGABYTE,
    STICKER_STATIC_MAX_BYTES,
    MediaInfo,
    MediaKind,
    MediaUploaded,
    media_kind_for_mime,
)

MEDIA_INFO: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=1&hash=A",
    "mime_type": "image/jpeg",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "file_size": 303833,
    "id": "2621233374848975",
}


def test_upload_answer_round_trips() -> None:
    assert MediaUploaded.model_validate({"id": "1234"}).to_wire() == {"id": "1234"}


def test_media_info_round_trips_with_unknown_fields() -> None:
    grown = {**MEDIA_INFO, "expires_at": 1735689900}

    assert MediaInfo.model_validate(MEDIA_INFO).to_wire() == MEDIA_INFO
    assert MediaInfo.model_validate(grown).to_wire() == grown


@pytest.mark.parametrize("field", ["url", "mime_type", "sha256", "file_size", "id"])
def test_media_info_needs_each_field(field: str) -> None:
    data = {key: value for key, value in MEDIA_INFO.items() if key != field}

    with pytest.raises(ValidationError) as caught:
        MediaInfo.model_validate(data)
    assert any(field in map(str, error["loc"]) for error in caught.value.errors())


def test_upload_answer_needs_an_id() -> None:
    with pytest.raises(ValidationError):
        MediaUploaded.model_validate({"id": ""})


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("audio/aac", "audio"),
        ("audio/amr", "audio"),
        ("audio/mpeg", "audio"),
        ("audio/mp4", "audio"),
        ("audio/ogg", "audio"),
        ("audio/ogg; codecs=opus", "audio"),
        ("text/plain", "document"),
        ("application/pdf", "document"),
        ("application/msword", "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        ("application/vnd.ms-excel", "document"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
        ("application/vnd.ms-powerpoint", "document"),
        ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "document"),
        ("image/jpeg", "image"),
        ("IMAGE/PNG", "image"),
        ("video/mp4", "video"),
        ("video/3gpp", "video"),
        ("image/webp", "sticker"),
        ("image/gif", None),
        ("video/quicktime", None),
        ("application/zip", None),
        ("", None),
    ],
)
def test_media_kind_for_mime(mime: str, kind: str | None) -> None:
    assert media_kind_for_mime(mime) == kind


@pytest.mark.parametrize(
    ("kind", "max_bytes"),
    [
        (MediaKind.AUDIO, 16 * MEGABYTE),
        (MediaKind.DOCUMENT, 100 * MEGABYTE),
        (MediaKind.IMAGE, 5 * MEGABYTE),
        (MediaKind.VIDEO, 16 * MEGABYTE),
        (MediaKind.STICKER, 500 * 1024),
    ],
)
def test_size_limits_are_meta_s(kind: MediaKind, max_bytes: int) -> None:
    assert MEDIA_LIMITS[kind].max_bytes == max_bytes


def test_static_stickers_are_smaller() -> None:
    assert STICKER_STATIC_MAX_BYTES == 100 * 1024 < MEDIA_LIMITS[MediaKind.STICKER].max_bytes


def test_every_kind_has_limits_and_no_mime_is_in_two_kinds() -> None:
    assert set(MEDIA_LIMITS) == set(MediaKind)
    all_types = [mime for limit in MEDIA_LIMITS.values() for mime in limit.mime_types]
    assert len(all_types) == len(set(all_types))


@given(
    kind=st.sampled_from(list(MediaKind)),
    parameters=st.sampled_from(["", "; charset=binary", ";codecs=opus", " ; x=1"]),
    data=st.data(),
)
def test_every_listed_type_maps_back_to_its_kind(
    kind: MediaKind, parameters: str, data: st.DataObject
) -> None:
    mime = data.draw(st.sampled_from(sorted(MEDIA_LIMITS[kind].mime_types)))
    cased = data.draw(st.sampled_from([mime, mime.upper(), mime.title()]))

    assert media_kind_for_mime(cased + parameters) == kind.value
