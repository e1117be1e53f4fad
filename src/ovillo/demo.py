"""The demo that ``make run`` starts: a workspace, its owner, an API key, a number, customers.

When ``settings.demo`` is on and the platform runs beside its embedded emulator,
``ensure_demo`` runs at start-up and makes sure the following exist, creating only what is
missing, so every start (the first, and any later one) leaves one usable demo:

- the workspace "Ovillo Demo" and its owner ``owner@demo.ovillo.local``;
- an API key of the workspace;
- one number in the emulator, connected to the workspace through
  ``channels.service.connect_channel`` (which checks its token against the emulator's Graph
  API as it would against Meta's), with a few simulated customers who write in.

The owner's password is generated once (not a fixed, documented one: a demo started with
``--host 0.0.0.0`` must not open to anyone who read the README). Like every password and key
it is stored hashed; its plaintext and the API key's are kept in ``demo-credentials.json``
under ``settings.data_dir`` (mode 0600) so that each start can show them again. If that file
is lost, or belongs to another database, the password is replaced and a new key is made.

The emulator keeps its state in memory: after a restart the database still has the demo
number but the emulator has forgotten it (its token is refused). The number is then created
again in the emulator and the existing channel row is pointed at it, so conversations and
contacts stay where they were and the workspace keeps exactly one demo number.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import structlog
from rich.console import Console
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts import service as accounts_service
from ovillo.accounts.models import Role, User
from ovillo.channels import service as channels_service
from ovillo.channels.models import Channel
from ovillo.cloudapi.errors import CloudAPIError
from ovillo.core import ids
from ovillo.core.runtime import Runtime

log = structlog.get_logger(__name__)

WORKSPACE_NAME: Final = "Ovillo Demo"
OWNER_EMAIL: Final = "owner@demo.ovillo.local"
OWNER_NAME: Final = "Demo Owner"
API_KEY_NAME: Final = "Demo"
# In Meta's fictional range (+1 555-01XX), so it can never be someone's real number.
DISPLAY_PHONE_NUMBER: Final = "+1 555-010-0100"
# The emulator cycles personas chatty, default, silent, chatty, offline, default: six
# customers who all write in and between them read, ignore, reply and come back later.
CUSTOMER_COUNT: Final = 6
CREDENTIALS_FILE: Final = "demo-credentials.json"
_EMULATOR_TIMEOUT_SECONDS: Final = 10.0


class DemoSetupError(RuntimeError):
    """The demo could not be set up (the emulator refused or could not be reached)."""


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    """What the credentials file keeps: the plaintexts the database only has hashes of."""

    owner_password: str
    api_key: str


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    wa_id: str
    name: str


@dataclass(frozen=True, slots=True)
class DemoAccess:
    """Everything a person needs to use the demo, as shown on start."""

    workspace_id: uuid.UUID
    owner_email: str
    owner_password: str
    api_key: str
    channel_id: uuid.UUID
    phone_number_id: str
    display_phone_number: str
    credentials_path: Path
    emulator_url: str
    # Whether the number was (re)created in the emulator on this start (customers added).
    number_created: bool
    customers: tuple[DemoCustomer, ...]


def credentials_path(data_dir: Path) -> Path:
    return data_dir / CREDENTIALS_FILE


def read_credentials(path: Path) -> DemoCredentials | None:
    """The credentials kept at ``path``, or None if there are none (or they are unreadable)."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    password, api_key = raw.get("owner_password"), raw.get("api_key")
    if not isinstance(password, str) or not isinstance(api_key, str):
        return None
    return DemoCredentials(owner_password=password, api_key=api_key)


