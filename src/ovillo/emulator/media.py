"""Media on the emulated Graph API: upload, URL, download, delete, and customers' media.

    POST   /{phone-number-id}/media     multipart: messaging_product, file, type -> {"id"}
    GET    /{media-id}                  {"messaging_product","url","mime_type","sha256",
                                         "file_size","id"}; optional ?phone_number_id=
    DELETE /{media-id}                  {"success": true}
    GET    /whatsapp_business/attachments/?mid=&ext=&hash=
                                        the bytes, with the same bearer token (Meta's
                                        lookaside URL, served by the emulator itself)

As on Meta: the type checked is the file part's own Content-Type (Meta answers "Received
file of type 'application/octet-stream'" when only ``type`` names it), sizes per kind come
from ``cloudapi.media.MEDIA_LIMITS``, uploaded media ids live 30 days and ids of media in
webhooks 7 days (Meta, "Media", 2026), and a download URL is valid five minutes; a
download that fails for any reason (expired, forged, deleted, another business's token)
answers 404, which is what Meta documents for a failed media download.

Bytes are kept in memory. The total is capped (``media_memory_limit_bytes`` on the
emulator's config when it has one, else ``DEFAULT_MEDIA_MEMORY_LIMIT_BYTES``); past it the
oldest media are forgotten, so a long demo cannot grow without bound.

``store_media`` is how simulated customers' media (inbound image, voice note...) enter;
``get_media`` is how the send handler resolves a media id, honouring expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import UploadFile
from starlette.requests import Request as StarletteRequest
from starlette.types import Message

from ovillo.cloudapi.media import (
    MEDIA_LIMITS,
    MEGABYTE,
    STICKER_STATIC_MAX_BYTES,
    MediaKind,
    media_kind_for_mime,
)
from ovillo.emulator.errors import GraphAPIError, invalid_parameter, unknown_node
from ovillo.emulator.graph import GraphRequest, graph_route
from ovillo.emulator.state import Media

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator

UPLOADED_MEDIA_TTL = timedelta(days=30)
WEBHOOK_MEDIA_TTL = timedelta(days=7)
DOWNLOAD_URL_TTL = timedelta(minutes=5)
DEFAULT_MEDIA_MEMORY_LIMIT_BYTES = 512 * MEGABYTE
MEDIA_MEMORY_LIMIT_SETTING = "media_memory_limit_bytes"
# The largest kind (documents, 100 MB) plus room for the multipart envelope.
MAX_UPLOAD_BODY_BYTES = max(limit.max_bytes for limit in MEDIA_LIMITS.values()) + MEGABYTE
DOWNLOAD_PATH = "/whatsapp_business/attachments/"

# The order in which Meta lists accepted types in its refusal (audio/opus is listed by Meta
# but not in the facts file's table, so the emulator does not accept it).
_META_TYPE_ORDER = (
    "audio/aac",
    "audio/mp4",
    "audio/mpeg",
    "audio/amr",
    "audio/ogg",
    "application/vnd.ms-powerpoint",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/pdf",
    "text/plain",
    "application/vnd.ms-excel",
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/3gpp",
)


def _accepted_types() -> list[str]:
    accepted = {mime for limit in MEDIA_LIMITS.values() for mime in limit.mime_types}
    ordered = [mime for mime in _META_TYPE_ORDER if mime in accepted]
    return ordered + sorted(accepted - set(ordered))


# --- Store --------------------------------------------------------------------------------


def media_memory_limit(emulator: Emulator) -> int:
    """How many bytes of media the emulator keeps before forgetting the oldest."""
    value = getattr(emulator.config, MEDIA_MEMORY_LIMIT_SETTING, None)
    return value if isinstance(value, int) and value > 0 else DEFAULT_MEDIA_MEMORY_LIMIT_BYTES


def media_bytes_held(emulator: Emulator) -> int:
    return sum(media.file_size for media in emulator.state.media.values())


def _forget_expired(emulator: Emulator, now: datetime) -> None:
    media = emulator.state.media
    for media_id in [m.id for m in media.values() if m.expires_at and m.expires_at <= now]:
        del media[media_id]


def _make_room(emulator: Emulator, incoming: int) -> None:
    media = emulator.state.media
    limit = media_memory_limit(emulator)
    held = media_bytes_held(emulator)
    # Dicts keep insertion order, so the first entry is the oldest.
    while media and held + incoming > limit:
        oldest = next(iter(media))
        held -= media.pop(oldest).file_size
    # Never keep more than the limit, even for a single file.


def _new_media(
    emulator: Emulator,
    *,
    phone_number_id: str,
    data: bytes,
    mime_type: str,
    filename: str | None,
    ttl: timedelta,
) -> Media:
    now = emulator.clock.now()
    _forget_expired(emulator, now)
    _make_room(emulator, len(data))
    media = Media(
        id=emulator.state.ids.next(),
        phone_number_id=phone_number_id,
        mime_type=mime_type,
        sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        data=data,
        filename=filename,
        created_at=now,
        expires_at=now + ttl,
        url_secret=secrets.token_bytes(32),
    )
    emulator.state.media[media.id] = media
    return media


def store_media(
    emulator: Emulator,
    phone_number_id: str,
    data: bytes,
    mime_type: str,
    filename: str | None = None,
) -> Media:
    """Keep media a simulated customer sent to ``phone_number_id``; its id lives 7 days.

    The caller puts ``media.id``, ``media.mime_type`` and ``webhook_sha256(media)`` in the
    inbound message webhook; the business then fetches it with ``GET /{media-id}``.
    """
    return _new_media(
        emulator,
        phone_number_id=phone_number_id,
        data=data,
        mime_type=mime_type,
        filename=filename,
        ttl=WEBHOOK_MEDIA_TTL,
    )


def get_media(emulator: Emulator, media_id: str) -> Media | None:
    """The media behind ``media_id`` if it still exists (not deleted, not expired)."""
    media = emulator.state.media.get(media_id)
    if media is None:
        return None
    if media.expires_at is not None and media.expires_at <= emulator.clock.now():
        del emulator.state.media[media_id]
        return None
    return media


def webhook_sha256(media: Media) -> str:
    """The hash as inbound message webhooks carry it: base64 of the SHA-256 digest."""
    return base64.b64encode(bytes.fromhex(media.sha256)).decode()


# --- Upload -------------------------------------------------------------------------------


def _required(name: str) -> GraphAPIError:
    return GraphAPIError(100, None, message=f"(#100) The parameter {name} is required")


def _is_animated_webp(data: bytes) -> bool:
    # An extended WebP (VP8X chunk) flags animation with bit 1 of its first flags byte.
    return (
        data[:4] == b"RIFF" and data[12:16] == b"VP8X" and len(data) > 20 and bool(data[20] & 0x02)
    )


def _bare_mime(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def _size_text(size: int) -> str:
    return f"{size // MEGABYTE} MB" if size >= MEGABYTE else f"{size // 1024} KB"


def _too_large(kind: str, limit: int, size: int) -> GraphAPIError:
    return invalid_parameter(
        f"File Too Large: {kind} files may be at most {_size_text(limit)} ({limit} bytes); "
        f"this one has {size} bytes."
    )


@dataclass(frozen=True, slots=True)
class _FilePart:
    filename: str | None
    content_type: str | None
    data: bytes


async def _form(req: GraphRequest) -> tuple[dict[str, str], _FilePart | None]:
    """The multipart fields and the ``file`` part of an upload, read within Meta's limit."""
    declared = req.request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BODY_BYTES:
        raise _too_large("media", MAX_UPLOAD_BODY_BYTES - MEGABYTE, int(declared))
    try:
        raw = await req.body_bytes(MAX_UPLOAD_BODY_BYTES)
    except GraphAPIError:
        raise _too_large("media", MAX_UPLOAD_BODY_BYTES - MEGABYTE, MAX_UPLOAD_BODY_BYTES) from None
    content_type = req.request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        params = await req.json_object()
        return {k: str(v) for k, v in params.items()}, None
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        form = await StarletteRequest(req.request.scope, replay).form(max_files=4, max_fields=32)
    # python-multipart raises its own parse errors, not all of them MultiPartException.
    except Exception as exc:
        raise invalid_parameter(f"The multipart body could not be read: {exc}") from None
    fields: dict[str, str] = {}
    upload: _FilePart | None = None
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name == "file" and upload is None:
                    upload = _FilePart(value.filename, value.content_type, await value.read())
            else:
                fields.setdefault(name, value)
    finally:
        await form.close()
    return fields, upload


