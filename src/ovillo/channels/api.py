"""``/numbers``: connect WhatsApp numbers to the workspace and read their figures."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ovillo.channels import service
from ovillo.channels.schemas import ChannelCreate, ChannelList, ChannelOut
from ovillo.core.auth import ApiContext, api_problem_responses
from ovillo.core.deps import RuntimeDep, SessionDep

router = APIRouter(prefix="/numbers", tags=["numbers"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Connect a WhatsApp number",
    response_model=ChannelOut,
    responses=api_problem_responses(409, 422, 502),
)
async def connect_number(
    body: ChannelCreate, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> ChannelOut:
    """Check the access token against Meta's Graph API by reading the number, then store it.

    The answer carries the webhook callback URL and verify token to paste into the Meta
    app's webhook configuration. The token and app secret are stored encrypted and never
    returned.
    """
    channel = await service.connect_channel(
        session=session,
        runtime=runtime,
        workspace_id=context.workspace_id,
        phone_number_id=body.phone_number_id,
        waba_id=body.waba_id,
        access_token=body.access_token,
        app_secret=body.app_secret,
        graph_api_url=str(body.graph_api_url) if body.graph_api_url is not None else None,
        graph_api_version=body.graph_api_version,
        now=runtime.clock.now(),
    )
    return ChannelOut.of(channel, webhook_url=service.webhook_url(runtime))


@router.get(
    "",
    summary="List the workspace's numbers",
    response_model=ChannelList,
    responses=api_problem_responses(422),
)
async def list_numbers(
    context: ApiContext,
    session: SessionDep,
    runtime: RuntimeDep,
    include_disconnected: bool = False,
) -> ChannelList:
    channels = await service.list_channels(
        session=session,
        workspace_id=context.workspace_id,
        include_disconnected=include_disconnected,
    )
    url = service.webhook_url(runtime)
    return ChannelList(data=[ChannelOut.of(channel, webhook_url=url) for channel in channels])


@router.get(
    "/{channel_id}",
    summary="Get a number",
    response_model=ChannelOut,
    responses=api_problem_responses(404, 422),
)
async def get_number(
    channel_id: uuid.UUID, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> ChannelOut:
    channel = await service.get_channel_or_raise(
        session=session, workspace_id=context.workspace_id, channel_id=channel_id
    )
    return ChannelOut.of(channel, webhook_url=service.webhook_url(runtime))


@router.post(
    "/{channel_id}/sync",
    summary="Read a number's figures from Meta again",
    response_model=ChannelOut,
    responses=api_problem_responses(404, 409, 422, 502),
)
async def sync_number(
    channel_id: uuid.UUID, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> ChannelOut:
    """Refresh display name, quality rating, messaging limit, throughput and status."""
    channel = await service.sync_channel(
        session=session,
        runtime=runtime,
        workspace_id=context.workspace_id,
        channel_id=channel_id,
        now=runtime.clock.now(),
    )
    return ChannelOut.of(channel, webhook_url=service.webhook_url(runtime))


@router.delete(
    "/{channel_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Disconnect a number",
    response_class=Response,
    responses=api_problem_responses(404, 422),
)
async def disconnect_number(
    channel_id: uuid.UUID, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Stop using the number: its access token is forgotten; conversations are kept."""
    await service.disconnect_channel(
        session=session,
        workspace_id=context.workspace_id,
        channel_id=channel_id,
        now=runtime.clock.now(),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
