"""pywa 4.5, unmodified, against the emulator: as a Graph API client and as a webhook receiver.

The measure of fidelity (issue 4): a third-party client of the Cloud API works against the
emulator as it does against Meta, and a third-party webhook receiver accepts its webhooks.

How pywa is pointed at the emulator without touching pywa: ``WhatsApp(session=...)`` takes
our own ``httpx.Client``; pywa's ``GraphAPI.__init__`` sets that session's ``base_url`` to
``https://graph.facebook.com/v{api_version}`` and adds the bearer token, and every call
after that is relative to ``base_url``. Since the session is ours we set its ``base_url`` to
the emulator right after construction (``pywa_client`` below). Media download URLs are
absolute (the emulator hands out its own), so they need nothing.

On the receiving side pywa registers its own GET/POST webhook routes on a FastAPI app
(``WhatsApp(server=app, verify_token=..., app_secret=..., validate_updates=True)``), which
runs under uvicorn on a free port; pywa checks ``X-Hub-Signature-256`` with the app secret,
answers the ``hub.challenge`` handshake, filters updates by ``phone_id``/``waba_id`` and
parses each webhook into its own types, so a handler firing proves the whole envelope.

Errors Meta answers synchronously (auth, 100, 131009, 130429, 131056, 1320xx, 133016) must
come out of pywa's calls as the pywa exception class mapped to the code; those Meta reports
in a ``failed`` status (131047, 131026, 131050) must reach ``on_message_status`` with
``status.error`` of the right class (facts file, "Usually async").
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import pathlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pywa import WhatsApp, errors
from pywa.types import (
    Button,
    CallbackButton,
    Contact,
    Message,
    MessageStatus,
    MessageStatusType,
    Section,
    SectionList,
    SectionRow,
    TemplateStatusUpdate,
)
from pywa.types import templates as t

from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import EmulatorServer, serve_in_thread

GRAPH_VERSION = "23.0"
APP_SECRET = "pywa-app-secret"
VERIFY_TOKEN = "pywa-verify-token"
CUSTOMER = "15551230001"
OTHER_CUSTOMER = "15551230002"
# A 1x1 PNG: the smallest real image, so MIME sniffing (if any) agrees with the type.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


# --- The emulator's control API, synchronously (pywa is a synchronous client) ----------


@dataclass(frozen=True)
class Account:
    """A business number created through the control API, with its WABA and token."""

    phone_number_id: str
    waba_id: str
    business_id: str
    access_token: str


class Control:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)

    def close(self) -> None:
        self.http.close()

    def create_account(self, **fields: Any) -> Account:
        body = {
            "display_phone_number": "+1 555-010-4242",
            "verified_name": "Pywa Fidelity",
            "app_secret": APP_SECRET,
            **fields,
        }
        response = self.http.post("/_emulator/phone_numbers", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return Account(
            phone_number_id=data["phone_number_id"],
            waba_id=data["waba_id"],
            business_id=data["business_id"],
            access_token=data["access_token"],
        )

    def customer_writes(self, wa_id: str, account: Account, **message: Any) -> str:
        """The customer sends ``message`` (Meta's inbound shape) to the number; its wamid."""
        message.setdefault("type", "text")
        if message["type"] == "text":
            message.setdefault("text", {"body": "Hello!"})
        response = self.http.post(
            f"/_emulator/customers/{wa_id}/messages",
            json={"phone_number_id": account.phone_number_id, **message},
        )
        assert response.status_code == 201, response.text
        wamid: str = response.json()["id"]
        return wamid

    def customer_action(self, wa_id: str, action: str, account: Account | None = None) -> None:
        body = {"phone_number_id": account.phone_number_id} if account is not None else None
        response = self.http.post(f"/_emulator/customers/{wa_id}/{action}", json=body)
        assert response.status_code == 200, response.text

    def advance(self, seconds: float) -> None:
        response = self.http.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text

    def review_template(self, template_id: str, status: str, reason: str | None = None) -> None:
        body: dict[str, Any] = {"status": status}
        if reason is not None:
            body["reason"] = reason
        response = self.http.post(f"/_emulator/templates/{template_id}/review", json=body)
        assert response.status_code in (200, 201, 204), response.text

    def sent(self, account: Account) -> dict[str, dict[str, Any]]:
        """What the number sent, by wamid, as the emulator recorded it."""
        response = self.http.get(
            "/_emulator/messages", params={"phone_number_id": account.phone_number_id}
        )
        assert response.status_code == 200, response.text
        return {m["id"]: m for m in response.json()}

    def webhook_attempts(self, account: Account) -> list[dict[str, Any]]:
        response = self.http.get(
            "/_emulator/webhooks", params={"phone_number_id": account.phone_number_id}
        )
        assert response.status_code == 200, response.text
        attempts: list[dict[str, Any]] = response.json()
        return attempts


def pywa_client(
    emulator: EmulatorServer,
    account: Account,
    session: httpx.Client,
    *,
    token: str | None = None,
    **kwargs: Any,
) -> WhatsApp:
    """An unmodified pywa client whose Graph API is the emulator's."""
    wa = WhatsApp(
        phone_id=account.phone_number_id,
        token=token or account.access_token,
        waba_id=account.waba_id,
        business_portfolio_id=account.business_id,
        session=session,
        api_version=GRAPH_VERSION,
        **kwargs,
    )
    # pywa pinned graph.facebook.com on our session in its constructor; repoint it.
    session.base_url = httpx.URL(f"{emulator.url}/v{GRAPH_VERSION}")
    return wa


def first_refusal(call: Callable[[], object], times: int) -> tuple[int, errors.WhatsAppError]:
    """Make ``call`` up to ``times`` times: how many succeeded before pywa raised, and what."""
    for succeeded in range(times):
        try:
            call()
        except errors.WhatsAppError as error:
            return succeeded, error
    raise AssertionError(f"{times} calls and no refusal")


def wait_until(condition: Callable[[], bool], *, within: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within}s: {what}")
        time.sleep(0.02)


@pytest.fixture
def control(emulator_server: EmulatorServer) -> Iterator[Control]:
    client = Control(emulator_server.url)
    yield client
    client.close()


@pytest.fixture
def account(control: Control) -> Account:
    return control.create_account()


@pytest.fixture
def session() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15) as client:
        yield client


