"""The served app answers health, OpenAPI and docs."""

from __future__ import annotations

import httpx

from ovillo.app import create_app
from ovillo.core.runtime import Runtime


async def test_healthz_openapi_and_docs(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ovillo") as client:
        health = await client.get("/healthz")
        openapi = await client.get("/openapi.json")
        docs = await client.get("/docs")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["database"] == "sqlite"
    assert openapi.json()["info"]["title"] == "Ovillo"
    assert "/healthz" in openapi.json()["paths"]
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
