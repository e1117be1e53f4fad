"""``/workspace`` and ``/api-keys``: the calling workspace and its API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ovillo.accounts import service
from ovillo.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    OptOutWords,
    WorkspaceOut,
)
from ovillo.core.auth import ApiContext, api_problem_responses
from ovillo.core.deps import ClockDep, SessionDep

router = APIRouter(tags=["workspace"])


@router.get(
    "/workspace",
    summary="The workspace of the API key",
    response_model=WorkspaceOut,
    responses=api_problem_responses(),
)
async def get_workspace(context: ApiContext, session: SessionDep) -> WorkspaceOut:
    workspace = await service.get_workspace_or_raise(
        session=session, workspace_id=context.workspace_id
    )
    return WorkspaceOut.of(workspace)


@router.get(
    "/workspace/opt-out-words",
    summary="The replies that opt a contact out of marketing",
    response_model=OptOutWords,
    responses=api_problem_responses(),
)
async def get_opt_out_words(context: ApiContext, session: SessionDep) -> OptOutWords:
    words = await service.get_opt_out_words(session=session, workspace_id=context.workspace_id)
    return OptOutWords(words=list(words))


@router.put(
    "/workspace/opt-out-words",
    summary="Choose the replies that opt a contact out of marketing",
    response_model=OptOutWords,
    responses=api_problem_responses(422),
)
async def set_opt_out_words(
    body: OptOutWords, context: ApiContext, session: SessionDep
) -> OptOutWords:
    """A contact whose whole reply is one of these words is opted out of marketing."""
    words = await service.set_opt_out_words(
        session=session, workspace_id=context.workspace_id, words=body.words
    )
    return OptOutWords(words=list(words))


@router.get(
    "/api-keys",
    summary="List the workspace's API keys",
    response_model=ApiKeyList,
    responses=api_problem_responses(),
)
async def list_api_keys(context: ApiContext, session: SessionDep) -> ApiKeyList:
    keys = await service.list_api_keys(session=session, workspace_id=context.workspace_id)
    return ApiKeyList(data=[ApiKeyOut.of(key) for key in keys])


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
    response_model=ApiKeyCreated,
    responses=api_problem_responses(422),
)
async def create_api_key(
    body: ApiKeyCreate, context: ApiContext, session: SessionDep, clock: ClockDep
) -> ApiKeyCreated:
    """The answer holds the key itself; it is not shown again (only its hash is stored)."""
    api_key, plaintext = await service.create_api_key(
        session=session, workspace_id=context.workspace_id, name=body.name, now=clock.now()
    )
    return ApiKeyCreated(**ApiKeyOut.of(api_key).model_dump(), key=plaintext)


@router.delete(
    "/api-keys/{api_key_id}",
    summary="Revoke an API key",
    response_model=ApiKeyOut,
    responses=api_problem_responses(404, 422),
)
async def revoke_api_key(
    api_key_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> ApiKeyOut:
    """The key stops working at once. Revoking the key of this very request is allowed."""
    api_key = await service.revoke_api_key(
        session=session,
        workspace_id=context.workspace_id,
        api_key_id=api_key_id,
        now=clock.now(),
    )
    return ApiKeyOut.of(api_key)
