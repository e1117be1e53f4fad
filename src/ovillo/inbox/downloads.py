"""How a stored media file is answered, to the REST API and to the pages alike.

Images, audio and video are shown inline; anything else downloads. Every answer forbids
content sniffing and sandboxes the file (``Content-Security-Policy: sandbox``), so a file a
customer sent can never run as a page of ours.
"""

from __future__ import annotations

from typing import Final

from fastapi.responses import FileResponse, Response

from ovillo.inbox.service import MediaContent

SAFE_INLINE_PREFIXES: Final = ("image/", "audio/", "video/")


def media_response(content: MediaContent) -> Response:
    """The file's bytes with its type, inline or as an attachment."""
    media = content.media
    inline = media.mime_type.startswith(SAFE_INLINE_PREFIXES)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, max-age=3600",
    }
    disposition = "inline" if inline else "attachment"
    if content.path is not None:
        return FileResponse(
            content.path,
            media_type=media.mime_type,
            filename=media.filename or f"{media.id}",
            content_disposition_type=disposition,
            headers=headers,
        )
    headers["Content-Disposition"] = disposition
    return Response(content.data or b"", media_type=media.mime_type, headers=headers)
