"""Signed daily seals, exported off the database: what an insider with the database cannot forge.

The owner of the database can rewrite rows, re-hash the chains, rewind the heads and re-seal a day
in audit_seals. It cannot sign: each seal is signed with an Ed25519 key the database never holds
(FOREXCRM_AUDIT_SEAL_KEY_FILE, the worker's) and written once, never overwritten, to a store off
the database (a folder or an S3-compatible bucket, FOREXCRM_AUDIT_SEAL_EXPORT). Verification
recomputes every exported day from the rows and compares it with the signed seal.

An exported seal is `{"seal": body, "signature": hex}`, canonical JSON, named
audit-seal-YYYY-MM-DD.json. The body is the day's seal (row count, per-partition roots and last
hashes, Merkle root), the signing key's id and `prev`, the SHA-256 of the previous exported
body: a seal removed from, or replaced in, the middle of the store breaks that link.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import orjson
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.chain import canonical_json
from domain.audit.models import AuditSeal
from domain.audit.seal import DayDigest, compute_day
from domain.shared.settings import ConfigurationError, Settings

SEAL_FORMAT = 1
_NAME = re.compile(r"^audit-seal-(\d{4}-\d{2}-\d{2})\.json$")
DEV_KEY_FILE = "audit-seal-key.pem"
DEV_EXPORT_DIR = "audit-seals"

log = structlog.get_logger(__name__)


class SealNotExportable(RuntimeError):
    """The rows of a sealed day no longer hash to its database seal: nothing is signed."""


@dataclass(frozen=True)
class SealKey:
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = None

    @property
    def key_id(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, message: bytes) -> bytes:
        if self.private is None:
            raise ConfigurationError("signing audit seals needs the private key (FOREXCRM_AUDIT_SEAL_KEY_FILE)")
        return self.private.sign(message)

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def _read_or_create_private(path: Path, *, create: bool) -> Ed25519PrivateKey:
    if not path.exists():
        if not create:
            raise ConfigurationError(f"FOREXCRM_AUDIT_SEAL_KEY_FILE: {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:  # O_EXCL: two processes starting at once keep one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"FOREXCRM_AUDIT_SEAL_KEY_FILE: {path} is not an Ed25519 private key")
    return key


def load_seal_key(settings: Settings) -> SealKey:
    """The configured key; in development one generated per data folder on first use."""
    path = settings.audit_seal_key_file
    if path is None and not settings.is_production:
        path = settings.data_dir / DEV_KEY_FILE
    private = None if path is None else _read_or_create_private(path, create=not settings.is_production)
    if settings.audit_seal_public_key:
        try:
            public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(settings.audit_seal_public_key))
        except ValueError as exc:
            raise ConfigurationError("FOREXCRM_AUDIT_SEAL_PUBLIC_KEY must be a raw Ed25519 public key, hex") from exc
        return SealKey(public, private)
    if private is None:
        raise ConfigurationError("FOREXCRM_AUDIT_SEAL_KEY_FILE (signer) or FOREXCRM_AUDIT_SEAL_PUBLIC_KEY "
                                 "(verifier) must be set in production")
    return SealKey(private.public_key(), private)


def public_key_hex(key: SealKey) -> str:
    return key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


class SealStore(Protocol):
    """Write-once storage for exported seals."""

    async def put_new(self, name: str, blob: bytes) -> bool:
        """Store `blob` under `name` unless something is there already (then False, unchanged)."""
        ...

    async def get(self, name: str) -> bytes | None: ...

    async def names(self) -> list[str]: ...


class DirectorySealStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def put_new(self, name: str, blob: bytes) -> bool:
        path = self.root / _checked(name)

        def write() -> bool:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            tmp.write_bytes(blob)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # atomic, and refuses an existing name: never overwritten
            except FileExistsError:
                return False
            finally:
                tmp.unlink(missing_ok=True)
            return True

        return await asyncio.to_thread(write)

    async def get(self, name: str) -> bytes | None:
        try:
            return await asyncio.to_thread((self.root / _checked(name)).read_bytes)
        except FileNotFoundError:
            return None

    async def names(self) -> list[str]:
        def scan() -> list[str]:
            try:
                return sorted(p.name for p in self.root.iterdir() if _NAME.match(p.name))
            except FileNotFoundError:
                return []

        return await asyncio.to_thread(scan)


class S3SealStore:
    """An S3-compatible bucket; PutObject with If-None-Match: * so a seal is never overwritten
    (use object lock / versioning on the bucket as well, so not even its owner can)."""

    def __init__(self, settings: Settings, bucket: str, prefix: str) -> None:
        self.settings, self.bucket, self.prefix = settings, bucket, prefix.strip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{_checked(name)}" if self.prefix else _checked(name)

    def _client(self) -> Any:
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        s = self.settings
        return get_session().create_client(
            "s3", endpoint_url=s.audit_seal_s3_endpoint or None, region_name=s.audit_seal_s3_region or None,
            aws_access_key_id=s.audit_seal_s3_access_key.get_secret_value() or None,
            aws_secret_access_key=s.audit_seal_s3_secret_key.get_secret_value() or None,
            config=AioConfig(connect_timeout=20, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"},
                             s3={"addressing_style": "path"} if s.audit_seal_s3_endpoint else None))

    async def put_new(self, name: str, blob: bytes) -> bool:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        async with self._client() as s3:
            try:
                await s3.put_object(Bucket=self.bucket, Key=self._key(name), Body=blob, IfNoneMatch="*",
                                    ContentType="application/json")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                    return False
                raise
        return True

    async def get(self, name: str) -> bytes | None:
        from botocore.exceptions import ClientError

        async with self._client() as s3:
            try:
                response = await s3.get_object(Bucket=self.bucket, Key=self._key(name))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    async def names(self) -> list[str]:
        found: list[str] = []
        async with self._client() as s3:
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
                for item in page.get("Contents", []):
                    name = str(item["Key"]).rsplit("/", 1)[-1]
                    if _NAME.match(name):
                        found.append(name)
        return sorted(found)


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not an audit seal name: {name!r}")
    return name


def seal_store(settings: Settings) -> SealStore:
    """FOREXCRM_AUDIT_SEAL_EXPORT: s3://bucket/prefix or a folder; in development a folder under data_dir."""
    target = settings.audit_seal_export
    if not target:
        if settings.is_production:
            raise ConfigurationError("FOREXCRM_AUDIT_SEAL_EXPORT must name a folder or s3://bucket/prefix off "
                                     "the database server in production")
        return DirectorySealStore(settings.data_dir / DEV_EXPORT_DIR)
    if target.startswith("s3://"):
        bucket, _, prefix = target[len("s3://"):].partition("/")
        return S3SealStore(settings, bucket, prefix)
    return DirectorySealStore(Path(target))


