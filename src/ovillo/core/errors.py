"""Ovillo's errors and their rendering as RFC 9457 problem details.

Every error the product raises on purpose derives from ``OvilloError`` and declares, as class
attributes, a stable ``code`` (the slug clients branch on), the HTTP ``status``, a ``title``
and the names of the extra fields it exposes. One handler renders any of them as
``application/problem+json``; it is registered for the base class, and Starlette finds it
along the class hierarchy, so a new error needs no new handler.

    OvilloError                      500 internal_error
    ├── NotFoundError                404 not_found
    ├── ConflictError                409 conflict
    ├── ValidationFailedError        422 validation_failed
    ├── AuthenticationRequiredError  401 authentication_required
    └── PermissionDeniedError        403 permission_denied

Domains subclass these in their own ``errors.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://ovillo.dev/problems/"


class OvilloError(Exception):
    """Base of every error we raise on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Something went wrong on our side."
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        unknown = set(extra) - set(self.fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} does not expose {sorted(unknown)}")
        self.detail = detail
        self.extra = extra
        super().__init__(detail or self.title)

    def problem(self, *, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body: standard members, then this error's fields, absent keys left out."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        body.update({key: value for key, value in self.extra.items() if value is not None})
        return body


class NotFoundError(OvilloError):
    code = "not_found"
    status = 404
    title = "Not found."


class ConflictError(OvilloError):
    code = "conflict"
    status = 409
    title = "The request conflicts with the current state."


class ValidationFailedError(OvilloError):
    code = "validation_failed"
    status = 422
    title = "The request is not valid."
    # Annotated again so subclasses may expose other fields than ``errors``.
    fields: ClassVar[tuple[str, ...]] = ("errors",)


class AuthenticationRequiredError(OvilloError):
    code = "authentication_required"
    status = 401
    title = "Authentication is required."


class PermissionDeniedError(OvilloError):
    code = "permission_denied"
    status = 403
    title = "You are not allowed to do this."


def problem_response(
    body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        dict(body), status_code=int(body["status"]), media_type=PROBLEM_JSON, headers=headers
    )


async def _handle_ovillo_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OvilloError)
    return problem_response(exc.problem(instance=request.url.path))


async def _handle_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]
    problem = ValidationFailedError(
        "; ".join(f"{error['field']}: {error['message']}" for error in errors), errors=errors
    )
    return problem_response(problem.problem(instance=request.url.path))


def install_problem_handlers(app: FastAPI) -> None:
    """Render every ``OvilloError`` and FastAPI's own validation errors as problem details."""
    app.add_exception_handler(OvilloError, _handle_ovillo_error)
    app.add_exception_handler(RequestValidationError, _handle_request_validation)