@graph_route("phone_number", "media", "POST")
async def upload_media(req: GraphRequest) -> dict[str, Any]:
    fields, upload = await _form(req)
    product = fields.get("messaging_product")
    if not product:
        raise _required("messaging_product")
    if product.lower() != "whatsapp":
        raise GraphAPIError(
            100,
            None,
            message="(#100) Param messaging_product must be one of {WHATSAPP} - "
            f'got "{product}".',
        )
    if upload is None:
        raise _required("file")
    if not fields.get("type"):
        raise _required("type")
    received = _bare_mime(upload.content_type or "application/octet-stream")
    kind = media_kind_for_mime(received)
    if kind is None:
        raise GraphAPIError(
            100,
            None,
            message="(#100) Param file must be a file with one of the following types: "
            f"{', '.join(_accepted_types())}. Received file of type '{received}'.",
        )
    data = upload.data
    if not data:
        raise GraphAPIError(131053, "The uploaded file is empty.")
    limit = MEDIA_LIMITS[MediaKind(kind)].max_bytes
    if kind == MediaKind.STICKER and not _is_animated_webp(data):
        limit = STICKER_STATIC_MAX_BYTES
    if len(data) > limit:
        raise _too_large(kind, limit, len(data))
    media = _new_media(
        req.emulator,
        phone_number_id=req.node_id,
        data=data,
        mime_type=received,
        filename=upload.filename,
        ttl=UPLOADED_MEDIA_TTL,
    )
    return {"id": media.id}


