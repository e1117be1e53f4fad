"""Presence from the inbox's pages: each open page reports, the conversation page shows who
else is there ("Ana is viewing", "Ana is typing…"). See ``inbox.presence``.

The page's script (ovillo.js, "Presence") posts a heartbeat every
``presence.HEARTBEAT_SECONDS`` and when the agent starts or stops typing, and redraws the
``_presence.html`` partial from the answer, and again from ``GET .../presence`` when a
``presence_changed`` event names its conversation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.core.deps import ClockDep, SessionDep
from ovillo.inbox import presence
from ovillo.inbox import service as inbox_service
from ovillo.web.forms import form_id
from ovillo.web.pages import Viewer, ViewerDep, render

# Included in the inbox pages' router (``inbox.views``), which checks every form's CSRF token.
router = APIRouter(include_in_schema=False)


async def presence_context(
    viewer: Viewer, session: AsyncSession, now: datetime, conversation_id: uuid.UUID
) -> dict[str, object]:
    """What ``inbox/_presence.html`` needs: the other agents on the conversation."""
    present = await presence.list_present(
        session=session,
        workspace_id=viewer.me.workspace_id,
        conversation_id=conversation_id,
        now=now,
        exclude_user_id=viewer.me.user_id,
    )
    return {
        "present": present,
        "presence_conversation_id": conversation_id,
        "presence_heartbeat": presence.HEARTBEAT_SECONDS,
    }


@router.get("/inbox/{conversation_id}/presence")
async def presence_line(
    conversation_id: uuid.UUID, viewer: ViewerDep, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    await inbox_service.get_conversation_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, conversation_id=conversation_id
    )
    context = await presence_context(viewer, session, clock.now(), conversation_id)
    return render(viewer.page, "inbox/_presence.html", context)


@router.post("/inbox/presence")
async def report(
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    conversation_id: Annotated[str, Form(max_length=64)] = "",
    typing: Annotated[str, Form(max_length=8)] = "",
    leave: Annotated[str, Form(max_length=8)] = "",
    page: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A page's heartbeat: on a conversation (its presence line comes back) or on a list
    (204); ``leave=1`` when the page goes away. ``page`` is the id the page made for itself
    (a page without one, an older script, is still counted)."""
    me = viewer.me
    page_id = page or None
    on = form_id(conversation_id)
    if conversation_id and on is None:
        return Response(status_code=422)
    if leave:
        await presence.leave(
            session=session, workspace_id=me.workspace_id, user_id=me.user_id,
            conversation_id=on, now=clock.now(), page_id=page_id,
        )  # fmt: skip
        return Response(status_code=204)
    await presence.report_presence(
        session=session,
        workspace_id=me.workspace_id,
        user_id=me.user_id,
        conversation_id=on,
        typing=typing == "1",
        now=clock.now(),
        page_id=page_id,
    )
    if on is None:
        return Response(status_code=204)
    context = await presence_context(viewer, session, clock.now(), on)
    return render(viewer.page, "inbox/_presence.html", context)