def write_credentials(path: Path, credentials: DemoCredentials, *, owner_email: str) -> None:
    """Keep ``credentials`` at ``path``, readable by this user only, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "owner_email": owner_email,
        "owner_password": credentials.owner_password,
        "api_key": credentials.api_key,
    }
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Created 0600 from the start, never world-readable for a moment.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
            file.write("\n")
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def new_password() -> str:
    return ids.new_token(12)


# --- Start-up ------------------------------------------------------------------------------


async def start_demo(runtime: Runtime, *, console: Console | None = None) -> DemoAccess | None:
    """Set the demo up (``ensure_demo``) and show how to use it; None if it could not be.

    A demo that cannot be set up is logged and left out: the platform still serves.
    """
    try:
        access = await ensure_demo(runtime)
    except Exception:
        log.exception("demo_setup_failed", emulator_url=runtime.emulator_url)
        return None
    announce(access, base_url=runtime.public_url or "", console=console)
    return access


async def ensure_demo(runtime: Runtime) -> DemoAccess:
    """Make sure the demo workspace, owner, API key and number exist; create what is missing.

    Needs the embedded emulator (``runtime.emulator_url``) and the platform's own URL
    (``runtime.public_url``, where the emulator sends the number's webhooks). Raises
    ``DemoSetupError`` when the emulator refuses or cannot be reached.
    """
    emulator_url = runtime.emulator_url
    webhook_url = channels_service.webhook_url(runtime)
    if emulator_url is None or webhook_url is None:
        raise DemoSetupError("the demo needs the embedded emulator and the server's own URL")
    path = credentials_path(runtime.settings.data_dir)
    kept = read_credentials(path)
    async with runtime.sessionmaker() as session:
        owner, password = await _ensure_owner(session, runtime, kept)
        api_key = await _ensure_api_key(session, runtime, owner, kept)
        credentials = DemoCredentials(owner_password=password, api_key=api_key)
        if credentials != kept:
            write_credentials(path, credentials, owner_email=owner.email)
        async with httpx.AsyncClient(
            base_url=emulator_url, timeout=_EMULATOR_TIMEOUT_SECONDS
        ) as emulator:
            channel, created = await _ensure_number(
                session, runtime, emulator, workspace_id=owner.workspace_id,
                webhook_url=webhook_url,
            )  # fmt: skip
            if created:
                customers = await _add_customers(emulator, channel.phone_number_id)
            else:
                customers = await _known_customers(emulator, channel.phone_number_id)
    access = DemoAccess(
        workspace_id=owner.workspace_id,
        owner_email=owner.email,
        owner_password=password,
        api_key=api_key,
        channel_id=channel.id,
        phone_number_id=channel.phone_number_id,
        display_phone_number=channel.display_phone_number,
        credentials_path=path,
        emulator_url=emulator_url,
        number_created=created,
        customers=customers,
    )
    log.info(
        "demo_ready",
        workspace_id=str(access.workspace_id),
        channel_id=str(access.channel_id),
        phone_number_id=access.phone_number_id,
        number_created=created,
        customers=len(customers),
    )
    return access


async def _ensure_owner(
    session: AsyncSession, runtime: Runtime, kept: DemoCredentials | None
) -> tuple[User, str]:
    """The demo owner (and its workspace) and the owner's password in plaintext."""
    now = runtime.clock.now()
    owner = await accounts_service.get_user_by_email(session=session, email=OWNER_EMAIL)
    if owner is None:
        password = kept.owner_password if kept is not None else new_password()
        workspace = await accounts_service.create_workspace(
            session=session, name=WORKSPACE_NAME, now=now
        )
        owner = await accounts_service.create_user(
            session=session, workspace_id=workspace.id, email=OWNER_EMAIL, name=OWNER_NAME,
            password=password, role=Role.OWNER, now=now,
        )  # fmt: skip
        return owner, password
    if kept is not None and accounts_service.password_matches(owner, kept.owner_password):
        return owner, kept.owner_password
    # The plaintext is lost (credentials file deleted, or kept for another database): the
    # demo owner is the demo's own, so it gets a new password rather than none anyone knows.
    password = new_password()
    await accounts_service.do_set_password(session=session, user=owner, password=password)
    await session.commit()
    log.info("demo_owner_password_replaced", user_id=str(owner.id))
    return owner, password


async def _ensure_api_key(
    session: AsyncSession, runtime: Runtime, owner: User, kept: DemoCredentials | None
) -> str:
    now = runtime.clock.now()
    if kept is not None:
        known = await accounts_service.authenticate_api_key(
            session=session, key=kept.api_key, now=now
        )
        if known is not None and known.workspace_id == owner.workspace_id:
            return kept.api_key
    _, plaintext = await accounts_service.create_api_key(
        session=session, workspace_id=owner.workspace_id, name=API_KEY_NAME,
        created_by_id=owner.id, now=now,
    )  # fmt: skip
    return plaintext


@dataclass(frozen=True, slots=True)
class _EmulatorNumber:
    phone_number_id: str
    waba_id: str
    access_token: str
    app_secret: str


async def _ensure_number(
    session: AsyncSession,
    runtime: Runtime,
    emulator: httpx.AsyncClient,
    *,
    workspace_id: uuid.UUID,
    webhook_url: str,
) -> tuple[Channel, bool]:
    """The demo's connected channel, and whether its number was (re)created in the emulator."""
    channels = await channels_service.list_channels(
        session=session, workspace_id=workspace_id, include_disconnected=True
    )
    # Found by its fictional display number: a real number someone connected to the demo
    # workspace is theirs, never pointed at the emulator.
    channel = next((c for c in channels if c.display_phone_number == DISPLAY_PHONE_NUMBER), None)
    if channel is not None and await _emulator_knows(runtime, channel):
        return channel, False
    number = await _create_emulator_number(emulator, webhook_url=webhook_url)
    now = runtime.clock.now()
    if channel is not None:
        # The emulator forgot the number (it keeps its state in memory) or it was
        # disconnected: point the demo's row at the new number, in the same transaction as
        # the reconnection below, which reuses a disconnected row of the same workspace.
        # One row, so the conversations and contacts of earlier runs stay on the number.
        await channels_service.do_repoint_channel(
            session=session, channel=channel, phone_number_id=number.phone_number_id, now=now
        )
    connected = await channels_service.connect_channel(
        session=session, runtime=runtime, workspace_id=workspace_id,
        phone_number_id=number.phone_number_id, waba_id=number.waba_id,
        access_token=number.access_token, app_secret=number.app_secret,
        graph_api_url=runtime.emulator_url, now=now,
    )  # fmt: skip
    log.info(
        "demo_number_created",
        workspace_id=str(workspace_id),
        channel_id=str(connected.id),
        phone_number_id=connected.phone_number_id,
        replaced_forgotten_number=channel is not None,
    )
    return connected, True


async def _emulator_knows(runtime: Runtime, channel: Channel) -> bool:
    """Whether the channel's number still answers in this run's emulator with its token."""
    if channel.disconnected_at is not None or runtime.emulator_url is None:
        return False
    if channel.graph_api_url.rstrip("/") != runtime.emulator_url.rstrip("/"):
        return False
    client = channels_service.cloud_api_client(runtime, channel)
    try:
        await client.get_phone_number(channel.phone_number_id, fields=["id"])
    except CloudAPIError:
        return False
    return True


async def _create_emulator_number(
    emulator: httpx.AsyncClient, *, webhook_url: str
) -> _EmulatorNumber:
    app_secret = ids.new_token(24)
    answer = await _emulator_call(
        emulator,
        "POST",
        "/_emulator/phone_numbers",
        json={
            "display_phone_number": DISPLAY_PHONE_NUMBER,
            "verified_name": WORKSPACE_NAME,
            "webhook_url": webhook_url,
            "app_secret": app_secret,
        },
    )
    return _EmulatorNumber(
        phone_number_id=str(answer["phone_number_id"]),
        waba_id=str(answer["waba_id"]),
        access_token=str(answer["access_token"]),
        app_secret=app_secret,
    )


async def _add_customers(
    emulator: httpx.AsyncClient, phone_number_id: str
) -> tuple[DemoCustomer, ...]:
    answer = await _emulator_call(
        emulator,
        "POST",
        f"/_emulator/phone_numbers/{phone_number_id}/demo_customers",
        json={"count": CUSTOMER_COUNT},
    )
    return _customers_of(answer)


async def _known_customers(
    emulator: httpx.AsyncClient, phone_number_id: str
) -> tuple[DemoCustomer, ...]:
    answer = await _emulator_call(
        emulator, "GET", "/_emulator/customers", params={"phone_number_id": phone_number_id}
    )
    return _customers_of(answer)


def _customers_of(answer: Any) -> tuple[DemoCustomer, ...]:
    items = answer if isinstance(answer, list) else []
    return tuple(
        DemoCustomer(wa_id=str(item["wa_id"]), name=str(item.get("name") or ""))
        for item in items
        if isinstance(item, dict) and item.get("wa_id") and item.get("on_whatsapp", True)
    )


async def _emulator_call(emulator: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = await emulator.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        raise DemoSetupError(
            f"the emulator at {emulator.base_url} did not answer: {error}"
        ) from error
    if response.is_error:
        raise DemoSetupError(
            f"the emulator refused {method} {path} ({response.status_code}): {response.text}"
        )
    return response.json()


# --- What to show ----------------------------------------------------------------------------


def announce(access: DemoAccess, *, base_url: str, console: Console | None = None) -> None:
    """Show ``instructions`` on the terminal (stderr, beside the server's other lines)."""
    out = console or Console(stderr=True, highlight=False)
    lines = instructions(access, base_url=base_url)
    out.print(Text(lines[0], style="bold green"), soft_wrap=True)
    for line in lines[1:]:
        out.print(Text(line), soft_wrap=True)


def instructions(access: DemoAccess, *, base_url: str) -> list[str]:
    """Lines that tell a person how to use the demo (plain text, for a terminal)."""
    base = base_url.rstrip("/")
    emulator = access.emulator_url.rstrip("/")
    bearer = shlex.quote(f"Authorization: Bearer {access.api_key}")
    json_body = shlex.quote("Content-Type: application/json")
    first = access.customers[0] if access.customers else None
    wa_id = first.wa_id if first is not None else "<wa_id of a customer>"
    reply = json.dumps(
        {"to": wa_id, "number_id": str(access.channel_id), "type": "text",
         "text": {"body": "Hello from Ovillo! How can we help?"}}
    )  # fmt: skip
    write_in = json.dumps(
        {"phone_number_id": access.phone_number_id, "type": "text",
         "text": {"body": "Hi! Is the shop open today?"}}
    )  # fmt: skip
    who = f"{first.name} ({first.wa_id})" if first is not None else "a customer"
    return [
        f'Demo workspace "{WORKSPACE_NAME}": number {access.display_phone_number}, '
        f"{len(access.customers)} simulated customers writing in over the next minutes",
        f"  Inbox:     {base}/sign-in  (sign in as the owner below)",
        f"  Docs:      {base}/docs  (Authorize with the API key)",
        f"  Owner:     {access.owner_email}  password {access.owner_password}",
        f"  API key:   {access.api_key}",
        f"  (kept in {access.credentials_path}, shown again on every start)",
        "  List conversations:",
        f"    curl -s {base}/api/v1/conversations -H {bearer}",
        f"  Answer {who} once they have written (about 15 s after start; their message opens "
        "the 24-hour window):",
        f"    curl -s -X POST {base}/api/v1/messages -H {bearer} -H {json_body} "
        f"-d {shlex.quote(reply)}",
        "  Write in as that customer (the emulator plays WhatsApp):",
        f"    curl -s -X POST {emulator}/_emulator/customers/{wa_id}/messages -H {json_body} "
        f"-d {shlex.quote(write_in)}",
    ]
