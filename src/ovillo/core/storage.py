"""Where media files live: a small interface, and a local directory behind it by default.

Keys are opaque strings made by ``new_storage_key`` (a workspace prefix, then random
characters), so knowing one file's key tells nothing about another's: the storage never
serves a file to whoever can guess its name. A key is also a relative path on disk, so
``LocalStorage`` refuses any key that is not a plain ``segment/segment`` of safe characters
(no ``..``, no absolute path, no backslash).

An object store (S3 and the like) is another implementation of ``Storage``; nothing outside
this module knows which one is in use.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import secrets
from pathlib import Path
from typing import Final, Protocol

from ovillo.core.settings import Settings

# Letters, digits, dot, dash and underscore per segment; a dot may not start a segment.
_SEGMENT: Final = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"
_KEY_PATTERN: Final = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,7}}")
MAX_KEY_LENGTH: Final = 300  # media_file.storage_key is String(300)


class StorageKeyError(ValueError):
    """A key that is not one ``new_storage_key`` could have made."""


class StoredFileMissingError(LookupError):
    """No file is stored under the key."""


class Storage(Protocol):
    """Bytes by key."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there (atomically)."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises ``StoredFileMissingError`` when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key``; nothing happens when it is not stored."""
        ...

    async def exists(self, key: str) -> bool: ...

    def path(self, key: str) -> Path | None:
        """The file on this machine's disk, for stores that have one (else ``None``)."""
        ...

    def url(self, key: str) -> str | None:
        """A URL a browser can fetch the file from directly (``None``: serve it ourselves)."""
        ...


def check_key(key: str) -> str:
    """``key`` if it is a well-formed storage key, else ``StorageKeyError``."""
    if len(key) > MAX_KEY_LENGTH or _KEY_PATTERN.fullmatch(key) is None:
        raise StorageKeyError(f"not a storage key: {key[:80]!r}")
    return key


def extension_for(mime_type: str | None, filename: str | None = None) -> str:
    """A file extension (``".jpg"``) for a MIME type or file name; ``""`` when unknown."""
    if filename:
        suffix = Path(filename).suffix.lower()
        if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix):
            return suffix
    if mime_type:
        bare = mime_type.split(";", 1)[0].strip().lower()
        # mimetypes maps audio/ogg to ".oga" and image/jpeg to ".jpg" on some platforms
        # and ".jpe" on others; pin the ones WhatsApp sends.
        pinned = {"image/jpeg": ".jpg", "audio/ogg": ".ogg", "image/webp": ".webp"}
        guessed = pinned.get(bare) or mimetypes.guess_extension(bare)
        if guessed:
            return guessed
    return ""


def new_storage_key(*, prefix: str, extension: str = "") -> str:
    """A fresh, unguessable key under ``prefix`` (e.g. a workspace id): ``prefix/<random>.ext``.

    128 random bits: the key is the only thing standing between a stored file and anyone
    who would like to read it through a URL built from it.
    """
    key = f"{prefix}/{secrets.token_urlsafe(16)}{extension}"
    return check_key(key)


class LocalStorage:
    """Files under one directory (``settings.media_dir`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def url(self, key: str) -> str | None:
        check_key(key)
        return None

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self.path(key), data)

    async def get(self, key: str) -> bytes:
        target = self.path(key)
        try:
            return await asyncio.to_thread(target.read_bytes)
        except FileNotFoundError:
            raise StoredFileMissingError(key) from None

    async def delete(self, key: str) -> None:
        target = self.path(key)
        await asyncio.to_thread(target.unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    @staticmethod
    def _put(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: a reader never sees half a file, and a crash
        # mid-write leaves the old file (or none), never a truncated one.
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
        try:
            with partial.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


def storage_for(settings: Settings) -> Storage:
    """The media storage the settings name: the local media directory."""
    return LocalStorage(settings.media_dir)
