"""Document storage: encrypted at rest (AES-256-GCM, a key derived from the secret key with HKDF,
a fresh nonce per document, the storage key as associated data so blobs cannot be swapped), in a
pluggable backend: a local folder by default, or any S3-compatible store implementing BlobStore.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.shared.settings import Settings

_NONCE = 12
_INFO = b"forexcrm/client-documents/v1"


class BlobStore(Protocol):
    """What a backend offers. An S3-compatible implementation maps these to PutObject/GetObject/
    DeleteObject on one bucket, the key being the object name."""

    async def put(self, key: str, blob: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not key.replace("-", "").replace("/", "").isalnum() or ".." in key:
            raise ValueError("invalid storage key")
        return self.root / key

    async def put(self, key: str, blob: bytes) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)  # never a half-written document under its final name

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)


def document_key(settings: Settings) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return hkdf.derive(settings.secret_key.get_secret_value().encode())


def encrypt(settings: Settings, storage_key: str, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(document_key(settings)).encrypt(nonce, plaintext, storage_key.encode())


def decrypt(settings: Settings, storage_key: str, blob: bytes) -> bytes:
    return AESGCM(document_key(settings)).decrypt(blob[:_NONCE], blob[_NONCE:], storage_key.encode())


def default_store(settings: Settings) -> BlobStore:
    return LocalStore(settings.data_dir / "documents")
