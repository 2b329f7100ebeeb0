"""Storing a built report file, for every regime (EMIR, MiFIR): the validated bytes put encrypted in the blob
store, the file row with its SHA-256 and its header, and at the end of a day's build the part count and the
superseding of the day's earlier files of the same regime (kept, never overwritten).

The caller validates before calling and owns the transaction; `put` collects the blob keys written so that a
failed build can delete them (the rows go with the rolled-back transaction).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from lxml import etree
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.storage import BlobStore, encrypt
from domain.shared.actor import Actor
from domain.shared.db import driver
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from domain.shared.xsd import validate_file, validate_tree

T = TypeVar("T")


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


@dataclass(frozen=True)
class Regime(Generic[T]):
    """What differs between regimes when a part is written: the document, its header, the schemas, the error
    for a schema failure, and the table of lines kept per report (each traceable to its deals)."""
    name: str
    write: Callable[[IO[bytes], list[T]], None]
    header: Callable[[str], bytes]  # message id -> the business application header
    report_schema: Callable[[], etree.XMLSchema]
    header_schema: Callable[[], etree.XMLSchema]
    invalid: type[DomainError]
    line_table: str
    line_columns: Sequence[str]
    line_row: Callable[[int, int, T], tuple[Any, ...]]  # (file id, seq, item) -> the line's values


@dataclass
class PartWriter(Generic[T]):
    """Writes each part of a day's build to a temporary file, validates it against the regime's XSD (one bounded
    chunk), stores it and its lines; remembers the blob keys it put so that `discard` can take them back."""
    session: AsyncSession
    settings: Settings
    store: BlobStore
    actor: Actor
    regime: Regime[T]
    day: date
    reason: str
    folder: Path
    batch: str = field(default_factory=lambda: uuid.uuid4().hex[:10].upper())
    put: list[str] = field(default_factory=list)
    built: list[BuiltFile] = field(default_factory=list)

    async def flush(self, items: list[T]) -> None:
        part = len(self.built) + 1
        path = self.folder / f"part{part}.xml"
        with path.open("wb") as out:
            self.regime.write(out, items)
        validate_file(self.regime.report_schema(), path, self.regime.invalid)
        data = path.read_bytes()
        path.unlink()
        message_id = f"{self.regime.name.upper()}{self.day:%Y%m%d}{self.batch}P{part}"
        head = self.regime.header(message_id)
        validate_tree(self.regime.header_schema(), etree.fromstring(head), self.regime.invalid)
        built = await store_part(self.session, self.settings, self.store, self.actor, self.put,
                                 regime=self.regime.name, day=self.day, part=part, message_id=message_id, data=data,
                                 header=head, records=len(items), reason=self.reason)
        conn = await driver(self.session)
        await conn.copy_records_to_table(
            self.regime.line_table, columns=list(self.regime.line_columns),
            records=[self.regime.line_row(built.id, i + 1, item) for i, item in enumerate(items)])
        self.built.append(built)

    async def discard(self) -> None:
        """A failed build: delete the blobs already put (their rows go with the rolled-back transaction)."""
        for key in self.put:
            await self.store.delete(key)
