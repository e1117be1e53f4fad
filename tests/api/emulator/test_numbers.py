"""Phone numbers, WABAs, onboarding and business profiles answer as Meta's Graph API does."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.cloudapi.client import PHONE_NUMBER_FIELDS, CloudAPIClient
from ovillo.cloudapi.errors import CloudAPIError, InvalidParameterError, RegistrationError
from ovillo.cloudapi.phone_numbers import (
    BusinessProfileList,
    PhoneNumber,
    PhoneNumberList,
    SubscribedAppList,
)
from ovillo.emulator.errors import GraphAPIError
from ovillo.emulator.numbers import (
    DEFAULT_PHONE_NUMBER_FIELDS,
    PHONE_NUMBER_NODE_FIELDS,
    ensure_can_send,
    parse_fields,
    send_refusal,
)
from ovillo.emulator.server import EmulatorServer
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import WebhookReceiver

V = "/v23.0"


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def patch(control: httpx.AsyncClient, number: Number, **fields: Any) -> dict[str, Any]:
    response = await control.patch(
        f"/_emulator/phone_numbers/{number.phone_number_id}", json=fields
    )
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


async def register(
    control: httpx.AsyncClient, number: Number, pin: Any = "123456", **extra: Any
) -> httpx.Response:
    return await control.post(
        f"{V}/{number.phone_number_id}/register",
        json={"messaging_product": "whatsapp", "pin": pin, **extra},
        headers=number.auth,
    )


def client_for(server: EmulatorServer, number: Number) -> CloudAPIClient:
    return CloudAPIClient(access_token=number.access_token, base_url=server.url)


# --- Reading numbers ----------------------------------------------------------------------


async def test_phone_number_without_fields_has_metas_default_fields(
    control: httpx.AsyncClient, number: Number
) -> None:
    response = await control.get(f"{V}/{number.phone_number_id}", headers=number.auth)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == set(DEFAULT_PHONE_NUMBER_FIELDS)
    assert body["id"] == number.phone_number_id
    assert body["display_phone_number"] == "+1 555-010-0000"
    assert body["throughput"] == {"level": "STANDARD"}
    assert body["platform_type"] == "CLOUD_API"


async def test_every_documented_field_is_answered(
    control: httpx.AsyncClient, number: Number
) -> None:
    fields = ",".join(PHONE_NUMBER_FIELDS) + ",is_pin_enabled,health_status,quality_score"
    response = await control.get(
        f"{V}/{number.phone_number_id}", params={"fields": fields}, headers=number.auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    parsed = PhoneNumber.model_validate(body)
    assert parsed.quality_rating == "GREEN"
    assert parsed.messaging_limit_tier == "TIER_250"
    assert parsed.whatsapp_business_manager_messaging_limit == "TIER_250"
    assert parsed.code_verification_status == "VERIFIED"
    assert parsed.name_status == "APPROVED"
    assert parsed.status == "CONNECTED"
    assert parsed.account_mode == "LIVE"
    assert parsed.is_official_business_account is False
    assert parsed.is_pin_enabled is False
    assert parsed.last_onboarded_time is not None
    assert parsed.last_onboarded_time.endswith("+0000")
    assert body["health_status"]["can_send_message"] == "AVAILABLE"
    assert body["quality_score"] == {"score": "GREEN"}


async def test_business_limit_and_throughput_follow_the_control_api(
    control: httpx.AsyncClient, number: Number
) -> None:
    await patch(control, number, tier="TIER_2K", throughput_mps=1000, quality="YELLOW")
    response = await control.get(
        f"{V}/{number.phone_number_id}",
        params={
            "fields": "whatsapp_business_manager_messaging_limit,throughput{level},quality_rating"
        },
        headers=number.auth,
    )
    body = response.json()
    assert body == {
        "whatsapp_business_manager_messaging_limit": "TIER_2K",
        "throughput": {"level": "HIGH"},
        "quality_rating": "YELLOW",
        "id": number.phone_number_id,
    }


async def test_unknown_field_is_metas_nonexisting_field_error(
    control: httpx.AsyncClient, number: Number
) -> None:
    response = await control.get(
        f"{V}/{number.phone_number_id}",
        params={"fields": "id,favourite_colour"},
        headers=number.auth,
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 100
    assert error["message"] == (
        "(#100) Tried accessing nonexisting field (favourite_colour) on node type "
        "(WhatsAppBusinessPhoneNumber)"
    )


@given(st.lists(st.sampled_from(sorted(PHONE_NUMBER_NODE_FIELDS)), max_size=12))
def test_parse_fields_keeps_known_names_once_in_order(names: list[str]) -> None:
    raw = ",".join(f" {name}{{level}}" if i % 3 == 0 else name for i, name in enumerate(names))
    parsed = parse_fields(raw, ("id",), PHONE_NUMBER_NODE_FIELDS, "WhatsAppBusinessPhoneNumber")
    assert parsed == (list(dict.fromkeys(names)) or ["id"])


async def test_waba_lists_its_numbers_with_cursor_paging(
    control: httpx.AsyncClient, number: Number
) -> None:
    others = [
        await create_number(
            control, waba_id=number.waba_id, display_phone_number=f"+1 555-010-00{i}"
        )
        for i in (11, 12, 13, 14)
    ]
    wanted = [number.phone_number_id, *(o.phone_number_id for o in others)]
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2", "fields": "id,display_phone_number"}
    pages = 0
    while True:
        response = await control.get(
            f"{V}/{number.waba_id}/phone_numbers", params=params, headers=number.auth
        )
        assert response.status_code == 200, response.text
        page = PhoneNumberList.model_validate(response.json())
        seen += [n.id for n in page.data]
        pages += 1
        assert page.paging is not None
        assert page.paging.cursors is not None
        if page.paging.next is None:
            break
        assert page.paging.cursors.after is not None
        params["after"] = page.paging.cursors.after
    assert seen == wanted
    assert pages == 3
    back = await control.get(
        f"{V}/{number.waba_id}/phone_numbers",
        params={"limit": "2", "before": params["after"]},
        headers=number.auth,
    )
    # `after` of the second page names wanted[3]: the two before it are wanted[1:3].
    assert [n["id"] for n in back.json()["data"]] == wanted[1:3]


async def test_waba_node_fields(control: httpx.AsyncClient, number: Number) -> None:
    default = (await control.get(f"{V}/{number.waba_id}", headers=number.auth)).json()
    assert set(default) == {"id", "name", "timezone_id", "message_template_namespace"}
    assert default["message_template_namespace"].count("_") == 4
    again = (await control.get(f"{V}/{number.waba_id}", headers=number.auth)).json()
    assert again["message_template_namespace"] == default["message_template_namespace"]
    asked = await control.get(
        f"{V}/{number.waba_id}",
        params={"fields": "currency,business_verification_status,owner_business_info"},
        headers=number.auth,
    )
    assert asked.json() == {
        "currency": "USD",
        "business_verification_status": "not_verified",
        "owner_business_info": {"id": number.business_id, "name": "Ovillo Test"},
        "id": number.waba_id,
    }
    bad = await control.get(f"{V}/{number.waba_id}", params={"fields": "pin"}, headers=number.auth)
    assert "on node type (WhatsAppBusinessAccount)" in error_of(bad)["message"]


async def test_business_node(control: httpx.AsyncClient, number: Number) -> None:
    response = await control.get(f"{V}/{number.business_id}", headers=number.auth)
    assert response.json() == {"id": number.business_id, "name": "Ovillo Test"}


# --- Registration -------------------------------------------------------------------------


async def test_register_sets_the_pin_then_requires_it(
    control: httpx.AsyncClient, number: Number
) -> None:
    first = await register(control, number, "246810")
    assert first.status_code == 200
    assert first.json() == {"success": True}
    wrong = await register(control, number, "111111")
    assert wrong.status_code == 400
    assert error_of(wrong)["code"] == 133005
    assert (await register(control, number, "246810")).json() == {"success": True}
    fields = await control.get(
        f"{V}/{number.phone_number_id}", params={"fields": "is_pin_enabled"}, headers=number.auth
    )
    assert fields.json()["is_pin_enabled"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"pin": "123456"}, "(#100) The parameter messaging_product is required"),
        (
            {"messaging_product": "sms", "pin": "123456"},
            '(#100) Param messaging_product must be one of {WHATSAPP} - got "sms".',
        ),
        ({"messaging_product": "whatsapp"}, "(#100) The parameter pin is required"),
        (
            {"messaging_product": "whatsapp", "pin": "12345"},
            "(#100) Param pin must be 6 characters long.",
        ),
        (
            {"messaging_product": "whatsapp", "pin": "12345a"},
            "(#100) Param pin must be 6 characters long.",
        ),
    ],
)
async def test_register_refuses_malformed_requests(
    control: httpx.AsyncClient, number: Number, body: dict[str, Any], message: str
) -> None:
    response = await control.post(
        f"{V}/{number.phone_number_id}/register", json=body, headers=number.auth
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == 100
    assert error_of(response)["message"] == message


async def test_eleventh_register_in_72_hours_locks_registration(
    control: httpx.AsyncClient, number: Number
) -> None:
    for _ in range(10):
        assert (await register(control, number)).status_code == 200
        await control.post("/_emulator/clock/advance", json={"seconds": 3600})
    locked = await register(control, number)
    assert error_of(locked)["code"] == 133016
    # The first requests leave the window, but the lockout lasts 72 h from the 11th.
    await control.post("/_emulator/clock/advance", json={"seconds": 71 * 3600})
    assert error_of(await register(control, number))["code"] == 133016
    await control.post("/_emulator/clock/advance", json={"seconds": 2 * 3600})
    assert (await register(control, number)).status_code == 200


async def test_requests_spread_over_more_than_72_hours_never_lock(
    control: httpx.AsyncClient, number: Number
) -> None:
    for _ in range(15):
        assert (await register(control, number)).status_code == 200, "locked too early"
        await control.post("/_emulator/clock/advance", json={"seconds": 8 * 3600})


async def test_deregistered_number_cannot_send_until_registered_again(
    control: httpx.AsyncClient, number: Number, emulator_server: EmulatorServer
) -> None:
    emulator = emulator_server.emulator
    state_number = emulator.state.phone_numbers[number.phone_number_id]
    ensure_can_send(emulator, state_number)
    response = await control.post(f"{V}/{number.phone_number_id}/deregister", headers=number.auth)
    assert response.json() == {"success": True}
    with pytest.raises(GraphAPIError) as refused:
        ensure_can_send(emulator, state_number)
    assert refused.value.code == 133010
    body = (
        await control.get(
            f"{V}/{number.phone_number_id}",
            params={"fields": "platform_type,health_status"},
            headers=number.auth,
        )
    ).json()
    assert body["platform_type"] == "NOT_APPLICABLE"
    assert body["health_status"]["can_send_message"] == "BLOCKED"
    assert body["health_status"]["entities"][0]["errors"][0]["error_code"] == 133010
    assert (await register(control, number)).status_code == 200
    ensure_can_send(emulator, state_number)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"registered": False}, 133010),
        ({"status": "PENDING"}, 133010),
        ({"status": "BANNED"}, 131031),
        ({"status": "RESTRICTED"}, 368),
        ({"name_status": "DECLINED"}, 131037),
        ({"name_status": "EXPIRED"}, 131037),
        ({"name_status": "NONE"}, 131037),
        ({"name_status": "PENDING_REVIEW"}, None),
        ({"name_status": "AVAILABLE_WITHOUT_REVIEW"}, None),
        ({"status": "FLAGGED"}, None),
        ({"quality": "RED"}, None),
    ],
)
async def test_send_gate(
    control: httpx.AsyncClient,
    number: Number,
    emulator_server: EmulatorServer,
    change: dict[str, Any],
    code: int | None,
) -> None:
    await patch(control, number, **change)
    emulator = emulator_server.emulator
    refusal = send_refusal(emulator, emulator.state.phone_numbers[number.phone_number_id])
    assert (refusal.code if refusal is not None else None) == code


async def test_ownership_code_then_registration(control: httpx.AsyncClient, number: Number) -> None:
    await patch(control, number, code_verification_status="NOT_VERIFIED")
    assert error_of(await register(control, number))["code"] == 133006
    missing = await control.post(
        f"{V}/{number.phone_number_id}/request_code",
        json={"code_method": "SMS"},
        headers=number.auth,
    )
    assert error_of(missing)["message"] == "(#100) The parameter language is required"
    bad_method = await control.post(
        f"{V}/{number.phone_number_id}/request_code",
        json={"code_method": "PIGEON", "language": "en_US"},
        headers=number.auth,
    )
    assert error_of(bad_method)["code"] == 100
    sent = await control.post(
        f"{V}/{number.phone_number_id}/request_code",
        json={"code_method": "VOICE", "language": "en_US"},
        headers=number.auth,
    )
    assert sent.json() == {"success": True}
    listed = (await control.get("/_emulator/phone_numbers")).json()
    code = next(n for n in listed if n["phone_number_id"] == number.phone_number_id)[
        "verification_code"
    ]
    assert len(code) == 6
    wrong_code = "000000" if code != "000000" else "111111"
    wrong = await control.post(
        f"{V}/{number.phone_number_id}/verify_code", json={"code": wrong_code}, headers=number.auth
    )
    assert error_of(wrong)["code"] == 136025
    right = await control.post(
        f"{V}/{number.phone_number_id}/verify_code", json={"code": code}, headers=number.auth
    )
    assert right.json() == {"success": True}
    assert (await register(control, number)).status_code == 200


async def test_change_pin(control: httpx.AsyncClient, number: Number) -> None:
    assert (await register(control, number, "123456")).status_code == 200
    changed = await control.post(
        f"{V}/{number.phone_number_id}", json={"pin": "654321"}, headers=number.auth
    )
    assert changed.json() == {"success": True}
    assert error_of(await register(control, number, "123456"))["code"] == 133005
    assert (await register(control, number, "654321")).status_code == 200
    empty = await control.post(f"{V}/{number.phone_number_id}", json={}, headers=number.auth)
    assert error_of(empty)["message"] == "(#100) The parameter pin is required"


# --- Subscribed apps and callback overrides -----------------------------------------------


async def test_subscribed_apps_shape_and_unsubscribe(
    control: httpx.AsyncClient, number: Number
) -> None:
    listed = await control.get(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    apps = SubscribedAppList.model_validate(listed.json())
    assert len(apps.data) == 1
    data = listed.json()["data"][0]["whatsapp_business_api_data"]
    assert set(data) == {"id", "link", "name"}
    assert data["link"] == f"https://www.facebook.com/games/?app_id={data['id']}"
    gone = await control.delete(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    assert gone.json() == {"success": True}
    assert (
        await control.get(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    ).json() == {"data": []}
    listed_numbers = (await control.get("/_emulator/phone_numbers")).json()
    assert not next(n for n in listed_numbers if n["phone_number_id"] == number.phone_number_id)[
        "subscribed"
    ]
    again = await control.post(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    assert again.json() == {"success": True}
    after = (await control.get(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)).json()
    assert after["data"][0]["whatsapp_business_api_data"] == data


async def test_override_callback_is_verified_then_used(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    number = wired_number
    await patch(control, number, webhook_url="http://127.0.0.1:9/app")
    refused = await control.post(
        f"{V}/{number.waba_id}/subscribed_apps",
        json={"override_callback_uri": receiver.url, "verify_token": "wrong"},
        headers=number.auth,
    )
    assert refused.status_code == 400
    assert error_of(refused)["code"] == 2200
    assert "403" in error_of(refused)["message"]
    missing_token = await control.post(
        f"{V}/{number.waba_id}/subscribed_apps",
        json={"override_callback_uri": receiver.url},
        headers=number.auth,
    )
    assert error_of(missing_token)["message"] == "(#100) The parameter verify_token is required"
    accepted = await control.post(
        f"{V}/{number.waba_id}/subscribed_apps",
        json={"override_callback_uri": receiver.url, "verify_token": receiver.verify_token},
        headers=number.auth,
    )
    assert accepted.json() == {"success": True}
    listed = (
        await control.get(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    ).json()
    assert listed["data"][0]["override_callback_uri"] == receiver.url
    info = await control.get(
        f"{V}/{number.phone_number_id}",
        params={"fields": "webhook_configuration"},
        headers=number.auth,
    )
    assert info.json()["webhook_configuration"] == {
        "application": "http://127.0.0.1:9/app",
        "whatsapp_business_account": receiver.url,
    }
    state = (await control.get("/_emulator/phone_numbers")).json()
    assert (
        next(n for n in state if n["phone_number_id"] == number.phone_number_id)["webhook_url"]
        == receiver.url
    )
    # Subscribing again without an override returns to the app's callback.
    await control.post(f"{V}/{number.waba_id}/subscribed_apps", headers=number.auth)
    state = (await control.get("/_emulator/phone_numbers")).json()
    assert (
        next(n for n in state if n["phone_number_id"] == number.phone_number_id)["webhook_url"]
        == "http://127.0.0.1:9/app"
    )


async def test_phone_number_override_wins_over_the_app(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    number = wired_number
    await patch(control, number, webhook_url="http://127.0.0.1:9/app")
    response = await control.post(
        f"{V}/{number.phone_number_id}",
        json={
            "webhook_configuration": {
                "override_callback_uri": receiver.url,
                "verify_token": receiver.verify_token,
            }
        },
        headers=number.auth,
    )
    assert response.json() == {"success": True}
    info = await control.get(
        f"{V}/{number.phone_number_id}",
        params={"fields": "webhook_configuration"},
        headers=number.auth,
    )
    assert info.json()["webhook_configuration"]["phone_number"] == receiver.url
    cleared = await control.post(
        f"{V}/{number.phone_number_id}",
        json={"webhook_configuration": {"override_callback_uri": ""}},
        headers=number.auth,
    )
    assert cleared.json() == {"success": True}
    state = (await control.get("/_emulator/phone_numbers")).json()
    assert (
        next(n for n in state if n["phone_number_id"] == number.phone_number_id)["webhook_url"]
        == "http://127.0.0.1:9/app"
    )


# --- Business profile ---------------------------------------------------------------------


async def test_business_profile_round_trip(control: httpx.AsyncClient, number: Number) -> None:
    path = f"{V}/{number.phone_number_id}/whatsapp_business_profile"
    empty = (await control.get(path, headers=number.auth)).json()
    assert empty == {"data": [{"messaging_product": "whatsapp", "vertical": "UNDEFINED"}]}
    update = {
        "messaging_product": "whatsapp",
        "about": "a" * 139,
        "address": "Calle 1",
        "description": "d" * 512,
        "email": "hola@example.com",
        "websites": ["https://example.com", "http://example.org/x"],
        "vertical": "RETAIL",
    }
    assert (await control.post(path, json=update, headers=number.auth)).json() == {"success": True}
    got = (
        await control.get(path, params={"fields": "about,websites,vertical"}, headers=number.auth)
    ).json()
    profile = BusinessProfileList.model_validate(got).data[0]
    assert profile.about == "a" * 139
    assert profile.websites == ["https://example.com", "http://example.org/x"]
    assert profile.vertical == "RETAIL"
    assert "email" not in got["data"][0]
    bad = await control.get(path, params={"fields": "colour"}, headers=number.auth)
    assert "(WhatsAppBusinessProfile)" in error_of(bad)["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"about": "a" * 140},
        {"about": ""},
        {"address": "x" * 257},
        {"description": "d" * 513},
        {"email": "e" * 120 + "@example.com"},
        {"email": "not-an-email"},
        {"websites": ["https://a.com", "https://b.com", "https://c.com"]},
        {"websites": ["ftp://example.com"]},
        {"websites": ["https://" + "w" * 250 + ".com"]},
        {"websites": "https://example.com"},
        {"vertical": "SPACESHIPS"},
        {"messaging_product": None},
    ],
)
async def test_business_profile_limits(
    control: httpx.AsyncClient, number: Number, change: dict[str, Any]
) -> None:
    body = {"messaging_product": "whatsapp", **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = await control.post(
        f"{V}/{number.phone_number_id}/whatsapp_business_profile", json=body, headers=number.auth
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == 100


# --- Control API --------------------------------------------------------------------------


async def test_control_lists_and_patches_numbers(
    control: httpx.AsyncClient, number: Number
) -> None:
    listed = (await control.get("/_emulator/phone_numbers")).json()
    mine = next(n for n in listed if n["phone_number_id"] == number.phone_number_id)
    assert mine["access_token"] == number.access_token
    assert mine["waba_id"] == number.waba_id
    patched = await patch(control, number, status="FLAGGED", name_status="PENDING_REVIEW")
    assert patched["status"] == "FLAGGED"
    assert patched["name_status"] == "PENDING_REVIEW"
    missing = await control.patch("/_emulator/phone_numbers/nope", json={"quality": "RED"})
    assert missing.status_code == 404
    invalid = await control.patch(
        f"/_emulator/phone_numbers/{number.phone_number_id}", json={"quality": "PURPLE"}
    )
    assert invalid.status_code == 422


# --- The project's own client and pywa ----------------------------------------------------


async def test_cloudapi_client_onboarding_flow(
    control: httpx.AsyncClient,
    emulator_server: EmulatorServer,
    wired_number: Number,
    receiver: WebhookReceiver,
) -> None:
    number = wired_number
    async with client_for(emulator_server, number) as client:
        phone = await client.get_phone_number(number.phone_number_id)
        assert phone.id == number.phone_number_id
        assert phone.throughput is not None
        assert phone.throughput.level == "STANDARD"
        listed = await client.list_phone_numbers(number.waba_id)
        assert [p.id for p in listed.data] == [number.phone_number_id]
        assert (await client.register(number.phone_number_id, "135790")).success
        with pytest.raises(RegistrationError) as wrong_pin:
            await client.register(number.phone_number_id, "000000")
        assert wrong_pin.value.code == 133005
        assert (await client.set_two_step_pin(number.phone_number_id, "112233")).success
        assert (await client.register(number.phone_number_id, "112233")).success
        assert (await client.request_verification_code(number.phone_number_id)).success
        with pytest.raises(CloudAPIError) as bad_code:
            await client.verify_code(number.phone_number_id, "abcdef")
        assert bad_code.value.code == 136025
        assert (await client.deregister(number.phone_number_id)).success
        assert (
            await client.subscribe_app(
                number.waba_id,
                override_callback_uri=receiver.url,
                verify_token=receiver.verify_token,
            )
        ).success
        apps = await client.list_subscribed_apps(number.waba_id)
        assert apps.data[0].override_callback_uri == receiver.url
        assert (await client.unsubscribe_app(number.waba_id)).success
        assert (await client.list_subscribed_apps(number.waba_id)).data == []
        assert (
            await client.update_business_profile(
                number.phone_number_id,
                {"messaging_product": "whatsapp", "about": "Open 9-5", "vertical": "HOTEL"},
            )
        ).success
        profile = await client.get_business_profile(number.phone_number_id)
        assert profile.about == "Open 9-5"
        assert profile.vertical == "HOTEL"
        with pytest.raises(InvalidParameterError):
            await client.update_business_profile(
                number.phone_number_id, {"messaging_product": "whatsapp", "about": "x" * 200}
            )


def _pywa_calls(server_url: str, number: Number) -> tuple[Any, Any, Any]:
    pywa = pytest.importorskip("pywa")
    session = httpx.Client(timeout=10)
    wa = pywa.WhatsApp(
        phone_id=number.phone_number_id,
        token=number.access_token,
        session=session,
        waba_id=number.waba_id,
    )
    # pywa sets https://graph.facebook.com/v{N} as the base URL of the session it is given;
    # the session is ours, so pointing pywa at the emulator is one assignment afterwards.
    session.base_url = httpx.URL(server_url + session.base_url.path)
    try:
        phone = wa.get_business_phone_number()
        numbers = list(wa.get_business_phone_numbers())
        wa.update_business_profile(about="From pywa", industry=pywa.types.Industry.RESTAURANT)
        profile = wa.get_business_profile()
        return phone, numbers, profile
    finally:
        session.close()


async def test_pywa_reads_numbers_and_profile(
    emulator_server: EmulatorServer, number: Number
) -> None:
    phone, numbers, profile = await asyncio.to_thread(_pywa_calls, emulator_server.url, number)
    assert phone.id == number.phone_number_id
    assert phone.whatsapp_business_manager_messaging_limit == "TIER_250"
    assert phone.throughput == {"level": "STANDARD"}
    assert [n.id for n in numbers] == [number.phone_number_id]
    assert profile.about == "From pywa"
    assert profile.industry == "RESTAURANT"
