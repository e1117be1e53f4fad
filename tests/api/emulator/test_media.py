"""Media upload, URL, download and delete answer as Meta's Graph API and lookaside do."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import CloudAPIError, InvalidParameterError
from ovillo.cloudapi.media import MEGABYTE, MediaInfo
from ovillo.emulator.media import (
    MEDIA_MEMORY_LIMIT_SETTING,
    get_media,
    store_media,
    webhook_sha256,
)
from ovillo.emulator.server import EmulatorServer
from tests.api.emulator.conftest import Number, create_number

V = "/v23.0"
JPEG = b"\xff\xd8\xff\xe0" + b"emulated jpeg" * 100
DAY = 86_400


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def upload(
    control: httpx.AsyncClient,
    number: Number,
    data: bytes = JPEG,
    mime: str = "image/jpeg",
    *,
    fields: dict[str, str] | None = None,
    filename: str = "photo.jpg",
) -> httpx.Response:
    form = {"messaging_product": "whatsapp", "type": mime} if fields is None else fields
    return await control.post(
        f"{V}/{number.phone_number_id}/media",
        data=form,
        files={"file": (filename, data, mime)},
        headers=number.auth,
    )


async def advance(control: httpx.AsyncClient, seconds: float) -> None:
    response = await control.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200


def webp(size: int, *, animated: bool) -> bytes:
    flags = bytes([0x02 if animated else 0x00])
    header = b"RIFF" + (size - 8).to_bytes(4, "little") + b"WEBP" + b"VP8X" + b"\x0a\0\0\0"
    body = header + flags + b"\0" * 9
    return body + b"\0" * (size - len(body))


async def test_upload_get_download_delete(
    control: httpx.AsyncClient, number: Number, emulator_server: EmulatorServer
) -> None:
    uploaded = await upload(control, number)
    assert uploaded.status_code == 200, uploaded.text
    media_id = uploaded.json()["id"]
    assert set(uploaded.json()) == {"id"}
    info = await control.get(f"{V}/{media_id}", headers=number.auth)
    body = info.json()
    assert body == {
        "messaging_product": "whatsapp",
        "url": body["url"],
        "mime_type": "image/jpeg",
        "sha256": hashlib.sha256(JPEG).hexdigest(),
        "file_size": len(JPEG),
        "id": media_id,
    }
    url = urlsplit(body["url"])
    assert f"{url.scheme}://{url.netloc}" == emulator_server.url
    assert url.path == "/whatsapp_business/attachments/"
    query = parse_qs(url.query)
    assert query["mid"] == [media_id]
    assert set(query) == {"mid", "ext", "hash"}
    downloaded = await control.get(body["url"], headers=number.auth)
    assert downloaded.status_code == 200
    assert downloaded.content == JPEG
    assert downloaded.headers["content-type"] == "image/jpeg"
    deleted = await control.delete(f"{V}/{media_id}", headers=number.auth)
    assert deleted.json() == {"success": True}
    gone = await control.get(f"{V}/{media_id}", headers=number.auth)
    assert error_of(gone)["error_subcode"] == 33
    assert (await control.get(body["url"], headers=number.auth)).status_code == 404


async def test_download_url_needs_the_token_and_expires_in_five_minutes(
    control: httpx.AsyncClient, number: Number
) -> None:
    media_id = (await upload(control, number)).json()["id"]
    url = (await control.get(f"{V}/{media_id}", headers=number.auth)).json()["url"]
    assert (await control.get(url)).status_code == 404
    assert (await control.get(url, headers={"Authorization": "Bearer nope"})).status_code == 404
    other = await create_number(control, display_phone_number="+1 555-010-0099")
    assert (await control.get(url, headers=other.auth)).status_code == 404
    forged = url.replace("hash=", "hash=x")
    assert (await control.get(forged, headers=number.auth)).status_code == 404
    longer = url.replace("&ext=", "&ext=9")
    assert (await control.get(longer, headers=number.auth)).status_code == 404
    await advance(control, 4 * 60)
    assert (await control.get(url, headers=number.auth)).status_code == 200
    await advance(control, 2 * 60)
    assert (await control.get(url, headers=number.auth)).status_code == 404
    fresh = (await control.get(f"{V}/{media_id}", headers=number.auth)).json()["url"]
    assert (await control.get(fresh, headers=number.auth)).content == JPEG


async def test_uploaded_media_expires_after_30_days(
    control: httpx.AsyncClient, number: Number
) -> None:
    media_id = (await upload(control, number)).json()["id"]
    await advance(control, 29 * DAY)
    assert (await control.get(f"{V}/{media_id}", headers=number.auth)).status_code == 200
    await advance(control, 1 * DAY + 1)
    expired = await control.get(f"{V}/{media_id}", headers=number.auth)
    assert expired.status_code == 400
    assert error_of(expired)["error_subcode"] == 33


async def test_phone_number_id_must_match(control: httpx.AsyncClient, number: Number) -> None:
    media_id = (await upload(control, number)).json()["id"]
    sibling = await create_number(
        control, waba_id=number.waba_id, display_phone_number="+1 555-010-0042"
    )
    ok = await control.get(
        f"{V}/{media_id}", params={"phone_number_id": number.phone_number_id}, headers=number.auth
    )
    assert ok.status_code == 200
    wrong = await control.get(
        f"{V}/{media_id}", params={"phone_number_id": sibling.phone_number_id}, headers=number.auth
    )
    assert error_of(wrong)["code"] == 100
    not_deleted = await control.delete(
        f"{V}/{media_id}", params={"phone_number_id": sibling.phone_number_id}, headers=number.auth
    )
    assert error_of(not_deleted)["code"] == 100
    assert (await control.get(f"{V}/{media_id}", headers=number.auth)).status_code == 200


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "image/jpeg"}, "(#100) The parameter messaging_product is required"),
        (
            {"messaging_product": "sms", "type": "image/jpeg"},
            '(#100) Param messaging_product must be one of {WHATSAPP} - got "sms".',
        ),
        ({"messaging_product": "whatsapp"}, "(#100) The parameter type is required"),
    ],
)
async def test_upload_refuses_missing_or_wrong_fields(
    control: httpx.AsyncClient, number: Number, fields: dict[str, str], message: str
) -> None:
    response = await upload(control, number, fields=fields)
    assert response.status_code == 400
    assert error_of(response)["message"] == message


async def test_upload_without_a_file(control: httpx.AsyncClient, number: Number) -> None:
    response = await control.post(
        f"{V}/{number.phone_number_id}/media",
        data={"messaging_product": "whatsapp", "type": "image/jpeg"},
        files={"other": ("x.txt", b"x", "text/plain")},
        headers=number.auth,
    )
    assert error_of(response)["message"] == "(#100) The parameter file is required"
    as_json = await control.post(
        f"{V}/{number.phone_number_id}/media",
        json={"messaging_product": "whatsapp", "type": "image/jpeg"},
        headers=number.auth,
    )
    assert error_of(as_json)["message"] == "(#100) The parameter file is required"


@pytest.mark.parametrize("mime", ["application/octet-stream", "image/gif", "application/zip"])
async def test_unsupported_types_are_refused_as_meta_words_it(
    control: httpx.AsyncClient, number: Number, mime: str
) -> None:
    response = await upload(
        control, number, mime=mime, fields={"messaging_product": "whatsapp", "type": "image/png"}
    )
    error = error_of(response)
    assert error["code"] == 100
    assert error["message"].startswith(
        "(#100) Param file must be a file with one of the following types: audio/aac, "
    )
    assert error["message"].endswith(f"Received file of type '{mime}'.")


@pytest.mark.parametrize(
    ("mime", "size", "accepted"),
    [
        ("image/jpeg", 5 * MEGABYTE, True),
        ("image/jpeg", 5 * MEGABYTE + 1, False),
        ("image/png", 5 * MEGABYTE + 1, False),
        ("audio/ogg", 16 * MEGABYTE, True),
        ("audio/mpeg", 16 * MEGABYTE + 1, False),
        ("video/mp4", 16 * MEGABYTE + 1, False),
        ("application/pdf", 16 * MEGABYTE + 1, True),
        ("text/plain", 1, True),
    ],
)
async def test_size_limits_per_kind(
    control: httpx.AsyncClient, number: Number, mime: str, size: int, accepted: bool
) -> None:
    response = await upload(control, number, b"x" * size, mime)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        assert error_of(response)["code"] == 100
        assert "File Too Large" in error_of(response)["error_data"]["details"]


@pytest.mark.parametrize(
    ("size", "animated", "accepted"),
    [
        (100 * 1024, False, True),
        (100 * 1024 + 1, False, False),
        (500 * 1024, True, True),
        (500 * 1024 + 1, True, False),
    ],
)
async def test_sticker_limits_depend_on_animation(
    control: httpx.AsyncClient, number: Number, size: int, animated: bool, accepted: bool
) -> None:
    response = await upload(control, number, webp(size, animated=animated), "image/webp")
    assert (response.status_code == 200) is accepted, response.text


async def test_empty_file_is_a_media_upload_error(
    control: httpx.AsyncClient, number: Number
) -> None:
    response = await upload(control, number, b"")
    assert response.status_code == 400
    assert error_of(response)["code"] == 131053


async def test_oldest_media_are_forgotten_past_the_memory_cap(
    control: httpx.AsyncClient, number: Number, emulator_server: EmulatorServer
) -> None:
    setattr(emulator_server.emulator.config, MEDIA_MEMORY_LIMIT_SETTING, 3 * len(JPEG))
    ids = [(await upload(control, number)).json()["id"] for _ in range(5)]
    held = [
        media_id
        for media_id in ids
        if (await control.get(f"{V}/{media_id}", headers=number.auth)).status_code == 200
    ]
    assert held == ids[2:]


async def test_customer_media_is_served_and_lives_7_days(
    control: httpx.AsyncClient, number: Number, emulator_server: EmulatorServer
) -> None:
    emulator = emulator_server.emulator
    voice = b"OggS" + b"\x01" * 500
    media = store_media(emulator, number.phone_number_id, voice, "audio/ogg", "voice.ogg")
    assert (
        webhook_sha256(media)
        == __import__("base64").b64encode(hashlib.sha256(voice).digest()).decode()
    )
    info = (await control.get(f"{V}/{media.id}", headers=number.auth)).json()
    assert info["mime_type"] == "audio/ogg"
    downloaded = await control.get(info["url"], headers=number.auth)
    assert downloaded.content == voice
    assert 'filename="voice.ogg"' in downloaded.headers["content-disposition"]
    await advance(control, 7 * DAY + 1)
    assert get_media(emulator, media.id) is None
    assert (await control.get(f"{V}/{media.id}", headers=number.auth)).status_code == 400


async def test_cloudapi_client_media_flow(
    control: httpx.AsyncClient, number: Number, emulator_server: EmulatorServer
) -> None:
    async with CloudAPIClient(
        access_token=number.access_token, base_url=emulator_server.url
    ) as client:
        uploaded = await client.upload_media(
            number.phone_number_id, b"%PDF-1.4 hello", "application/pdf", "hello.pdf"
        )
        info = await client.get_media(uploaded.id, phone_number_id=number.phone_number_id)
        assert isinstance(info, MediaInfo)
        assert info.file_size == len(b"%PDF-1.4 hello")
        assert await client.download_media(info.url) == b"%PDF-1.4 hello"
        assert (await client.delete_media(uploaded.id)).success
        with pytest.raises(InvalidParameterError):
            await client.get_media(uploaded.id)
        with pytest.raises(CloudAPIError) as refused:
            await client.upload_media(number.phone_number_id, b"GIF89a", "image/gif", "a.gif")
        assert refused.value.code == 100


def _pywa_media_flow(server_url: str, number: Number) -> tuple[str, bytes, bool]:
    pywa = pytest.importorskip("pywa")
    session = httpx.Client(timeout=10)
    wa = pywa.WhatsApp(phone_id=number.phone_number_id, token=number.access_token, session=session)
    # pywa sets https://graph.facebook.com/v{N} as the base URL of the session it is given;
    # the session is ours, so pointing pywa at the emulator is one assignment afterwards.
    session.base_url = httpx.URL(server_url + session.base_url.path)
    try:
        media = wa.upload_media(JPEG, mime_type="image/jpeg", filename="photo.jpg")
        url = wa.get_media_url(media.id)
        data = wa.get_media_bytes(url.url)
        deleted = wa.delete_media(media.id)
        return url.mime_type, data, bool(deleted)
    finally:
        session.close()


async def test_pywa_media_flow(emulator_server: EmulatorServer, number: Number) -> None:
    mime, data, deleted = await asyncio.to_thread(_pywa_media_flow, emulator_server.url, number)
    assert mime == "image/jpeg"
    assert data == JPEG
    assert deleted


async def test_broken_multipart_is_invalid_parameter(
    control: httpx.AsyncClient, number: Number
) -> None:
    response = await control.post(
        f"{V}/{number.phone_number_id}/media",
        content=b"this is not multipart at all",
        headers={**number.auth, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == 100
