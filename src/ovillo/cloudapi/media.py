"""Media: the answers of upload and get, and what Meta accepts as media.

``POST /{phone-number-id}/media`` (multipart) answers ``MediaUploaded``; ``GET /{media-id}``
answers ``MediaInfo``, whose ``url`` is downloaded with the same bearer token and expires in
about five minutes; ``DELETE /{media-id}`` answers ``SuccessResponse``.

``MEDIA_LIMITS`` is Meta's table of accepted MIME types and maximum sizes per media kind
(Meta's "Supported media types" page); the platform checks a file against it before
uploading and the emulator refuses what Meta would refuse (error 131053).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from pydantic import Field

from ovillo.cloudapi.wire import WireModel

MEGABYTE = 1024 * 1024
KILOBYTE = 1024


class MediaKind(StrEnum):
    AUDIO = "audio"
    DOCUMENT = "document"
    IMAGE = "image"
    VIDEO = "video"
    STICKER = "sticker"


@dataclass(frozen=True, slots=True)
class MediaLimit:
    mime_types: frozenset[str]
    max_bytes: int


# Stickers: 100 KB when static, 500 KB when animated (both 512x512 WebP). The table holds
# the larger; `STICKER_STATIC_MAX_BYTES` is for callers that know a sticker is static.
STICKER_STATIC_MAX_BYTES = 100 * KILOBYTE
STICKER_ANIMATED_MAX_BYTES = 500 * KILOBYTE

MEDIA_LIMITS: Mapping[MediaKind, MediaLimit] = MappingProxyType(
    {
        # audio/ogg is accepted with the Opus codec only.
        MediaKind.AUDIO: MediaLimit(
            mime_types=frozenset(
                {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}
            ),
            max_bytes=16 * MEGABYTE,
        ),
        MediaKind.DOCUMENT: MediaLimit(
            mime_types=frozenset(
                {
                    "text/plain",
                    "application/pdf",
                    "application/msword",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    "application/vnd.ms-excel",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "application/vnd.ms-powerpoint",
                    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                }
            ),
            max_bytes=100 * MEGABYTE,
        ),
        # 8-bit RGB or RGBA only.
        MediaKind.IMAGE: MediaLimit(
            mime_types=frozenset({"image/jpeg", "image/png"}),
            max_bytes=5 * MEGABYTE,
        ),
        # H.264 video with AAC audio, one audio stream.
        MediaKind.VIDEO: MediaLimit(
            mime_types=frozenset({"video/mp4", "video/3gpp"}),
            max_bytes=16 * MEGABYTE,
        ),
        MediaKind.STICKER: MediaLimit(
            mime_types=frozenset({"image/webp"}),
            max_bytes=STICKER_ANIMATED_MAX_BYTES,
        ),
    }
)


def _bare_mime(mime: str) -> str:
    """``"Audio/OGG; codecs=opus"`` -> ``"audio/ogg"``."""
    return mime.split(";", 1)[0].strip().lower()


def media_kind_for_mime(mime: str) -> str | None:
    """The media kind Meta files a MIME type under, or ``None`` if Meta accepts it nowhere.

    Parameters such as ``; codecs=opus`` and letter case are ignored. Every accepted type
    belongs to exactly one kind (``image/webp`` is a sticker, not an image).
    """
    bare = _bare_mime(mime)
    for kind, limit in MEDIA_LIMITS.items():
        if bare in limit.mime_types:
            return kind.value
    return None


class MediaUploaded(WireModel):
    id: str = Field(min_length=1)


class MediaInfo(WireModel):
    messaging_product: str = "whatsapp"
    url: str
    mime_type: str
    sha256: str
    file_size: int = Field(ge=0)
    id: str = Field(min_length=1)