@pytest.fixture
def wa(emulator_server: EmulatorServer, account: Account, session: httpx.Client) -> WhatsApp:
    return pywa_client(emulator_server, account, session)


# --- pywa as a webhook receiver ---------------------------------------------------------


class PywaErrors(logging.Handler):
    """pywa logs (never raises) what it cannot parse; a fidelity test must see none."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.records]


@dataclass
class PywaBot:
    """pywa's own FastAPI webhook, served for real, and what its handlers saw."""

    wa: WhatsApp
    account: Account
    url: str
    problems: PywaErrors
    messages: list[Message] = field(default_factory=list)
    statuses: list[MessageStatus] = field(default_factory=list)
    buttons: list[CallbackButton] = field(default_factory=list)
    template_updates: list[TemplateStatusUpdate] = field(default_factory=list)

    def statuses_of(self, wamid: str) -> list[MessageStatus]:
        return [s for s in list(self.statuses) if s.id == wamid]

    def wait_for_status(
        self, wamid: str, status: MessageStatusType, *, within: float = 10.0
    ) -> MessageStatus:
        wait_until(
            lambda: any(s.status == status for s in self.statuses_of(wamid)),
            within=within,
            what=f"{status} for {wamid}; saw {[s.status for s in self.statuses_of(wamid)]} "
            f"and pywa logged {self.problems.messages()}",
        )
        return next(s for s in self.statuses_of(wamid) if s.status == status)


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def run_pywa_bot(
    emulator: EmulatorServer, control: Control, session: httpx.Client
) -> Iterator[PywaBot]:
    """pywa's webhook on a real port, for a new number whose callback and secret are pywa's."""
    sock = _free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhook"
    account = control.create_account(webhook_url=url, app_secret=APP_SECRET)
    app = FastAPI()
    wa = pywa_client(
        emulator,
        account,
        session,
        server=app,
        webhook_endpoint="/webhook",
        verify_token=VERIFY_TOKEN,
        app_secret=APP_SECRET,
        validate_updates=True,
    )
    problems = PywaErrors()
    pywa_logger = logging.getLogger("pywa")
    pywa_logger.addHandler(problems)
    running = PywaBot(wa=wa, account=account, url=url, problems=problems)

    @wa.on_message
    def on_message(_: WhatsApp, message: Message) -> None:
        running.messages.append(message)

    @wa.on_message_status
    def on_status(_: WhatsApp, status: MessageStatus) -> None:
        running.statuses.append(status)

    @wa.on_callback_button
    def on_button(_: WhatsApp, button: CallbackButton) -> None:
        running.buttons.append(button)

    @wa.on_template_status_update
    def on_template(_: WhatsApp, update: TemplateStatusUpdate) -> None:
        running.template_updates.append(update)

    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    wait_until(lambda: bool(server.started), what="pywa's server to start")
    try:
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        pywa_logger.removeHandler(problems)


