"""Storing a built report file, for every regime (EMIR, MiFIR): the validated bytes put encrypted in the blob
store, the file row with its SHA-256 and its header, and at the end of a day's build the part count and the
superseding of the day's earlier files of the same regime (kept, never overwritten).

The caller validates before calling and owns the transaction; `put` collects the blob keys written so that a
failed build can delete them (the rows go with the rolled-back transaction).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.storage import BlobStore, encrypt
from domain.shared.actor import Actor
from domain.shared.settings import Settings


@dataclass(frozen=True)
class BuiltFile:
    id: int
    part: int
    records: int
    sha256: str
    size_bytes: int


async def store_part(session: AsyncSession, settings: Settings, store: BlobStore, actor: Actor, put: list[str], *,
                     regime: str, day: date, part: int, message_id: str, data: bytes, header: bytes, records: int,
                     reason: str) -> BuiltFile:
    digest = hashlib.sha256(data).hexdigest()
    key = f"regulatory/{regime}/{day:%Y%m%d}/{message_id.lower()}"
    await store.put(key, encrypt(settings, key, data))
    put.append(key)
    file_id = int(await session.scalar(text(
        "INSERT INTO regulatory_report_files (regime, business_date, part, parts, message_id, records, size_bytes, "
        "sha256, storage_key, header_xml, built_by, reason) VALUES (:g, :d, :p, :p, :m, :n, :s, :h, :k, :x, :u, :r) "
        "RETURNING id"),
        {"g": regime, "d": day, "p": part, "m": message_id, "n": records, "s": len(data), "h": digest, "k": key,
         "x": header.decode(), "u": actor.user_id, "r": reason}))
    return BuiltFile(file_id, part, records, digest, len(data))


async def finish_day(session: AsyncSession, regime: str, day: date, built: list[BuiltFile], *,
                     supersede: bool = True) -> list[int]:
    """Set the part count on the day's new files and (supersede) mark the day's earlier current files of this
    regime superseded by the first new one; answers the superseded ids. A day with nothing built leaves its
    earlier files as they are."""
    if not built:
        return []
    mine = [f.id for f in built]
    await session.execute(text("UPDATE regulatory_report_files SET parts = :n WHERE id = ANY(:i)"),
                          {"n": len(built), "i": mine})
    if not supersede:
        return []
    return [int(i) for i in await session.scalars(text(
        "UPDATE regulatory_report_files SET status = 'superseded', superseded_by = :new, status_at = now() "
        "WHERE regime = :g AND business_date = :d AND status <> 'superseded' AND NOT (id = ANY(:mine)) "
        "RETURNING id"), {"new": built[0].id, "g": regime, "d": day, "mine": mine})]