# --- URL, delete --------------------------------------------------------------------------


def _signature(media: Media, expires: int) -> str:
    digest = hmac.new(media.url_secret, f"{media.id}:{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def download_url(emulator: Emulator, media: Media, base_url: str) -> str:
    """A lookaside-shaped URL for ``media``, valid five minutes on the emulator clock."""
    expires = int((emulator.clock.now() + DOWNLOAD_URL_TTL).timestamp())
    return (
        f"{base_url.rstrip('/')}{DOWNLOAD_PATH}?mid={media.id}&ext={expires}"
        f"&hash={_signature(media, expires)}"
    )


def _live_media(req: GraphRequest) -> Media:
    media = get_media(req.emulator, req.node_id)
    if media is None:
        raise unknown_node(req.node_id, req.method)
    owner = req.query.get("phone_number_id")
    if owner and owner != media.phone_number_id:
        # Meta processes the call only if the media was uploaded on that number.
        raise invalid_parameter(f"Media {media.id} does not belong to phone number {owner}.")
    return media


@graph_route("media", None, "GET")
async def get_media_url(req: GraphRequest) -> dict[str, Any]:
    media = _live_media(req)
    base = req.emulator.base_url or str(req.request.base_url)
    return {
        "messaging_product": "whatsapp",
        "url": download_url(req.emulator, media, base),
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": media.file_size,
        "id": media.id,
    }


@graph_route("media", None, "DELETE")
async def delete_media(req: GraphRequest) -> dict[str, Any]:
    media = _live_media(req)
    del req.emulator.state.media[media.id]
    return {"success": True}


# --- Download (Meta's lookaside host, served here) ----------------------------------------

router = APIRouter(include_in_schema=False)


def _not_found() -> PlainTextResponse:
    return PlainTextResponse("Not Found", status_code=404)


@router.get(DOWNLOAD_PATH)
async def download(request: Request, mid: str = "", ext: str = "", hash: str = "") -> Response:
    emulator: Emulator = request.app.state.emulator
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    business_id = emulator.state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    media = get_media(emulator, mid)
    if business_id is None or media is None or not ext.isdigit():
        return _not_found()
    if emulator.state.business_of(media.id) != business_id:
        return _not_found()
    if not hmac.compare_digest(_signature(media, int(ext)), hash):
        return _not_found()
    if int(ext) < emulator.clock.now().timestamp():
        return _not_found()
    headers = {"Cache-Control": "private, no-store"}
    if media.filename:
        safe = media.filename.replace('"', "").replace("\r", "").replace("\n", "")
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return Response(content=media.data, media_type=media.mime_type, headers=headers)
