"""Encryption of trading-server manager passwords at rest.

AES-256-GCM with a key derived by HKDF-SHA256 from settings.secret_key, so the database alone never
reveals a password. The stored form is `v1:` + urlsafe base64(nonce || ciphertext+tag).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"forexcrm/trading-server-password/v1"
_AAD = b"trading_servers.password_enc"
_PREFIX = "v1:"


class PasswordDecryptionFailed(RuntimeError):
    """The stored password cannot be decrypted (wrong secret key or tampered value)."""


def _key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())


def encrypt_password(secret_key: str, password: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(secret_key)).encrypt(nonce, password.encode(), _AAD)
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_password(secret_key: str, stored: str) -> str:
    if not stored.startswith(_PREFIX):
        raise PasswordDecryptionFailed("unknown password encoding")
    blob = base64.urlsafe_b64decode(stored[len(_PREFIX) :].encode())
    try:
        return AESGCM(_key(secret_key)).decrypt(blob[:12], blob[12:], _AAD).decode()
    except InvalidTag as exc:
        raise PasswordDecryptionFailed("the password does not decrypt with this secret key") from exc
