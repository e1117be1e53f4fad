"""Outgoing webhooks: built as Meta builds them, signed, delivered, retried.

Each number has lanes; every webhook about one customer goes through the same lane, in
order, one at a time, so a customer's messages and statuses arrive in the order they
happened while different customers' webhooks travel in parallel (Meta itself promises no
order; receivers must cope, and the reorder fault tests that they do). A failed delivery is
retried with growing delays on the emulator clock for up to seven days, as Meta does, and
holds back the webhooks behind it in its lane. Every attempt is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from ovillo.cloudapi.signature import sign
from ovillo.emulator.state import PhoneNumber, WebhookAttempt
from ovillo.emulator.webhook_client import DeliveryError, WebhookClient

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator

log = structlog.get_logger(__name__)

LANES_PER_NUMBER = 16
DELIVERY_TIMEOUT_SECONDS = 20.0
RETRY_FOR = timedelta(days=7)
# Growing delays between attempts; the last one repeats until RETRY_FOR has passed.
RETRY_DELAYS = (
    timedelta(seconds=15),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
)
USER_AGENT = "facebookexternalua"


@dataclass(slots=True)
class Outgoing:
    """One webhook POST waiting for delivery."""

    phone_number_id: str
    url: str
    app_secret: str
    field: str
    body: bytes
    items: int
    first_attempt_at: datetime | None = None
    attempts: int = 0


def envelope(
    waba_id: str, field: str, value: dict[str, Any], *, entry_time: int | None = None
) -> dict[str, Any]:
    """Meta's webhook envelope around one change.

    Meta stamps ``entry.time`` (unix seconds) on account-level fields such as template and
    quality updates, and receivers such as pywa read it there.
    """
    entry: dict[str, Any] = {"id": waba_id}
    if entry_time is not None:
        entry["time"] = entry_time
    entry["changes"] = [{"value": value, "field": field}]
    return {"object": "whatsapp_business_account", "entry": [entry]}


@functools.lru_cache(maxsize=1024)
def _digits(display_phone_number: str) -> str:
    return "".join(ch for ch in display_phone_number if ch.isdigit())


# Compact and UTF-8 as Meta sends them; one encoder, not one per webhook as json.dumps makes.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def messages_value(number: PhoneNumber, **parts: Any) -> dict[str, Any]:
    """The ``value`` of a ``messages`` change for ``number`` (contacts, messages, statuses)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": _digits(number.display_phone_number),
            "phone_number_id": number.id,
        },
    }
    value.update({key: item for key, item in parts.items() if item is not None})
    return value


