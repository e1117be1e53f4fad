"""A file sent from the composer: checked, uploaded to WhatsApp, then queued as a message.

The same path as the REST API's ``POST /media`` then ``POST /messages``: Meta's accepted
types and sizes are checked before anything leaves (``service.check_media``), the upload
goes to the number's ``/{phone_number_id}/media`` and our copy is stored, and the message
references Meta's media id, so the thread links our copy and shows it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.core.runtime import Runtime
from ovillo.inbox import service
from ovillo.inbox.errors import InvalidMessageContentError
from ovillo.inbox.schemas import MessageSend

# Meta: a media caption is at most 1,024 characters; audio and stickers take none.
MAX_CAPTION: Final = 1024
CAPTIONED: Final = frozenset({"image", "video", "document"})


def check_caption(*, kind: str, caption: str) -> None:
    """422 when ``caption`` cannot go with a file of ``kind``."""
    if not caption:
        return
    if kind not in CAPTIONED:
        raise InvalidMessageContentError(
            f"WhatsApp shows no caption on {kind}; send the text as its own message",
            field=f"{kind}.caption",
            errors=[{"field": f"{kind}.caption", "message": "not allowed"}],
        )
    if len(caption) > MAX_CAPTION:
        raise InvalidMessageContentError(
            f"a caption is at most {MAX_CAPTION} characters; this one is {len(caption)}",
            field=f"{kind}.caption",
            errors=[{"field": f"{kind}.caption", "message": "too long"}],
        )


async def check_send_attachment(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    data: bytes,
    mime_type: str | None,
    filename: str | None,
    caption: str,
    reply_to: uuid.UUID | None,
    author: service.Actor,
    now: datetime,
) -> service.SendAnswer:
    """Check the file (type, size) and its caption (422, nothing uploaded or queued), then
    upload it for the conversation's number and queue it in the conversation's thread."""
    conversation = await service.get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )
    _, kind = service.check_media(mime_type=mime_type, filename=filename, size=len(data))
    check_caption(kind=kind, caption=caption)
    media = await service.upload_media(
        session=session,
        runtime=runtime,
        workspace_id=workspace_id,
        channel_id=conversation.channel_id,
        data=data,
        mime_type=mime_type,
        filename=filename,
        now=now,
    )
    content: dict[str, Any] = {"id": media.meta_media_id}
    if caption:
        content["caption"] = caption
    if kind == "document" and media.filename:
        content["filename"] = media.filename
    send = MessageSend.model_validate(
        {
            "conversation_id": conversation_id,
            "type": kind,
            kind: content,
            "reply_to": reply_to,
        }
    )
    return await service.send_message(
        session=session, workspace_id=workspace_id, send=send, author=author, now=now
    )
