"""Settings from the environment, with placeholder secrets refused in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ovillo.core.settings import Environment, Settings


def test_defaults_are_the_embedded_sqlite_demo() -> None:
    settings = Settings()
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.db.url.startswith("sqlite+aiosqlite:///var/")
    assert settings.is_sqlite
    assert settings.server.port == 8000
    assert settings.emulator.enabled


def test_nested_values_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVILLO_DB__URL", "postgresql+asyncpg://u@localhost/db")
    monkeypatch.setenv("OVILLO_SERVER__PORT", "9000")
    settings = Settings()
    assert settings.db.url == "postgresql+asyncpg://u@localhost/db"
    assert not settings.is_sqlite
    assert settings.server.port == 9000


def test_dotenv_file_is_read(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # The autouse fixture put us in a temporary directory.
    with open(".env", "w", encoding="utf-8") as env_file:
        env_file.write("OVILLO_GRAPH_API_VERSION=v24.0\n")
    assert Settings().graph_api_version == "v24.0"


@pytest.mark.parametrize("secret", ["development-only", "changeme", ""])
def test_production_refuses_placeholder_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("OVILLO_ENVIRONMENT", "production")
    monkeypatch.setenv("OVILLO_EMULATOR__ENABLED", "false")
    monkeypatch.setenv("OVILLO_SECURITY__SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings()


def test_production_refuses_to_start_without_an_encryption_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OVILLO_ENVIRONMENT", "production")
    monkeypatch.setenv("OVILLO_EMULATOR__ENABLED", "false")
    monkeypatch.setenv("OVILLO_SECURITY__SECRET_KEY", "x" * 48)
    with pytest.raises(ValidationError, match="ENCRYPTION_KEYS"):
        Settings()


def test_encryption_keys_rotate_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    from ovillo.core.crypto import DecryptionError, SecretBox

    old, new = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv("OVILLO_SECURITY__ENCRYPTION_KEYS", old.decode())
    stored = SecretBox(Settings().encryption_keys()).encrypt("EAAG-token")
    monkeypatch.setenv("OVILLO_SECURITY__ENCRYPTION_KEYS", f"{new.decode()},{old.decode()}")
    rotated = SecretBox(Settings().encryption_keys())
    assert rotated.decrypt(stored) == "EAAG-token"
    monkeypatch.setenv("OVILLO_SECURITY__ENCRYPTION_KEYS", new.decode())
    with pytest.raises(DecryptionError, match="ENCRYPTION_KEYS"):
        SecretBox(Settings().encryption_keys()).decrypt(stored)


def test_development_derives_a_stable_key() -> None:
    assert Settings().encryption_keys() == Settings().encryption_keys()


def test_production_refuses_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv("OVILLO_ENVIRONMENT", "production")
    monkeypatch.setenv("OVILLO_SECURITY__SECRET_KEY", "x" * 48)
    monkeypatch.setenv("OVILLO_SECURITY__ENCRYPTION_KEYS", Fernet.generate_key().decode())
    with pytest.raises(ValidationError, match="emulator"):
        Settings()
    monkeypatch.setenv("OVILLO_EMULATOR__ENABLED", "false")
    assert Settings().environment is Environment.PRODUCTION
