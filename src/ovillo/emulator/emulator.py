"""The emulator: its world, its clock, its scheduler, its webhooks, its faults."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ovillo.core.clock import ControllableClock
from ovillo.emulator.faults import Faults
from ovillo.emulator.scheduler import Scheduler
from ovillo.emulator.state import EmulatorState
from ovillo.emulator.store import EmulatorPersistence, EmulatorStore
from ovillo.emulator.webhooks import WebhookDispatcher

# Called with the emulator when it starts and again after a reset, so recurring work on the
# emulator clock (the hourly quality evaluation) schedules itself; modules append on import.
START_HOOKS: list[Callable[[Emulator], None]] = []


@dataclass
class EmulatorConfig:
    """Knobs of the simulated Meta (all times on the emulator clock)."""

    # Meta reviews most templates within minutes; tests approve them through the control API.
    template_review_delay_seconds: float = 60.0
    auto_approve_templates: bool = True
    # Per-user cap on marketing templates from all businesses (131049); None disables it.
    marketing_frequency_cap_per_day: int | None = None
    seed: int | None = None
    # The SQLite file keeping the durable world across restarts (emulator.store);
    # None keeps everything in memory (tests).
    state_path: Path | None = None


class Emulator:
    def __init__(
        self,
        *,
        clock: ControllableClock | None = None,
        config: EmulatorConfig | None = None,
    ) -> None:
        self.clock = clock or ControllableClock()
        self.config = config or EmulatorConfig()
        self.persistence = (
            EmulatorPersistence(EmulatorStore(self.config.state_path), clock=self.clock)
            if self.config.state_path is not None
            else None
        )
        self.state = self.persistence.load() if self.persistence else EmulatorState()
        if self.persistence is not None:
            # Time moved forward before a restart stays moved: windows, reviews and
            # scheduled jobs are as far along as they were.
            self.persistence.restore_clock(self.clock)
        self.scheduler = Scheduler(self.clock)
        self.webhooks = WebhookDispatcher(self)
        self.faults = Faults(self.config.seed)
        self.base_url = ""  # set by the server once it knows its address
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        await self.webhooks.start()
        self.scheduler.start()
        if self.persistence is not None:
            self.persistence.start(lambda: self.state)
        self._started = True
        for hook in START_HOOKS:
            hook(self)

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.webhooks.stop()
        if self.persistence is not None:
            await self.persistence.stop(self.state)
        self._started = False

    async def advance(self, seconds: float) -> None:
        """Move the emulator clock forward and run everything that became due."""
        self.clock.advance(timedelta(seconds=seconds))
        await self.scheduler.run_due()
        self.scheduler.poke()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of emulator time (shorter in real time if the clock is advanced)."""
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        self.scheduler.after(seconds, wake)
        await done

    async def reset(self) -> None:
        """Forget everything: numbers, customers, messages, templates, faults, pending work."""
        await self.webhooks.stop()
        self.scheduler.clear()
        self.state = EmulatorState()
        if self.persistence is not None:
            await self.persistence.clear(self.state)
        self.faults.clear()
        await self.webhooks.start()
        if self._started:
            for hook in START_HOOKS:
                hook(self)
