"""Authentication of REST API calls: ``Authorization: Bearer ovk_...`` → a workspace.

Routes declare ``context: ApiContext`` and read ``context.workspace_id``; every query they
make is scoped by it. A missing, unknown or revoked key is a 401 problem with the code
``invalid_api_key`` and a ``WWW-Authenticate`` challenge (RFC 6750 section 3): without
credentials the challenge names only the realm, with bad ones it adds
``error="invalid_token"``.

The header is added by a handler registered for ``InvalidApiKeyError`` itself
(``install_auth_problem_handler``): the generic problem handler knows no headers, and
Starlette picks the most specific handler along the exception's class hierarchy.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, Final

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from ovillo.core.deps import ClockDep, SessionDep
from ovillo.core.errors import PROBLEM_JSON, AuthenticationRequiredError, problem_response

REALM: Final = "ovillo"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key of the workspace: `Authorization: Bearer ovk_...`.",
)


class InvalidApiKeyError(AuthenticationRequiredError):
    code = "invalid_api_key"
    title = "A valid API key is required."

    def __init__(self, detail: str, *, credentials_given: bool) -> None:
        super().__init__(detail)
        self.credentials_given = credentials_given

    @property
    def challenge(self) -> str:
        if self.credentials_given:
            return f'Bearer realm="{REALM}", error="invalid_token"'
        return f'Bearer realm="{REALM}"'


@dataclass(frozen=True, slots=True)
class WorkspaceContext:
    """Who is calling: the workspace every query of the request is scoped to, and the key."""

    workspace_id: uuid.UUID
    api_key_id: uuid.UUID


async def api_context(
    session: SessionDep,
    clock: ClockDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> WorkspaceContext:
    # Imported here: core must not import a domain at module load (imports point down).
    from ovillo.accounts import service as accounts_service

    if credentials is None or not credentials.credentials:
        raise InvalidApiKeyError(
            "Send an API key of your workspace as `Authorization: Bearer ovk_...`.",
            credentials_given=False,
        )
    api_key = await accounts_service.authenticate_api_key(
        session=session, key=credentials.credentials, now=clock.now()
    )
    if api_key is None:
        raise InvalidApiKeyError(
            "The API key is not valid or was revoked. Create a new one in the workspace's "
            "settings.",
            credentials_given=True,
        )
    structlog.contextvars.bind_contextvars(workspace_id=str(api_key.workspace_id))
    return WorkspaceContext(workspace_id=api_key.workspace_id, api_key_id=api_key.id)


ApiContext = Annotated[WorkspaceContext, Depends(api_context)]
"""The calling workspace of an API route; 401 ``invalid_api_key`` without a live key."""


async def _handle_invalid_api_key(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidApiKeyError)
    return problem_response(
        exc.problem(instance=request.url.path), headers={"WWW-Authenticate": exc.challenge}
    )


def install_auth_problem_handler(app: FastAPI) -> None:
    """Answer ``InvalidApiKeyError`` with its ``WWW-Authenticate`` challenge."""
    app.add_exception_handler(InvalidApiKeyError, _handle_invalid_api_key)


class ProblemOut(BaseModel):
    """An RFC 9457 problem as the API answers it; errors add their own fields."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None


def api_problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` of an authenticated route: 401 and the problem ``statuses``.

    Documented as ``application/problem+json``, the type the problem handler answers with.
    """
    schema = ProblemOut.model_json_schema()
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in sorted({401, *statuses})
    }