@dataclass(frozen=True)
class SealArchive:
    """Where the exported seals are and the key that signed them."""

    store: SealStore
    key: SealKey


def seal_archive(settings: Settings) -> SealArchive:
    return SealArchive(seal_store(settings), load_seal_key(settings))


def seal_name(day: date) -> str:
    return f"audit-seal-{day.isoformat()}.json"


def day_of(name: str) -> date:
    match = _NAME.match(name)
    assert match is not None
    return date.fromisoformat(match.group(1))


def seal_body(digest: DayDigest, prev: str | None, key: SealKey) -> dict[str, Any]:
    return {
        "format": SEAL_FORMAT, "day": digest.day.isoformat(), "partition_count": len(digest.partitions),
        "row_count": digest.row_count, "partitions": [p.as_json() for p in digest.partitions],
        "merkle_root": digest.root.hex(), "prev": prev, "key_id": key.key_id,
    }


def body_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def signed_document(body: dict[str, Any], key: SealKey) -> bytes:
    return canonical_json({"seal": body, "signature": key.sign(canonical_json(body)).hex()})


@dataclass(frozen=True)
class ExportedSeal:
    name: str
    body: dict[str, Any]
    signature_ok: bool


def read_document(name: str, blob: bytes, key: SealKey) -> ExportedSeal:
    try:
        doc = orjson.loads(blob)
        body = doc["seal"]
        ok = isinstance(body, dict) and key.verifies(bytes.fromhex(doc["signature"]), canonical_json(body))
    except (ValueError, KeyError, TypeError):
        return ExportedSeal(name, {}, False)
    return ExportedSeal(name, body, ok)


def _matches(digest: DayDigest, seal: AuditSeal) -> bool:
    return digest.root == bytes(seal.merkle_root) and digest.row_count == seal.row_count


async def export_seals(session: AsyncSession, archive: SealArchive) -> list[date]:
    """Sign and export every database seal not exported yet, oldest first; returns their days.

    Each day is recomputed from the rows and must still match its database seal, or nothing more
    is signed (SealNotExportable): a key that signs whatever the database says would sign a forgery.
    Safe to run twice or concurrently: an exported seal is never replaced.
    """
    seals = list((await session.execute(select(AuditSeal).order_by(AuditSeal.day))).scalars())
    exported = set(await archive.store.names())
    done: list[date] = []
    prev: str | None = None
    prev_name: str | None = None
    for seal in seals:
        name = seal_name(seal.day)
        if name in exported:
            prev, prev_name = None, name  # read only if a later seal needs it
            continue
        if prev is None and prev_name is not None:
            blob = await archive.store.get(prev_name)
            prev = None if blob is None else body_digest(read_document(prev_name, blob, archive.key).body)
        digest = await compute_day(session, seal.day)
        if not _matches(digest, seal):
            log.error("audit.seal_not_exported", day=str(seal.day), reason="rows no longer match the seal")
            raise SealNotExportable(f"the rows of {seal.day} no longer match its seal: not signed")
        body = seal_body(digest, prev, archive.key)
        await archive.store.put_new(name, signed_document(body, archive.key))
        # Whatever is stored now (ours, or a concurrent exporter's identical seal) is the next link.
        prev, prev_name = body_digest(body), name
        done.append(seal.day)
    return done


def problems_with_export(body: dict[str, Any], digest: DayDigest) -> tuple[int | None, int | None, str] | None:
    """How the rows of a day differ from its exported seal: (partition, first seq, detail), or None."""
    if body.get("merkle_root") == digest.root.hex() and body.get("row_count") == digest.row_count:
        return None
    sealed = {int(p["partition"]): p for p in body.get("partitions", [])}
    for now in digest.partitions:
        then = sealed.get(now.partition)
        if then is None or then.get("root") != now.root.hex() or then.get("rows") != now.rows:
            seq = (then or {}).get("first_seq") or now.first_seq
            return (now.partition, seq, f"partition {now.partition}: {now.rows} rows now, "
                    f"{(then or {}).get('rows')} in the exported signed seal, Merkle root differs")
    return None, None, "the exported seal's root is not the root of its own partition roots"
