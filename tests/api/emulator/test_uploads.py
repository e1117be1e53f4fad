"""The Resumable Upload API answers as Meta's: a session, the bytes from an offset, a handle
for a media template header's sample, and code 100 for a bad type or offset."""

from __future__ import annotations

import httpx
import pytest

from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import CloudAPIError
from ovillo.emulator.server import EmulatorServer
from tests.api.emulator.conftest import Number

V = "/v23.0"
PNG = b"\x89PNG\r\n\x1a\n" + b"emulated png" * 50


async def app_of(control: httpx.AsyncClient, number: Number) -> str:
    subscribed = await control.post(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    assert subscribed.status_code == 200, subscribed.text
    listed = await control.get(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    app_id: str = listed.json()["data"][0]["whatsapp_business_api_data"]["id"]
    return app_id


async def test_a_sample_is_uploaded_in_two_chunks_and_resumed_from_its_offset(
    control: httpx.AsyncClient, number: Number
) -> None:
    app_id = await app_of(control, number)
    opened = await control.post(
        f"{V}/{app_id}/uploads",
        params={"file_name": "header.png", "file_length": len(PNG), "file_type": "image/png"},
        headers=number.auth,
    )
    assert opened.status_code == 200, opened.text
    upload_id = opened.json()["id"]
    assert upload_id.startswith("upload:")
    oauth = {"Authorization": f"OAuth {number.access_token}"}

    first = await control.post(
        f"{V}/{upload_id}", content=PNG[:100], headers={**oauth, "file_offset": "0"}
    )
    stale = await control.post(
        f"{V}/{upload_id}", content=PNG[:100], headers={**oauth, "file_offset": "0"}
    )
    in_query = await control.post(
        f"{V}/{upload_id}", params={"file_offset": "100"}, content=PNG[100:], headers=oauth
    )
    where = await control.get(f"{V}/{upload_id}", headers=oauth)
    rest = await control.post(
        f"{V}/{upload_id}",
        content=PNG[where.json()["file_offset"] :],
        headers={**oauth, "file_offset": str(where.json()["file_offset"])},
    )

    assert first.status_code == 200, first.text
    assert first.json()["file_offset"] == 100
    for refused in (stale, in_query):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == 100
    assert "file_offset" in stale.json()["error"]["error_data"]["details"]
    assert where.json() == {"id": upload_id, "file_offset": 100}
    assert rest.status_code == 200, rest.text
    assert rest.json()["h"].startswith("4::")
    # Another business's token cannot see the session.
    other = await control.get(f"{V}/{upload_id}", headers={"Authorization": "OAuth nope"})
    assert other.status_code in (400, 401)


@pytest.mark.parametrize(
    ("params", "wording"),
    [
        ({"file_name": "a.gif", "file_length": "10", "file_type": "image/gif"}, "file_type"),
        ({"file_name": "a.png", "file_type": "image/png"}, "file_length"),
        ({"file_name": "a.png", "file_length": "-3", "file_type": "image/png"}, "file_length"),
    ],
    ids=["gif", "no-length", "negative-length"],
)
async def test_a_session_for_a_bad_file_is_refused_with_code_100(
    control: httpx.AsyncClient, number: Number, params: dict[str, str], wording: str
) -> None:
    app_id = await app_of(control, number)

    refused = await control.post(f"{V}/{app_id}/uploads", params=params, headers=number.auth)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == 100
    assert wording in refused.json()["error"]["error_data"]["details"]


async def test_the_client_uploads_a_sample_and_meta_takes_its_handle(
    control: httpx.AsyncClient, number: Number, emulator_server: EmulatorServer
) -> None:
    app_id = await app_of(control, number)
    async with CloudAPIClient(
        access_token=number.access_token, base_url=emulator_server.url
    ) as client:
        handle = await client.upload_header_sample(
            app_id, PNG, file_name="header.png", file_type="image/png"
        )
        session = await client.create_upload_session(
            app_id, file_name="big.png", file_length=len(PNG), file_type="image/png"
        )
        with pytest.raises(CloudAPIError) as past_the_end:
            await client.upload_file_data(session.id, PNG + b"more")
        created = await client.create_template(
            number.waba_id,
            {
                "name": "photo_offer",
                "language": "en_US",
                "category": "MARKETING",
                "components": [
                    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [handle]}},
                    {"type": "BODY", "text": "Our new collection is in the shop today."},
                ],
            },
        )

    assert handle.startswith("4::")
    assert past_the_end.value.code == 100
    assert created.id
