"""The Resumable Upload API on the emulated Graph API: the samples of media template headers.

Meta's template review needs a sample of an IMAGE, VIDEO or DOCUMENT header, given as a
handle in ``components[].example.header_handle``. The handle comes from the Resumable Upload
API (https://developers.facebook.com/docs/graph-api/guides/upload), in two steps:

1. ``POST /{app-id}/uploads?file_name=&file_length=&file_type=`` opens a session and answers
   ``{"id": "upload:..."}``. ``file_type`` is one of ``application/pdf``, ``image/jpeg``,
   ``image/jpg``, ``image/png``, ``video/mp4``; a missing or bad parameter is code 100.
2. ``POST /{upload-id}`` with ``Authorization: OAuth <token>``, the header ``file_offset``
   (where these bytes start: 0 for a fresh session) and the bytes as the body. When the
   declared length is reached it answers ``{"h": "<handle>"}``; before that, the session's
   new offset. A ``file_offset`` that is not where the session stands is code 100 and
   nothing is stored; so are bytes past the declared length.

``GET /{upload-id}`` answers ``{"id", "file_offset"}`` so an interrupted upload resumes
where it stopped. Sessions live in memory only (``EmulatorState.uploads``).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any, Final

from ovillo.emulator.errors import GraphAPIError, invalid_parameter
from ovillo.emulator.graph import GraphRequest, graph_route
from ovillo.emulator.state import UploadSession

# The types Meta's page lists for an upload session.
UPLOAD_FILE_TYPES: Final = frozenset(
    {"application/pdf", "image/jpeg", "image/jpg", "image/png", "video/mp4"}
)
# Meta's largest template header sample (a 100 MB document); the body is read up to it.
MAX_UPLOAD_BYTES: Final = 100 * 1024 * 1024


def _parameter(details: str) -> GraphAPIError:
    return invalid_parameter(details)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@graph_route("app", "uploads", "POST")
async def create_upload_session(req: GraphRequest) -> dict[str, Any]:
    params = {**req.query, **(await req.json_object())}
    file_type = str(params.get("file_type") or "").strip().lower()
    length = str(params.get("file_length") or "").strip()
    file_name = str(params.get("file_name") or "").strip()
    if not length:
        raise _parameter("The parameter file_length is required")
    if not length.isdigit() or int(length) <= 0:
        raise _parameter("Param file_length must be a positive integer")
    if int(length) > MAX_UPLOAD_BYTES:
        raise _parameter(f"Param file_length must be at most {MAX_UPLOAD_BYTES} bytes")
    if not file_type:
        raise _parameter("The parameter file_type is required")
    if file_type not in UPLOAD_FILE_TYPES:
        raise _parameter(
            f"Param file_type must be one of {{{', '.join(sorted(UPLOAD_FILE_TYPES))}}} - "
            f'got "{file_type[:100]}".'
        )
    upload_id = "upload:" + _b64(f"{req.node_id}:attachment:{secrets.token_hex(16)}")
    req.emulator.state.uploads[upload_id] = UploadSession(
        id=upload_id,
        app_id=req.node_id,
        business_id=req.business_id,
        file_name=file_name[:255] or "file",
        file_length=int(length),
        file_type=file_type,
    )
    return {"id": upload_id}


def _session(req: GraphRequest) -> UploadSession:
    return req.emulator.state.uploads[req.node_id]


@graph_route("upload", None, "GET")
async def get_upload_session(req: GraphRequest) -> dict[str, Any]:
    session = _session(req)
    return {"id": session.id, "file_offset": len(session.data)}


@graph_route("upload", None, "POST")
async def upload_file_data(req: GraphRequest) -> dict[str, Any]:
    session = _session(req)
    raw_offset = req.request.headers.get("file_offset")
    if raw_offset is None:
        # Meta reads it from the header only, never from the query string.
        raise _parameter("The file_offset header is required")
    if not raw_offset.strip().isdigit():
        raise _parameter("The file_offset header must be a non-negative integer")
    offset = int(raw_offset)
    if session.handle is not None:
        return {"h": session.handle}  # finished: the same handle again
    if offset != len(session.data):
        raise _parameter(
            f"file_offset {offset} does not match the session's offset {len(session.data)}; "
            "GET the upload session to resume from its file_offset"
        )
    data = await req.body_bytes(limit=MAX_UPLOAD_BYTES)
    if not data:
        raise _parameter("The request has no file data")
    if offset + len(data) > session.file_length:
        raise _parameter(
            f"The data goes past the file_length of {session.file_length} bytes declared "
            "for this upload session"
        )
    session.data.extend(data)
    if len(session.data) < session.file_length:
        return {"id": session.id, "file_offset": len(session.data)}
    session.handle = "4::" + _b64(
        f"{session.file_type}:{session.app_id}:{secrets.token_urlsafe(24)}"
    )
    return {"h": session.handle}
