"""Secrets at rest (access tokens, app secrets) and password hashing.

Tokens are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key from settings.
Several keys may be given, newest first: data is written with the first and read with any,
so a key can be rotated without downtime (``MultiFernet``).
"""

from __future__ import annotations

import base64
import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_password_hasher = PasswordHasher()


class DecryptionError(ValueError):
    """A stored secret could not be decrypted with any configured key."""


def fernet_key_from_passphrase(passphrase: str) -> bytes:
    """A Fernet key derived from a passphrase (for development keys and the demo)."""
    digest = hashlib.sha256(b"ovillo-secrets-at-rest:" + passphrase.encode()).digest()
    return base64.urlsafe_b64encode(digest)


class SecretBox:
    """Encrypts and decrypts short secrets for storage."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError(
                "a stored secret cannot be decrypted: was OVILLO_SECURITY__ENCRYPTION_KEYS "
                "changed without keeping the old key?"
            ) from None


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_api_key(key: str) -> str:
    """API keys are long random strings: a fast hash is enough and lets us look them up."""
    return hashlib.sha256(key.encode()).hexdigest()
