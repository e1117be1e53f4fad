"""Outgoing webhooks: built as Meta builds them, signed, delivered, retried.

Each number has lanes; every webhook about one customer goes through the same lane, in
order, one at a time, so a customer's messages and statuses arrive in the order they
happened while different customers' webhooks travel in parallel (Meta itself promises no
order; receivers must cope, and the reorder fault tests that they do). A failed delivery is
retried with growing delays on the emulator clock for up to seven days, as Meta does, and
holds back the webhooks behind it in its lane. Every attempt is logged.

Under load Meta batches: one POST may carry several entries and changes (facts file). A
lane whose backlog of status webhooks reaches ``BATCH_BACKLOG`` sends the next run of them
(up to ``BATCH_MAX``, in order, same number) as one POST, one change per status, exactly as
each would have been alone. A lane that keeps up sends one status per POST, which is what
receivers that read only the first change (pywa) see in normal traffic; a lane that falls
behind catches up instead of delaying every status further.
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
# A lane with at least this many status webhooks waiting batches them (module docstring).
BATCH_BACKLOG = 32
BATCH_MAX = 100


@dataclass(slots=True)
class Outgoing:
    """One webhook POST waiting for delivery: one or more changes of one WABA's entry."""

    phone_number_id: str
    url: str
    app_secret: str
    field: str
    waba_id: str
    changes: list[dict[str, Any]]
    items: int
    entry_time: int | None = None
    # Whether other status webhooks of the number may join this POST.
    batchable: bool = False
    first_attempt_at: datetime | None = None
    attempts: int = 0
    _body: bytes | None = None

    @property
    def body(self) -> bytes:
        """The POST's body, encoded once, at its first attempt."""
        if self._body is None:
            document = _envelope(self.waba_id, self.changes, self.entry_time)
            self._body = _ENCODER.encode(document).encode()
        return self._body

    def joins(self, other: Outgoing) -> bool:
        """Whether ``other`` may ride in this POST."""
        return (
            self.batchable
            and other.batchable
            and other.phone_number_id == self.phone_number_id
            and other.url == self.url
            and other.app_secret == self.app_secret
            and other.waba_id == self.waba_id
        )

    def copy(self) -> Outgoing:
        """The same POST, unsent (a duplicate delivery)."""
        return Outgoing(
            phone_number_id=self.phone_number_id,
            url=self.url,
            app_secret=self.app_secret,
            field=self.field,
            waba_id=self.waba_id,
            changes=self.changes,
            items=self.items,
            entry_time=self.entry_time,
            _body=self.body,
        )


def envelope(
    waba_id: str, field: str, value: dict[str, Any], *, entry_time: int | None = None
) -> dict[str, Any]:
    """Meta's webhook envelope around one change.

    Meta stamps ``entry.time`` (unix seconds) on account-level fields such as template and
    quality updates, and receivers such as pywa read it there.
    """
    return _envelope(waba_id, [{"value": value, "field": field}], entry_time)


def _envelope(
    waba_id: str, changes: list[dict[str, Any]], entry_time: int | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": waba_id}
    if entry_time is not None:
        entry["time"] = entry_time
    entry["changes"] = changes
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


def _batch(first: Outgoing, queue: asyncio.Queue[Outgoing]) -> tuple[Outgoing, Outgoing | None]:
    """``first`` and the status webhooks right behind it in ``queue`` as one POST, and the
    item taken that could not join (it goes next)."""
    changes = list(first.changes)
    items = first.items
    while len(changes) < BATCH_MAX and not queue.empty():
        following = queue.get_nowait()
        if not first.joins(following):
            batch = first if len(changes) == len(first.changes) else _merged(first, changes, items)
            return batch, following
        changes.extend(following.changes)
        items += following.items
    return _merged(first, changes, items), None


def _merged(first: Outgoing, changes: list[dict[str, Any]], items: int) -> Outgoing:
    return Outgoing(
        phone_number_id=first.phone_number_id,
        url=first.url,
        app_secret=first.app_secret,
        field=first.field,
        waba_id=first.waba_id,
        changes=changes,
        items=items,
        batchable=True,
    )


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
        outgoing = Outgoing(
            phone_number_id=number.id,
            url=number.webhook_url,
            app_secret=number.app_secret,
            field=field,
            waba_id=number.waba_id,
            changes=[{"value": value, "field": field}],
            items=items,
            entry_time=entry_time,
            batchable=field == "messages" and "statuses" in value and "messages" not in value,
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
        carried: Outgoing | None = None  # taken from the queue but not batched: next
        while True:
            if carried is not None:
                outgoing, carried = carried, None
            else:
                outgoing = await queue.get()
            if outgoing.batchable and queue.qsize() >= BATCH_BACKLOG - 1:
                outgoing, carried = _batch(outgoing, queue)
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
                    await self._deliver_until_done(outgoing.copy())
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
            if await self._attempt(outgoing, now):
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

    async def _attempt(self, outgoing: Outgoing, at: datetime) -> bool:
        """One POST of ``outgoing``, begun at ``at`` (emulator clock); whether it landed."""
        assert self._client is not None, "dispatcher not started"
        status: int | None = None
        error: str | None = None
        if self._emulator.faults.strike("webhook_fail", outgoing.phone_number_id) is not None:
            error = "fault injected: delivery failed"
        else:
            legacy = hmac.digest(outgoing.app_secret.encode(), outgoing.body, "sha1").hex()
            headers = (
                ("Content-Type", "application/json"),
                ("X-Hub-Signature-256", sign(outgoing.app_secret, outgoing.body)),
                # Meta still sends the legacy SHA-1 signature beside the SHA-256 one.
                # (hmac.digest: the one-shot C path, no HMAC object per POST.)
                ("X-Hub-Signature", "sha1=" + legacy),
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
                at=at,
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