class WebhookDispatcher:
    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._lanes: dict[tuple[str, int], asyncio.Queue[Outgoing]] = {}
        self._lane_tasks: list[asyncio.Task[None]] = []
        # Deliveries go through the lean keep-alive client; aiohttp only does the handshake.
        self._client: WebhookClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._attempt_ids = 0
        self._in_flight = 0
        self.delivered = 0
        self.failed_attempts = 0
        self.dropped = 0

    async def start(self) -> None:
        if self._client is None:
            self._client = WebhookClient(timeout=DELIVERY_TIMEOUT_SECONDS, user_agent=USER_AGENT)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT_SECONDS),
                connector=aiohttp.TCPConnector(limit=256),
            )

    async def stop(self) -> None:
        for task in self._lane_tasks:
            task.cancel()
        for task in self._lane_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lane_tasks.clear()
        self._lanes.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def backlog(self) -> int:
        return sum(queue.qsize() for queue in self._lanes.values()) + self._in_flight

    def send(
        self,
        number: PhoneNumber,
        field: str,
        value: dict[str, Any],
        *,
        lane_key: str,
        items: int = 1,
        entry_time: int | None = None,
    ) -> None:
        """Queue a webhook about ``lane_key`` (a customer id) for ``number``'s receiver."""
        if number.webhook_url is None or not self._subscribed(number):
            return  # Meta delivers nothing for a WABA with no subscribed app
        body = _ENCODER.encode(envelope(number.waba_id, field, value, entry_time=entry_time))
        body_bytes = body.encode()
        outgoing = Outgoing(
            phone_number_id=number.id,
            url=number.webhook_url,
            app_secret=number.app_secret,
            field=field,
            body=body_bytes,
            items=items,
        )
        self._enqueue(outgoing, lane_key)

    def _subscribed(self, number: PhoneNumber) -> bool:
        waba = self._emulator.state.wabas.get(number.waba_id)
        return waba is not None and bool(waba.subscribed_apps)

    def _enqueue(self, outgoing: Outgoing, lane_key: str) -> None:
        lane = (outgoing.phone_number_id, zlib.crc32(lane_key.encode()) % LANES_PER_NUMBER)
        queue = self._lanes.get(lane)
        if queue is None:
            queue = asyncio.Queue()
            self._lanes[lane] = queue
            self._lane_tasks.append(
                asyncio.get_running_loop().create_task(
                    self._run_lane(queue), name=f"webhooks-{lane}"
                )
            )
        queue.put_nowait(outgoing)

    async def _run_lane(self, queue: asyncio.Queue[Outgoing]) -> None:
        held: Outgoing | None = None
        while True:
            outgoing = await queue.get()
            self._in_flight += 1
            try:
                faults = self._emulator.faults
                number_id = outgoing.phone_number_id
                if held is None and faults.strike("webhook_reorder", number_id) is not None:
                    held = outgoing
                    if not queue.empty():
                        continue
                delay = faults.strike("webhook_delay", number_id)
                if delay is not None:
                    await self._emulator.sleep(float(delay.options.get("seconds", 30)))
                await self._deliver_until_done(outgoing)
                if faults.strike("webhook_duplicate", number_id) is not None:
                    duplicate = Outgoing(
                        phone_number_id=outgoing.phone_number_id,
                        url=outgoing.url,
                        app_secret=outgoing.app_secret,
                        field=outgoing.field,
                        body=outgoing.body,
                        items=outgoing.items,
                    )
                    await self._deliver_until_done(duplicate)
                if held is not None and held is not outgoing:
                    await self._deliver_until_done(held)
                    held = None
                elif held is outgoing:
                    held = None
            finally:
                self._in_flight -= 1

    async def _deliver_until_done(self, outgoing: Outgoing) -> None:
        clock = self._emulator.clock
        while True:
            now = clock.now()
            if outgoing.first_attempt_at is None:
                outgoing.first_attempt_at = now
            outgoing.attempts += 1
            if await self._attempt(outgoing):
                self.delivered += 1
                return
            self.failed_attempts += 1
            delay = RETRY_DELAYS[min(outgoing.attempts - 1, len(RETRY_DELAYS) - 1)]
            if clock.now() + delay - outgoing.first_attempt_at > RETRY_FOR:
                self.dropped += 1
                log.warning(
                    "webhook_dropped",
                    phone_number_id=outgoing.phone_number_id,
                    attempts=outgoing.attempts,
                )
                return
            await self._emulator.sleep(delay.total_seconds())

    async def _attempt(self, outgoing: Outgoing) -> bool:
        assert self._client is not None, "dispatcher not started"
        status: int | None = None
        error: str | None = None
        if self._emulator.faults.strike("webhook_fail", outgoing.phone_number_id) is not None:
            error = "fault injected: delivery failed"
        else:
            headers = (
                ("Content-Type", "application/json"),
                ("X-Hub-Signature-256", sign(outgoing.app_secret, outgoing.body)),
                # Meta still sends the legacy SHA-1 signature beside the SHA-256 one.
                (
                    "X-Hub-Signature",
                    "sha1="
                    + hmac.new(
                        outgoing.app_secret.encode(), outgoing.body, hashlib.sha1
                    ).hexdigest(),
                ),
            )
            try:
                status = await self._client.post(outgoing.url, outgoing.body, headers)
            except DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a bug here must fail one attempt, not stop the lane
                log.exception("webhook_attempt_crashed", phone_number_id=outgoing.phone_number_id)
                error = f"{type(exc).__name__}: {exc}"
        delivered = status is not None and 200 <= status < 300
        self._attempt_ids += 1
        self._emulator.state.webhook_log.append(
            WebhookAttempt(
                id=self._attempt_ids,
                phone_number_id=outgoing.phone_number_id,
                url=outgoing.url,
                field=outgoing.field,
                items=outgoing.items,
                attempt=outgoing.attempts,
                at=self._emulator.clock.now(),
                status_code=status,
                error=error if not delivered else None,
                delivered=delivered,
                body=outgoing.body,
            )
        )
        return delivered

    async def verify(self, url: str, verify_token: str) -> tuple[bool, str]:
        """Meta's subscription handshake: GET with hub.* and expect the challenge echoed."""
        assert self._session is not None, "dispatcher not started"
        challenge = str(int.from_bytes(hashlib.sha256(url.encode()).digest()[:4], "big"))
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": verify_token,
            "hub.challenge": challenge,
        }
        try:
            async with self._session.get(url, params=params) as response:
                text = await response.text()
                ok = response.status == 200 and text.strip() == challenge
                return ok, f"HTTP {response.status}: {text[:200]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return False, f"{type(exc).__name__}: {exc}"
