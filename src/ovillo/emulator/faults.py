"""Fault injection: make the emulator misbehave the ways Meta does, on purpose.

A fault has a ``kind`` and a ``rate`` (the probability that it strikes each time it may),
plus kind-specific options. Decisions come from one seeded RNG so a failing test can be
replayed with the same seed.

Kinds:
    api_500, api_503        a Graph call answers 500 (code 1/131000) or 503 (131016)
    api_timeout             the call hangs past the client's timeout (``seconds``)
    api_lost_answer         the message is accepted, then the answer is lost (connection
                            dropped), so the client cannot know it was sent
    webhook_duplicate       a webhook is delivered twice
    webhook_reorder         a webhook is held back and delivered after the next one
    webhook_delay           a webhook waits ``seconds`` on the emulator clock
    webhook_fail            a delivery attempt is treated as failed (and retried)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = frozenset(
    {
        "api_500",
        "api_503",
        "api_timeout",
        "api_lost_answer",
        "webhook_duplicate",
        "webhook_reorder",
        "webhook_delay",
        "webhook_fail",
    }
)


@dataclass(slots=True)
class Fault:
    kind: str
    rate: float
    options: dict[str, Any] = field(default_factory=dict)
    phone_number_id: str | None = None
    struck: int = 0


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._faults: dict[str, Fault] = {}

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; known: {sorted(FAULT_KINDS)}")
        if not 0.0 <= fault.rate <= 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        self._faults[fault.kind] = fault

    def clear(self) -> None:
        self._faults.clear()

    def active(self) -> list[Fault]:
        return list(self._faults.values())

    def strike(self, kind: str, phone_number_id: str | None = None) -> Fault | None:
        """The fault of ``kind`` if it strikes this time, else None."""
        fault = self._faults.get(kind)
        if fault is None:
            return None
        if fault.phone_number_id is not None and fault.phone_number_id != phone_number_id:
            return None
        if fault.rate < 1.0 and self._random.random() >= fault.rate:
            return None
        fault.struck += 1
        return fault
