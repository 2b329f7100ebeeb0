"""Document storage: encrypted at rest (AES-256-GCM under the client's own data key,
domain/retention/keys.py, or for documents stored before that and for payment evidence a key
derived from the secret key with HKDF; a fresh nonce per document, the storage key as associated
data so blobs cannot be swapped), in a
pluggable backend: a local folder by default, or any S3-compatible store (AWS S3, MinIO, Ceph,
Wasabi, ...) when FOREXCRM_DOCUMENTS_S3_BUCKET is set. Backends only ever see ciphertext.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.shared.errors import ExternalServiceUnavailable, NotFound
from domain.shared.settings import Settings

_NONCE = 12
_INFO = b"forexcrm/client-documents/v1"


class BlobNotFound(NotFound):
    """No object is stored under the key (deleted out of band, or the wrong bucket/folder)."""

    code = "NOT_FOUND"


class BlobStoreUnavailable(ExternalServiceUnavailable):
    """The store refused or did not answer; nothing can be said about the object."""


class BlobStore(Protocol):
    """What a backend offers. The S3-compatible implementation maps these to PutObject/GetObject/
    DeleteObject on one bucket, the key being the object name. `get` raises BlobNotFound for a
    missing object."""

    async def put(self, key: str, blob: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


def check_key(key: str) -> str:
    """Storage keys are `<client id>/<hex>`: nothing that could escape a folder or a prefix."""
    if not key or not key.replace("-", "").replace("/", "").isalnum() or ".." in key or key.startswith("/"):
        raise ValueError("invalid storage key")
    return key


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, blob: bytes) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)  # never a half-written document under its final name

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobNotFound("the stored document is missing", field="documentId") from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)


class S3Settings(BaseSettings):
    """FOREXCRM_DOCUMENTS_S3_*: read per use, like the KYC settings. An empty bucket keeps the
    local folder; an empty endpoint means AWS itself; empty keys fall back to the default AWS
    credential chain (instance role, AWS_* variables)."""

    model_config = SettingsConfigDict(env_prefix="FOREXCRM_DOCUMENTS_S3_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    endpoint: str = ""
    bucket: str = ""
    access_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    region: str = "us-east-1"
    prefix: str = ""
    timeout_s: float = 20.0

    @property
    def configured(self) -> bool:
        return bool(self.bucket)


class S3Store:
    """An S3-compatible bucket through aiobotocore (async, no thread pool).

    One client per operation: botocore caches the service model, the cost is a TCP/TLS connection,
    small beside a document upload, and nothing outlives the event loop that made it.
    """

    def __init__(self, config: S3Settings) -> None:
        if not config.bucket:
            raise ValueError("an S3 store needs a bucket")
        self.config = config

    def _name(self, key: str) -> str:
        prefix = self.config.prefix.strip("/")
        return f"{prefix}/{check_key(key)}" if prefix else check_key(key)

    def _client(self) -> Any:
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        c = self.config
        return get_session().create_client(
            "s3", endpoint_url=c.endpoint or None, region_name=c.region or None,
            aws_access_key_id=c.access_key.get_secret_value() or None,
            aws_secret_access_key=c.secret_key.get_secret_value() or None,
            config=AioConfig(connect_timeout=c.timeout_s, read_timeout=c.timeout_s,
                             retries={"max_attempts": 3, "mode": "standard"},
                             # path style works on every S3-compatible server, virtual hosts need DNS
                             s3={"addressing_style": "path"} if c.endpoint else None))

    async def put(self, key: str, blob: bytes) -> None:
        name = self._name(key)
        async with _translated(), self._client() as s3:
            await s3.put_object(Bucket=self.config.bucket, Key=name, Body=blob,
                                ContentType="application/octet-stream")

    async def get(self, key: str) -> bytes:
        name = self._name(key)
        async with _translated(), self._client() as s3:
            response = await s3.get_object(Bucket=self.config.bucket, Key=name)
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        name = self._name(key)
        async with _translated(), self._client() as s3:
            await s3.delete_object(Bucket=self.config.bucket, Key=name)


class _translated:
    """botocore's errors as the domain's: a missing object is BlobNotFound, anything else the
    store did or failed to do is BlobStoreUnavailable (the caller's transaction rolls back)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, BlobNotFound | BlobStoreUnavailable):
            return False
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise BlobNotFound("the stored document is missing", field="documentId") from None
            raise BlobStoreUnavailable(f"document storage refused the request ({code or 'error'})") from exc
        if isinstance(exc, BotoCoreError | OSError):
            raise BlobStoreUnavailable("document storage is unavailable, try again") from exc
        return False


def document_key(settings: Settings) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return hkdf.derive(settings.secret_key.get_secret_value().encode())


def encrypt_with(key: bytes, storage_key: str, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, storage_key.encode())


def decrypt_with(key: bytes, storage_key: str, blob: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], storage_key.encode())


def encrypt(settings: Settings, storage_key: str, plaintext: bytes) -> bytes:
    """Under the process-wide document key (payment evidence; client documents before migration 0040)."""
    return encrypt_with(document_key(settings), storage_key, plaintext)


def decrypt(settings: Settings, storage_key: str, blob: bytes) -> bytes:
    return decrypt_with(document_key(settings), storage_key, blob)


def s3_settings() -> S3Settings:
    return S3Settings()


def default_store(settings: Settings) -> BlobStore:
    """The S3-compatible bucket when one is configured, else the folder under data_dir."""
    s3 = s3_settings()
    if s3.configured:
        return S3Store(s3)
    return LocalStore(settings.data_dir / "documents")