@pytest.fixture
def bot(
    emulator_server: EmulatorServer, control: Control, session: httpx.Client
) -> Iterator[PywaBot]:
    with run_pywa_bot(emulator_server, control, session) as running:
        yield running


# --- pywa as a client: sending ----------------------------------------------------------


def test_send_text_with_reply_to_and_preview(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    inbound = control.customer_writes(CUSTOMER, account, text={"body": "Where are the docs?"})
    sent = wa.send_message(
        to=CUSTOMER,
        text="Here: https://example.com/docs",
        preview_url=True,
        reply_to_message_id=inbound,
    )
    assert sent.id.startswith("wamid.")
    assert sent.input == CUSTOMER
    assert sent.chat.id
    recorded = control.sent(account)[sent.id]
    assert recorded["to"] == CUSTOMER
    assert recorded["type"] == "text"
    assert recorded["payload"]["context"] == {"message_id": inbound}
    assert recorded["payload"]["text"] == {
        "body": "Here: https://example.com/docs",
        "preview_url": True,
    }


def test_send_image_by_link_and_by_uploaded_id(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    control.customer_writes(CUSTOMER, account)
    by_link = wa.send_image(to=CUSTOMER, image="https://example.com/cat.png", caption="A cat")
    media = wa.upload_media(media=PNG_1X1, mime_type="image/png", filename="dot.png")
    assert media.id.isdigit()
    by_id = wa.send_image(to=CUSTOMER, image=media.id, caption="A dot")
    sent = control.sent(account)
    assert sent[by_link.id]["payload"]["image"] == {
        "link": "https://example.com/cat.png",
        "caption": "A cat",
    }
    assert sent[by_id.id]["payload"]["image"]["id"] == media.id


def test_send_reaction_location_and_contact(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    inbound = control.customer_writes(CUSTOMER, account)
    reaction = wa.send_reaction(to=CUSTOMER, emoji="👍", message_id=inbound)
    location = wa.send_location(
        to=CUSTOMER, latitude=40.4168, longitude=-3.7038, name="Sol", address="Madrid"
    )
    contact = wa.send_contact(
        to=CUSTOMER,
        contact=Contact(
            name=Contact.Name(formatted_name="Ada Lovelace", first_name="Ada"),
            phones=[Contact.Phone(phone="+1 555 010 9999", type="WORK")],
            emails=[Contact.Email(email="ada@example.com", type="WORK")],
        ),
    )
    sent = control.sent(account)
    assert sent[reaction.id]["payload"]["reaction"] == {"message_id": inbound, "emoji": "👍"}
    assert sent[location.id]["payload"]["location"]["latitude"] == pytest.approx(40.4168)
    assert sent[contact.id]["payload"]["contacts"][0]["name"]["formatted_name"] == "Ada Lovelace"


def test_send_interactive_buttons_and_list(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    control.customer_writes(CUSTOMER, account)
    buttons = wa.send_message(
        to=CUSTOMER,
        text="Shall we?",
        header="Question",
        footer="Tap one",
        buttons=[Button(title="Yes", callback_data="yes"), Button(title="No", callback_data="no")],
    )
    menu = wa.send_message(
        to=CUSTOMER,
        text="Pick a size",
        buttons=SectionList(
            button_title="Sizes",
            sections=[
                Section(
                    title="Shirts",
                    rows=[
                        SectionRow(title="Small", callback_data="s", description="S"),
                        SectionRow(title="Large", callback_data="l"),
                    ],
                )
            ],
        ),
    )
    sent = control.sent(account)
    assert sent[buttons.id]["payload"]["interactive"]["type"] == "button"
    assert sent[menu.id]["payload"]["interactive"]["type"] == "list"


def test_mark_as_read_and_typing_indicator(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    inbound = control.customer_writes(CUSTOMER, account)
    assert wa.mark_message_as_read(message_id=inbound).success
    later = control.customer_writes(CUSTOMER, account, text={"body": "Still there?"})
    assert wa.indicate_typing(message_id=later).success


def test_unknown_message_id_to_mark_as_read_is_refused(wa: WhatsApp) -> None:
    with pytest.raises(errors.WhatsAppError) as caught:
        wa.mark_message_as_read(message_id="wamid.HBgLMTU1NTEyMzAwMDEVAgASGBQzQUQ=")
    assert caught.value.status_code is not None
    assert 400 <= caught.value.status_code < 500


# --- pywa as a client: templates --------------------------------------------------------


def order_update_template(name: str = "order_update") -> t.Template:
    return t.Template(
        name=name,
        category=t.TemplateCategory.UTILITY,
        language=t.TemplateLanguage.ENGLISH_US,
        parameter_format=t.ParamFormat.POSITIONAL,
        components=[
            t.HeaderText("Order {{1}}", "A-100"),
            t.BodyText("Hi {{1}}, your order {{2}} ships today.", "Ada", "A-100"),
            t.FooterText(text="Reply STOP to opt out"),
            t.Buttons(
                buttons=[
                    t.QuickReplyButton(text="Track it"),
                    t.QuickReplyButton(text="Cancel it"),
                ]
            ),
        ],
    )


def test_create_list_and_send_template(wa: WhatsApp, control: Control, account: Account) -> None:
    template = order_update_template()
    created = wa.create_template(template=template)
    assert created.id.isdigit()
    assert created.status == t.TemplateStatus.PENDING
    assert created.category == t.TemplateCategory.UTILITY
    control.review_template(created.id, "APPROVED")

    listed = wa.get_templates(statuses=[t.TemplateStatus.APPROVED])
    assert [d.name for d in listed] == ["order_update"]
    assert listed[0].id == created.id
    assert listed[0].language == t.TemplateLanguage.ENGLISH_US
    details = wa.get_template(template_id=created.id)
    assert details.status == t.TemplateStatus.APPROVED

    header, body = template.components[0], template.components[1]
    assert isinstance(header, t.HeaderText)
    assert isinstance(body, t.BodyText)
    buttons = template.components[3]
    assert isinstance(buttons, t.Buttons)
    track = buttons.buttons[0]
    assert isinstance(track, t.QuickReplyButton)
    # Business-initiated: no customer-service window is needed for a template.
    sent = wa.send_template(
        to=OTHER_CUSTOMER,
        name="order_update",
        language=t.TemplateLanguage.ENGLISH_US,
        params=[
            header.params("B-200"),
            body.params("Grace", "B-200"),
            track.params(callback_data="track:B-200", index=0),
        ],
    )
    assert sent.id.startswith("wamid.")
    recorded = control.sent(account)[sent.id]
    assert recorded["type"] == "template"
    assert recorded["template_name"] == "order_update"
    assert recorded["category"] == "UTILITY"


def test_template_refusals_are_pywa_exceptions(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    created = wa.create_template(template=order_update_template("shipping_notice"))
    control.review_template(created.id, "APPROVED")

    with pytest.raises(errors.TemplateNotExists) as unknown:
        wa.send_template(
            to=OTHER_CUSTOMER, name="no_such_template", language=t.TemplateLanguage.ENGLISH_US
        )
    assert unknown.value.code == 132001
    with pytest.raises(errors.TemplateNotExists):
        wa.send_template(
            to=OTHER_CUSTOMER, name="shipping_notice", language=t.TemplateLanguage.SPANISH
        )
    with pytest.raises(errors.TemplateParamCountMismatch) as count:
        wa.send_template(
            to=OTHER_CUSTOMER,
            name="shipping_notice",
            language=t.TemplateLanguage.ENGLISH_US,
            # The class's params(), not the instance's: pywa would count them locally.
            params=[t.BodyText.params("only one")],
        )
    assert count.value.code == 132000
    assert count.value.details, "error_data.details should say which parameters"


# --- pywa as a client: media ------------------------------------------------------------


def test_upload_get_url_and_download_media(wa: WhatsApp, tmp_path: pathlib.Path) -> None:
    media = wa.upload_media(media=PNG_1X1, mime_type="image/png", filename="dot.png")
    url = wa.get_media_url(media_id=media.id)
    assert url.id == media.id
    assert url.mime_type == "image/png"
    assert url.file_size == len(PNG_1X1)
    assert url.sha256 == hashlib.sha256(PNG_1X1).hexdigest()
    assert wa.get_media_bytes(url=url.url) == PNG_1X1
    path = wa.download_media(url=url.url, path=tmp_path, filename="dot.png")
    assert path.read_bytes() == PNG_1X1
    assert wa.delete_media(media_id=media.id).success
    with pytest.raises(errors.WhatsAppError):
        wa.get_media_url(media_id=media.id)


def test_media_download_needs_the_token(wa: WhatsApp) -> None:
    media = wa.upload_media(media=PNG_1X1, mime_type="image/png", filename="dot.png")
    url = wa.get_media_url(media_id=media.id).url
    # Meta's download URL answers only with the bearer token of the business.
    assert httpx.get(url).status_code in (401, 403, 404)


# --- pywa as a client: the number, its profile, onboarding ------------------------------


def test_get_business_phone_number(wa: WhatsApp, account: Account) -> None:
    number = wa.get_business_phone_number()
    assert number.id == account.phone_number_id
    assert number.display_phone_number == "+1 555-010-4242"
    assert number.verified_name == "Pywa Fidelity"
    assert number.quality_rating == "GREEN"
    assert number.platform_type == "CLOUD_API"
    assert number.throughput == {"level": "STANDARD"}
    numbers = wa.get_business_phone_numbers()
    assert [n.id for n in numbers] == [account.phone_number_id]


def test_get_and_update_business_profile(wa: WhatsApp) -> None:
    assert wa.update_business_profile(
        about="Open 9-5",
        address="1 Main St",
        description="We sell yarn.",
        email="hi@example.com",
        websites=["https://example.com"],
        industry=t_industry_retail(),
    ).success
    profile = wa.get_business_profile()
    assert profile.about == "Open 9-5"
    assert profile.address == "1 Main St"
    assert profile.email == "hi@example.com"
    assert profile.websites == ("https://example.com",)
    assert profile.industry == t_industry_retail()


def t_industry_retail() -> Any:
    from pywa.types.others import Industry

    return Industry.RETAIL


def test_register_and_deregister(wa: WhatsApp) -> None:
    assert wa.deregister_phone_number().success
    assert wa.register_phone_number(pin="123456").success


def test_sends_from_a_deregistered_number_are_refused(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    control.customer_writes(CUSTOMER, account)
    assert wa.deregister_phone_number().success
    with pytest.raises(errors.WhatsAppError) as caught:
        wa.send_message(to=CUSTOMER, text="anyone there?")
    assert caught.value.code == 133010  # "Account not registered"


def test_register_rate_limit_is_registration_failed(wa: WhatsApp) -> None:
    # Meta: at most 10 register/deregister requests in 72 h; then 133016.
    attempts, error = first_refusal(lambda: wa.register_phone_number(pin="123456"), 12)
    assert isinstance(error, errors.RegistrationOrDeregistrationFailed)
    assert error.code == 133016
    assert attempts == 10


# --- pywa as a client: refusals map to pywa's exception classes -------------------------


def test_bad_token_is_expired_access_token(
    emulator_server: EmulatorServer, account: Account, session: httpx.Client
) -> None:
    wa = pywa_client(emulator_server, account, session, token="EAAnotAtoken")
    with pytest.raises(errors.ExpiredAccessToken) as caught:
        wa.send_message(to=CUSTOMER, text="hi")
    assert caught.value.code == 190
    assert caught.value.status_code == 401
    assert caught.value.type == "OAuthException"
    assert caught.value.fbtrace_id


def test_malformed_send_is_a_meta_parameter_error(wa: WhatsApp, account: Account) -> None:
    # pywa validates nothing locally for raw sends; go through its API layer with junk.
    with pytest.raises(errors.WhatsAppError) as caught:
        wa.api.send_message(
            sender=account.phone_number_id,
            to=CUSTOMER,
            recipient=None,
            recipient_type="individual",
            typ="text",
            msg={"no_body": True},
        )
    assert caught.value.code in (100, 131008, 131009)
    assert type(caught.value) in (
        errors.WhatsAppError,
        errors.MissingRequiredParameter,
        errors.InvalidParameter,
    )
    assert caught.value.details, "Meta names the field in error_data.details"


def test_throughput_excess_is_rate_limit_hit(
    emulator_server: EmulatorServer, control: Control, session: httpx.Client
) -> None:
    account = control.create_account(throughput_mps=1)
    wa = pywa_client(emulator_server, account, session)
    customers = [f"1555123{index:04d}" for index in range(20)]
    for customer in customers:
        control.customer_writes(customer, account)
    recipients = iter(customers)
    accepted, error = first_refusal(
        lambda: wa.send_message(to=next(recipients), text="flash sale"), len(customers)
    )
    assert isinstance(error, errors.RateLimitHit)
    assert error.code == 130429
    assert error.status_code == 429
    assert accepted >= 1


def test_pair_rate_excess_is_too_many_messages(
    wa: WhatsApp, control: Control, account: Account
) -> None:
    control.customer_writes(CUSTOMER, account)
    accepted, error = first_refusal(lambda: wa.send_message(to=CUSTOMER, text="again"), 200)
    assert isinstance(error, errors.TooManyMessages)
    assert error.code == 131056
    assert error.status_code == 429
    assert accepted >= 1


# --- pywa as a webhook receiver ---------------------------------------------------------


def test_customer_message_reaches_on_message(bot: PywaBot, control: Control) -> None:
    wamid = control.customer_writes(
        CUSTOMER, bot.account, text={"body": "Hola, ¿tenéis lana?"}, name="Lucía"
    )
    wait_until(lambda: bool(bot.messages), what=f"on_message; pywa: {bot.problems.messages()}")
    message = bot.messages[0]
    assert message.id == wamid
    assert message.text == "Hola, ¿tenéis lana?"
    assert message.from_user.wa_id == CUSTOMER
    assert message.from_user.name == "Lucía"
    assert message.metadata.phone_number_id == bot.account.phone_number_id
    assert bot.problems.messages() == []


def test_customer_image_reaches_on_message_and_downloads(bot: PywaBot, control: Control) -> None:
    control.customer_writes(
        CUSTOMER,
        bot.account,
        type="image",
        image={
            "data_base64": base64.b64encode(PNG_1X1).decode(),
            "mime_type": "image/png",
            "caption": "My receipt",
        },
    )
    wait_until(lambda: bool(bot.messages), what=f"on_message; {bot.problems.messages()}")
    message = bot.messages[0]
    assert message.has_media
    assert message.image is not None
    assert message.caption == "My receipt"
    assert message.image.mime_type == "image/png"
    # pywa resolves the webhook's media id through the Graph API, then downloads with the
    # token: the same two hops as against Meta.
    assert message.get_media_bytes() == PNG_1X1
    assert bot.problems.messages() == []


def test_business_send_reaches_on_message_status_sent_delivered_read(
    bot: PywaBot, control: Control
) -> None:
    control.customer_writes(CUSTOMER, bot.account)
    sent = bot.wa.send_message(to=CUSTOMER, text="Your order shipped", tracker="order-7")
    bot.wait_for_status(sent.id, MessageStatusType.SENT)
    control.advance(3_600)
    delivered = bot.wait_for_status(sent.id, MessageStatusType.DELIVERED)
    read = bot.wait_for_status(sent.id, MessageStatusType.READ)
    assert delivered.from_user.wa_id == CUSTOMER
    assert delivered.tracker == "order-7"
    assert read.timestamp >= delivered.timestamp
    assert [s.status for s in bot.statuses_of(sent.id)] == [
        MessageStatusType.SENT,
        MessageStatusType.DELIVERED,
        MessageStatusType.READ,
    ]
    assert bot.problems.messages() == []


def test_pricing_in_statuses_parses(bot: PywaBot, control: Control) -> None:
    control.customer_writes(CUSTOMER, bot.account)
    sent = bot.wa.send_message(to=CUSTOMER, text="Free inside the window")
    status = bot.wait_for_status(sent.id, MessageStatusType.SENT)
    assert status.pricing is not None
    assert status.pricing.billable is False
    assert bot.problems.messages() == []


def test_quick_reply_tap_reaches_on_callback_button(bot: PywaBot, control: Control) -> None:
    control.customer_writes(CUSTOMER, bot.account)
    sent = bot.wa.send_message(
        to=CUSTOMER,
        text="Shall we?",
        buttons=[Button(title="Yes", callback_data="yes"), Button(title="No", callback_data="no")],
    )
    control.customer_writes(
        CUSTOMER,
        bot.account,
        type="interactive",
        interactive={"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
        context={"id": sent.id},
    )
    wait_until(lambda: bool(bot.buttons), what=f"on_callback_button; {bot.problems.messages()}")
    tap = bot.buttons[0]
    assert tap.data == "yes"
    assert tap.title == "Yes"
    assert tap.reply_to_message is not None
    assert tap.reply_to_message.id == sent.id
    assert tap.from_user.wa_id == CUSTOMER
    assert bot.problems.messages() == []


def test_template_approval_reaches_on_template_status_update(
    bot: PywaBot, control: Control
) -> None:
    created = bot.wa.create_template(template=order_update_template("approval_watch"))
    control.review_template(created.id, "APPROVED")
    wait_until(
        lambda: bool(bot.template_updates), what=f"template update; {bot.problems.messages()}"
    )
    update = bot.template_updates[0]
    assert update.template_id == created.id
    assert update.template_name == "approval_watch"
    assert update.new_status == t.TemplateStatus.APPROVED
    assert update.template_language == t.TemplateLanguage.ENGLISH_US
    assert bot.problems.messages() == []


def test_template_rejection_carries_the_reason(bot: PywaBot, control: Control) -> None:
    created = bot.wa.create_template(template=order_update_template("rejection_watch"))
    control.review_template(created.id, "REJECTED", reason="INVALID_FORMAT")
    wait_until(lambda: bool(bot.template_updates), what=f"{bot.problems.messages()}")
    update = bot.template_updates[0]
    assert update.new_status == t.TemplateStatus.REJECTED
    assert update.reason == t.TemplateRejectionReason.INVALID_FORMAT
    assert bot.problems.messages() == []


def test_outside_the_window_fails_as_re_engagement(bot: PywaBot) -> None:
    sent = bot.wa.send_message(to=OTHER_CUSTOMER, text="Long time no see")
    failed = bot.wait_for_status(sent.id, MessageStatusType.FAILED)
    assert isinstance(failed.error, errors.ReEngagementMessage)
    assert failed.error.code == 131047
    assert bot.problems.messages() == []


def test_unreachable_customer_fails_as_undeliverable(bot: PywaBot, control: Control) -> None:
    created = bot.wa.create_template(template=order_update_template("undeliverable"))
    control.review_template(created.id, "APPROVED")
    control.customer_action("15551239999", "unreachable")
    sent = bot.wa.send_template(
        to="15551239999",
        name="undeliverable",
        language=t.TemplateLanguage.ENGLISH_US,
        params=[
            t.HeaderText.params("A-1"),
            t.BodyText.params("Ada", "A-1"),
        ],
    )
    failed = bot.wait_for_status(sent.id, MessageStatusType.FAILED)
    assert isinstance(failed.error, errors.MessageUndeliverable)
    assert failed.error.code == 131026


def test_marketing_opt_out_fails_as_user_stopped_marketing(bot: PywaBot, control: Control) -> None:
    promo = t.Template(
        name="spring_promo",
        category=t.TemplateCategory.MARKETING,
        language=t.TemplateLanguage.ENGLISH_US,
        parameter_format=t.ParamFormat.POSITIONAL,
        components=[t.BodyText("Spring sale: {{1}} off everything!", "20%")],
    )
    created = bot.wa.create_template(template=promo)
    control.review_template(created.id, "APPROVED")
    control.customer_writes(CUSTOMER, bot.account)
    control.customer_action(CUSTOMER, "opt_out_marketing", bot.account)
    sent = bot.wa.send_template(
        to=CUSTOMER,
        name="spring_promo",
        language=t.TemplateLanguage.ENGLISH_US,
        params=[t.BodyText.params("30%")],
    )
    failed = bot.wait_for_status(sent.id, MessageStatusType.FAILED)
    assert isinstance(failed.error, errors.UserStoppedMarketingMessages)
    assert failed.error.code == 131050


def test_marketing_frequency_cap_fails_as_healthy_ecosystem_engagement(
    session: httpx.Client,
) -> None:
    # The per-user cap on marketing from all businesses is an emulator setting (off by
    # default): with a cap of one a day, the second promo to the same person is withheld.
    capped = Emulator(config=EmulatorConfig(seed=3, marketing_frequency_cap_per_day=1))
    with serve_in_thread(capped) as server:
        control = Control(server.url)
        try:
            with run_pywa_bot(server, control, session) as bot:
                promo = t.Template(
                    name="weekly_promo",
                    category=t.TemplateCategory.MARKETING,
                    language=t.TemplateLanguage.ENGLISH_US,
                    parameter_format=t.ParamFormat.POSITIONAL,
                    components=[t.BodyText("This week: {{1}} off!", "10%")],
                )
                created = bot.wa.create_template(template=promo)
                control.review_template(created.id, "APPROVED")
                sends = [
                    bot.wa.send_template(
                        to=CUSTOMER,
                        name="weekly_promo",
                        language=t.TemplateLanguage.ENGLISH_US,
                        params=[t.BodyText.params(off)],
                    )
                    for off in ("10%", "20%")
                ]
                bot.wait_for_status(sends[0].id, MessageStatusType.SENT)
                failed = bot.wait_for_status(sends[1].id, MessageStatusType.FAILED)
                assert isinstance(
                    failed.error, errors.MessageUndeliverableDueToHealthyEcosystemEngagement
                )
                assert failed.error.code == 131049
        finally:
            control.close()


def test_pywa_rejects_webhooks_signed_with_another_secret(
    emulator_server: EmulatorServer, bot: PywaBot, control: Control
) -> None:
    # Same pywa receiver, but a number whose app secret is not pywa's: every POST is refused.
    stranger = control.create_account(webhook_url=bot.url, app_secret="someone-elses-secret")
    control.customer_writes(CUSTOMER, stranger)
    wait_until(
        lambda: any(a["status_code"] == 403 for a in control.webhook_attempts(stranger)),
        what="pywa's 403 in the emulator's webhook log",
    )
    assert bot.messages == []


# --- The GET verification handshake, against pywa's verify_token ------------------------


def test_waba_callback_override_handshakes_with_pywa(
    emulator_server: EmulatorServer, bot: PywaBot, control: Control
) -> None:
    # A second number whose WABA is pointed at pywa through the Graph API, as pywa's own
    # `callback_url_scope=WABA` registration does: Meta GETs the URL with hub.* first.
    other = control.create_account(webhook_url=None)
    with httpx.Client(timeout=15) as session:
        other_wa = pywa_client(emulator_server, other, session)
        with pytest.raises(errors.WhatsAppError) as refused:
            other_wa.override_waba_callback_url(callback_url=bot.url, verify_token="wrong")
        assert refused.value.code == 2200
        assert other_wa.override_waba_callback_url(
            callback_url=bot.url, verify_token=VERIFY_TOKEN
        ).success
    # pywa filters updates by phone_id and waba_id, so the other number's webhooks reach
    # pywa's endpoint (accepted: signed with pywa's secret) but no handler.
    control.customer_writes(CUSTOMER, other)
    wait_until(
        lambda: any(a["delivered"] for a in control.webhook_attempts(other)),
        what="the other number's webhook delivered to pywa",
    )
    assert control.webhook_attempts(other)[0]["url"] == bot.url
    assert bot.messages == []


def test_phone_callback_override_handshakes_with_pywa(bot: PywaBot, control: Control) -> None:
    # pywa posts the phone override to `/{phone_id}/` (trailing slash); Meta accepts it.
    assert bot.wa.override_phone_callback_url(
        callback_url=bot.url, verify_token=VERIFY_TOKEN
    ).success
    with pytest.raises(errors.WhatsAppError) as refused:
        bot.wa.override_phone_callback_url(callback_url=bot.url, verify_token="wrong")
    assert refused.value.code == 2200
