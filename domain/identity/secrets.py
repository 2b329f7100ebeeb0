"""Opaque secrets: generation, hashing for storage, and symmetric encryption of TOTP seeds."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.shared.settings import Settings


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> bytes:
    """Stored form of a high-entropy token (refresh, API, one-time link): SHA-256 is enough."""
    return hashlib.sha256(token.encode()).digest()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _aead(settings: Settings, purpose: bytes) -> AESGCM:
    key = HKDF(algorithm=SHA256(), length=32, salt=b"forexcrm-aead", info=purpose).derive(
        settings.secret_key.get_secret_value().encode()
    )
    return AESGCM(key)


def encrypt(settings: Settings, plaintext: str, purpose: bytes) -> str:
    nonce = os.urandom(12)
    sealed = _aead(settings, purpose).encrypt(nonce, plaintext.encode(), purpose)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(settings: Settings, sealed: str, purpose: bytes) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    return _aead(settings, purpose).decrypt(raw[:12], raw[12:], purpose).decode()
