"""The platform serves for real, on both databases, with its emulator beside it."""

from __future__ import annotations

import httpx

from ovillo.server import PlatformServer


async def test_health_and_emulator(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    health = (await http.get("/healthz")).json()
    assert health["status"] == "ok"
    assert health["database"] in {"sqlite", "postgresql"}
    clock = (await emulator_http.get("/_emulator/clock")).json()
    assert clock["pending_events"] >= 0
    assert platform.runtime.graph_api_url == platform.emulator.url  # type: ignore[union-attr]


async def test_platform_and_emulator_share_one_clock(
    platform: PlatformServer, emulator_http: httpx.AsyncClient
) -> None:
    before = platform.runtime.clock.now()
    await emulator_http.post("/_emulator/clock/advance", json={"seconds": 3600})
    assert (platform.runtime.clock.now() - before).total_seconds() >= 3600
