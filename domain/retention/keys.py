"""Each client's own data key (envelope encryption) and crypto-shredding.

A client's documents, the sealed copy of their identity data and the personal part of their
profile's audit events are encrypted (AES-256-GCM) under a random 256-bit data key of their own.
The data key is stored only wrapped: sealed with AES-256-GCM under the master key (derived with
HKDF from the process's secret key, `master_version` 1), the client id as associated data so a
wrapped key cannot be moved to another client's row. Destroying the key (`wrapped` set to NULL,
`destroyed_at` set) makes everything sealed under it unreadable for good, wherever a copy of the
ciphertext lives: storage, replicas, exports, the audit trail, backups of the documents.

What this relies on: the master key and the wrapped key are both needed to read, and a backup of
the database holds wrapped keys. Keep database backups for less time than the shortest retention
period after which a key is destroyed (or keep `client_keys` in a KMS): a restored backup from
before the destruction would hold the wrapped key again.
"""

from __future__ import annotations

import os
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.retention.errors import ClientKeyDestroyed
from domain.shared.db import Reader, driver
from domain.shared.settings import Settings

_NONCE = 12
_WRAP_INFO = b"forexcrm/client-key-wrap/v1"
MASTER_VERSION = 1


def master_key(settings: Settings) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"forexcrm-client-keys", info=_WRAP_INFO).derive(
        settings.secret_key.get_secret_value().encode())


def _wrap_aad(client_id: int) -> bytes:
    return f"client-key:{client_id}".encode()


def wrap(settings: Settings, client_id: int, data_key: bytes) -> bytes:
    return seal(master_key(settings), data_key, _wrap_aad(client_id))


def unwrap(settings: Settings, client_id: int, wrapped: bytes) -> bytes:
    return unseal(master_key(settings), wrapped, _wrap_aad(client_id))


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || AES-256-GCM(plaintext), `aad` authenticated with it."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)


async def key_for(session: Reader, settings: Settings, client_id: int) -> bytes:
    """The client's data key, made on first use. ClientKeyDestroyed once it was destroyed: nothing
    new is ever sealed for an erased client, and nothing old can be read."""
    conn = await driver(session)
    row = await conn.fetchrow("SELECT wrapped FROM client_keys WHERE client_id = $1", client_id)
    if row is None:
        data_key = os.urandom(32)
        made = await conn.fetchval(
            "INSERT INTO client_keys (client_id, wrapped, master_version) VALUES ($1, $2, $3) "
            "ON CONFLICT (client_id) DO NOTHING RETURNING client_id", client_id, wrap(settings, client_id, data_key),
            MASTER_VERSION)
        if made is not None:
            return data_key
        # Another transaction made it first (it committed: ON CONFLICT waited for it).
        row = await conn.fetchrow("SELECT wrapped FROM client_keys WHERE client_id = $1", client_id)
    if row is None or row["wrapped"] is None:
        raise ClientKeyDestroyed("this client's personal data was erased", field="clientId")
    return unwrap(settings, client_id, bytes(row["wrapped"]))


async def existing_key(session: Reader, settings: Settings, client_id: int) -> bytes:
    """The client's data key when it exists (never makes one); ClientKeyDestroyed when it is gone."""
    conn = await driver(session)
    wrapped = await conn.fetchval("SELECT wrapped FROM client_keys WHERE client_id = $1", client_id)
    if wrapped is None:
        raise ClientKeyDestroyed("this client's personal data was erased", field="clientId")
    return unwrap(settings, client_id, bytes(wrapped))


async def destroy(session: Reader, client_id: int) -> bool:
    """Destroy the client's data key (crypto-shred); a client without one gets a destroyed row, so
    none is ever made again. True when a live key was destroyed by this call."""
    live = await (await driver(session)).fetchval(
        "WITH before AS (SELECT wrapped IS NOT NULL AS live FROM client_keys WHERE client_id = $1 FOR UPDATE), "
        "gone AS (INSERT INTO client_keys (client_id, wrapped, destroyed_at) VALUES ($1, NULL, now()) "
        "ON CONFLICT (client_id) DO UPDATE SET wrapped = NULL, "
        "destroyed_at = coalesce(client_keys.destroyed_at, now())) "
        "SELECT coalesce((SELECT live FROM before), false)", client_id)
    return bool(live)
