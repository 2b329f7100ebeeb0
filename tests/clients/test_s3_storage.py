"""Documents in an S3-compatible bucket: a real S3 server (moto's, over HTTP on loopback) behind
the same upload path as the local folder; the bucket only ever holds ciphertext."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped]
from cryptography.exceptions import InvalidTag
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from domain.clients import documents
from domain.clients.models import Document
from domain.clients.storage import (
    BlobNotFound,
    BlobStoreUnavailable,
    LocalStore,
    S3Settings,
    S3Store,
    default_store,
    encrypt,
)
from domain.shared.settings import Settings
from tests.clients.flow import PDF, PNG, to_documents
from tests.conftest import free_port, unique
from tests.ids import db_id

ACCESS, SECRET = "forexcrm-test", secrets.token_hex(16)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _raw(endpoint: str) -> Any:
    return get_session().create_client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                       aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)


@pytest.fixture
async def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    name = unique("docs").lower()
    async with _raw(s3_endpoint) as s3:
        await s3.create_bucket(Bucket=name)
    for var, value in (("ENDPOINT", s3_endpoint), ("BUCKET", name), ("ACCESS_KEY", ACCESS),
                       ("SECRET_KEY", SECRET), ("REGION", "us-east-1")):
        monkeypatch.setenv(f"FOREXCRM_DOCUMENTS_S3_{var}", value)
    yield name


async def _object(endpoint: str, bucket: str, key: str) -> bytes:
    async with _raw(endpoint) as s3:
        response = await s3.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            data: bytes = await body.read()
    return data


def test_settings_choose_the_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FOREXCRM_DOCUMENTS_S3_BUCKET", raising=False)
    settings = Settings(data_dir=tmp_path)
    local = default_store(settings)
    assert isinstance(local, LocalStore) and local.root == tmp_path / "documents"
    monkeypatch.setenv("FOREXCRM_DOCUMENTS_S3_BUCKET", "kyc-docs")
    monkeypatch.setenv("FOREXCRM_DOCUMENTS_S3_ENDPOINT", "http://127.0.0.1:9")
    store = default_store(settings)
    assert isinstance(store, S3Store)
    assert store.config.bucket == "kyc-docs" and store.config.endpoint == "http://127.0.0.1:9"


async def test_uploads_land_encrypted_in_the_bucket_and_read_back_verified(
        http: httpx.AsyncClient, session_factory: Any, settings: Settings, upload_url: str, brokerage: int,
        s3_endpoint: str, bucket: str) -> None:
    _, _, client_id = await to_documents(http, session_factory, upload_url)
    async with session_factory() as s:
        docs = list(await s.scalars(select(Document).where(Document.client_id == db_id(client_id))
                                    .order_by(Document.id)))
    assert [d.kind for d in docs] == ["proof_of_identity", "proof_of_address"]
    store = default_store(settings)
    assert isinstance(store, S3Store)
    for doc, plain in zip(docs, (PNG, PDF), strict=True):
        stored = await _object(s3_endpoint, bucket, doc.storage_key)
        # The bucket holds ciphertext: nonce + AES-GCM output, nothing of the file readable.
        assert len(stored) == len(plain) + 12 + 16
        assert plain[:8] not in stored and hashlib.sha256(stored).hexdigest() != doc.sha256
        async with session_factory() as s:
            assert await documents.read(s, settings, store, doc) == plain
        assert hashlib.sha256(plain).hexdigest() == doc.sha256
    # Blobs cannot be swapped: the key is authenticated with the ciphertext.
    first, second = docs
    async with _raw(s3_endpoint) as s3:
        await s3.put_object(Bucket=bucket, Key=first.storage_key,
                            Body=await _object(s3_endpoint, bucket, second.storage_key))
    with pytest.raises(InvalidTag):
        async with session_factory() as s:
            await documents.read(s, settings, store, first)
    # A missing object is a typed error.
    await store.delete(second.storage_key)
    with pytest.raises(BlobNotFound) as missing:
        async with session_factory() as s:
            await documents.read(s, settings, store, second)
    assert missing.value.code == "NOT_FOUND"


async def test_store_round_trip_prefix_and_failures(s3_endpoint: str, bucket: str, settings: Settings) -> None:
    config = S3Settings(endpoint=s3_endpoint, bucket=bucket, access_key=ACCESS, secret_key=SECRET,
                        prefix="kyc/")
    store = S3Store(config)
    key = f"7/{secrets.token_hex(16)}"
    blob = encrypt(settings, key, b"%PDF-1.4 statement")
    await store.put(key, blob)
    assert await _object(s3_endpoint, bucket, f"kyc/{key}") == blob
    assert await store.get(key) == blob
    await store.delete(key)
    await store.delete(key)  # idempotent, as S3 DeleteObject is
    with pytest.raises(BlobNotFound):
        await store.get(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        await store.put("../etc/passwd", blob)
    with pytest.raises(BlobNotFound):
        await S3Store(S3Settings(endpoint=s3_endpoint, bucket=bucket, access_key=ACCESS,
                                 secret_key=SECRET)).get("7/absent")
    # A bucket that does not exist, and a server that does not answer: unavailable, never a crash.
    with pytest.raises(BlobStoreUnavailable) as refused:
        await S3Store(S3Settings(endpoint=s3_endpoint, bucket=unique("none").lower(), access_key=ACCESS,
                                 secret_key=SECRET)).put(key, blob)
    assert refused.value.code == "EXTERNAL_SERVICE_UNAVAILABLE"
    with pytest.raises(BlobStoreUnavailable):
        await S3Store(S3Settings(endpoint=f"http://127.0.0.1:{free_port()}", bucket=bucket, access_key=ACCESS,
                                 secret_key=SECRET, timeout_s=2)).get(key)


async def test_local_store_missing_file_is_typed(tmp_path: Path) -> None:
    with pytest.raises(BlobNotFound):
        await LocalStore(tmp_path).get("1/abc")
