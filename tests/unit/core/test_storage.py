"""The media storage: unguessable keys, safe paths, whole files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ovillo.core.settings import Settings
from ovillo.core.storage import (
    LocalStorage,
    StorageKeyError,
    StoredFileMissingError,
    check_key,
    extension_for,
    new_storage_key,
    storage_for,
)


async def test_put_then_get_returns_the_same_bytes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = new_storage_key(prefix="ws1", extension=".jpg")
    await storage.put(key, b"\xff\xd8 image")
    assert await storage.get(key) == b"\xff\xd8 image"
    assert await storage.exists(key)
    assert storage.path(key) == tmp_path / key
    assert storage.url(key) is None
    await storage.put(key, b"replaced")
    assert (tmp_path / key).read_bytes() == b"replaced"
    # Nothing half-written is left beside the file.
    assert [p.name for p in (tmp_path / "ws1").iterdir()] == [Path(key).name]


async def test_missing_and_deleted_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = new_storage_key(prefix="ws1")
    with pytest.raises(StoredFileMissingError):
        await storage.get(key)
    await storage.delete(key)  # nothing to delete is fine
    await storage.put(key, b"x")
    await storage.delete(key)
    assert not await storage.exists(key)


def test_keys_are_unguessable_and_prefixed() -> None:
    keys = {new_storage_key(prefix="ws1", extension=".png") for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        prefix, name = key.split("/")
        assert prefix == "ws1"
        assert name.endswith(".png")
        assert len(name) >= 22 + 4  # 128 random bits in base64url, then the extension


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "/abs/path", "a/../b", ".hidden/x", "a\\b", "", "a//b", "a/b/", "ä/b"],
)
def test_keys_that_could_leave_the_directory_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageKeyError):
        check_key(key)
    with pytest.raises(StorageKeyError):
        LocalStorage(tmp_path).path(key)


@pytest.mark.parametrize(
    ("mime_type", "filename", "expected"),
    [
        ("image/jpeg", None, ".jpg"),
        ("image/png", None, ".png"),
        ("image/webp", None, ".webp"),
        ("audio/ogg; codecs=opus", None, ".ogg"),
        ("application/pdf", None, ".pdf"),
        ("application/pdf", "Factura Marzo.PDF", ".pdf"),
        ("application/octet-stream", "notes.weird extension", ".bin"),
        ("application/x-unknown-thing", None, ""),
        (None, None, ""),
    ],
)
def test_extension_for(mime_type: str | None, filename: str | None, expected: str) -> None:
    assert extension_for(mime_type, filename) == expected


def test_storage_for_uses_the_media_directory(sqlite_settings: Settings) -> None:
    storage = storage_for(sqlite_settings)
    assert isinstance(storage, LocalStorage)
    assert storage.root == sqlite_settings.media_dir
