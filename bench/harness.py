"""What every bench needs around what it measures: a directory and a database for the run, a
runtime on it, a number to send from, and the figures it reports (percentiles, pace against
a cap, memory, CPU, the machine's load).

A bench imports it as ``harness`` (bench/ is not a package; Python puts a script's own
directory on the path).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import resource
import secrets
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ovillo.channels.models import Channel
from ovillo.core.clock import Clock
from ovillo.core.ids import new_id
from ovillo.core.runtime import Runtime
from ovillo.core.settings import DatabaseSettings, Settings, WorkerSettings
from ovillo.migrations import upgrade

POSTGRES_ADMIN_URL = os.environ.get(
    "OVILLO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


# --- The run's place -------------------------------------------------------------------------


@contextlib.contextmanager
def run_directory(prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A temporary directory for one run, removed afterwards unless ``keep``."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def fresh_database(kind: str, directory: Path) -> AsyncIterator[str]:
    """An empty database for one run: a SQLite file in ``directory``, or a new PostgreSQL
    database on the local server, dropped afterwards. Not migrated: `ovillo serve` migrates
    on start, and `migrated_runtime` does it for a bench that runs no server."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'ovillo.sqlite3'}"
        return
    name = f"ovillo_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield (
                make_url(POSTGRES_ADMIN_URL)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def migrated_runtime(
    kind: str, directory: Path, *, clock: Clock | None = None
) -> AsyncIterator[Runtime]:
    """A `fresh_database` migrated to head, and a runtime on it (no worker, no demo)."""
    async with fresh_database(kind, directory) as database_url:
        settings = Settings(
            db=DatabaseSettings(url=database_url),
            data_dir=directory / "var",
            demo=False,
            worker=WorkerSettings(embedded=False),
        )
        await asyncio.to_thread(upgrade, settings)
        runtime = Runtime.from_settings(settings, clock=clock)
        try:
            yield runtime
        finally:
            await runtime.aclose()


# --- Seeding ---------------------------------------------------------------------------------


async def seed_channel(engine: AsyncEngine, *, workspace_id: uuid.UUID, now: datetime) -> uuid.UUID:
    """A connected number's row, written straight in: for benches that read, never send."""
    channel_id = new_id(now)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Channel),
            [
                {"id": channel_id, "workspace_id": workspace_id,
                 "phone_number_id": "100000001", "waba_id": "200000001",
                 "display_phone_number": "+52 55 0000 0001", "verified_name": "Bench",
                 "access_token_encrypted": "x", "app_secret_encrypted": "x",
                 "webhook_verify_token": "x", "graph_api_url": "http://127.0.0.1:9",
                 "graph_api_version": "v23.0", "created_at": now, "updated_at": now}
            ],
        )  # fmt: skip
    return channel_id


# --- Processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """This process's peak resident set (``ru_maxrss``), in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def process_peak_rss_mb(pid: int) -> float | None:
    """Another process's peak resident set (``VmHWM``), in MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def load_average() -> list[float]:
    """The machine's load over 1, 5 and 15 minutes: quote it with every figure."""
    return [round(x, 2) for x in os.getloadavg()]


# --- Figures ---------------------------------------------------------------------------------


def percentiles(
    values: Sequence[float], *, scale: float = 1.0, digits: int = 1
) -> dict[str, float | None]:
    """p50, p95, p99 and max of ``values`` times ``scale`` (1000: seconds to ms)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale, digits)

    return {
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1] * scale, digits),
    }


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any sliding window of ``window`` seconds, [t, t + window)."""
    best = 0
    for index, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + window, lo=index) - index)
    return best


def pace_figures(times: Sequence[float], cap: int) -> dict[str, Any]:
    """Rates of one stream of accepted sends (seconds, sorted) against its cap."""
    count = len(times)
    span = times[-1] - times[0] if count > 1 else 0.0
    figures: dict[str, Any] = {
        "accepted": count,
        "cap_mps": cap,
        "span_s": round(span, 2),
        "rate_mps": round((count - 1) / span, 1) if span > 0 else None,
        "max_in_any_1s": max_in_window(times),
    }
    low, high = int(count * 0.1), int(count * 0.9)
    if high - low > 1 and times[high] > times[low]:
        steady = (high - low) / (times[high] - times[low])
        figures["steady_mps"] = round(steady, 1)
        figures["steady_share_of_cap"] = round(steady / cap, 3)
    figures["crossed_cap"] = figures["max_in_any_1s"] > cap
    return figures
