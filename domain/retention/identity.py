"""A client's identity data under their own key.

What is kept where, and why (the choice behind crypto-shredding of personal data):

- `clients.sealed_identity`: names, date of birth and the profile (address, phone, tax residencies,
  employment, company data) sealed under the client's data key each time the profile is written. It
  is the copy kept for the retention duty (KYC identity data, 5 years after the relationship ends)
  and the one that goes with exports and backups; destroying the key erases it everywhere at once.
- The audit event of a profile change carries the changed personal values only sealed under the
  client's key (`{"sealed": <base64>}`, beside the country, which is not personal on its own): the
  audit chain hashes the ciphertext, so after the key is destroyed the chain still verifies while
  nothing of the person can be read from it.
- The plain working columns that staff search and the portals read (`first_name`, `last_name`,
  `date_of_birth`, `profile`; the search text `clients.search_text` derived from the names and the
  e-mail by triggers, with its trigram index) stay as they are while the relationship lasts, so
  search, screening and account opening work unchanged. Erasure blanks them in the same transaction
  that destroys the key (the triggers blank the search text with them), and replaces the login
  e-mail with a non-personal placeholder. A plain column cannot be crypto-shredded in a backup made
  before the erasure: that is what the sealed copy is for, and why backups must be kept for less
  time than a retention period (keys.py).
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.models import Client
from domain.retention import keys
from domain.shared.settings import Settings


def _identity_aad(client_id: int) -> bytes:
    return f"identity:{client_id}".encode()


def _audit_aad(client_id: int) -> bytes:
    return f"audit:{client_id}".encode()


def identity_of(client: Client) -> dict[str, Any]:
    return {"first_name": client.first_name, "last_name": client.last_name,
            "date_of_birth": client.date_of_birth.isoformat() if client.date_of_birth else None,
            "profile": client.profile}


async def seal_identity(session: AsyncSession, settings: Settings, client: Client) -> bytes:
    """Seal the client's current identity data into `sealed_identity`; returns the data key."""
    data_key = await keys.key_for(session, settings, client.id)
    client.sealed_identity = keys.seal(data_key, orjson.dumps(identity_of(client)), _identity_aad(client.id))
    return data_key


async def open_identity(session: AsyncSession, settings: Settings, client: Client) -> dict[str, Any] | None:
    """The sealed identity data (None when none was sealed); ClientKeyDestroyed once erased."""
    data_key = await keys.existing_key(session, settings, client.id)
    if client.sealed_identity is None:
        return None
    found: dict[str, Any] = orjson.loads(keys.unseal(data_key, client.sealed_identity, _identity_aad(client.id)))
    return found


def sealed_for_audit(data_key: bytes, client_id: int, values: dict[str, Any]) -> str:
    """Personal values for an audit event, readable only while the client's key exists."""
    return base64.b64encode(keys.seal(data_key, orjson.dumps(values), _audit_aad(client_id))).decode()


def open_audit_value(data_key: bytes, client_id: int, sealed: str) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads(keys.unseal(data_key, base64.b64decode(sealed), _audit_aad(client_id)))
    return found


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
