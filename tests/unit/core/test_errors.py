"""Errors render as RFC 9457 problem details, found along the class hierarchy."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from ovillo.core.errors import NotFoundError, OvilloError, install_problem_handlers


class ContactNotFoundError(NotFoundError):
    code = "contact_not_found"
    title = "No such contact."
    fields = ("contact_id",)


class Body(BaseModel):
    name: str
    age: int


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/contacts/{contact_id}")
    async def get_contact(contact_id: str) -> dict[str, str]:
        raise ContactNotFoundError(f"no contact {contact_id} here", contact_id=contact_id)

    @app.post("/things")
    async def make(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return app


async def test_subclass_renders_as_problem_details() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/contacts/c1")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://ovillo.dev/problems/contact_not_found",
        "title": "No such contact.",
        "status": 404,
        "code": "contact_not_found",
        "detail": "no contact c1 here",
        "instance": "/contacts/c1",
        "contact_id": "c1",
    }


async def test_request_validation_names_each_field() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/things", json={"name": "x", "age": "old"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert [error["field"] for error in body["errors"]] == ["body.age"]


def test_undeclared_fields_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="does not expose"):
        OvilloError("x", secret="leak")
