"""Storing a built report file, for every regime (EMIR, MiFIR): the validated bytes put encrypted in the blob
store, the file row with its SHA-256 and its header, and at the end of a day's build the part count and the
superseding of the day's earlier files of the same regime (kept, never overwritten).

`PartWriter` validates each part before storing it; the caller owns the transaction. `put` collects the blob keys
written so that a failed build can delete them (the rows go with the rolled-back transaction).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any, Generic, TypeVar

from lxml import etree
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.storage import BlobStore, encrypt
from domain.shared.actor import Actor
from domain.shared.db import driver
from domain.shared.errors import DomainError
from domain.shared.settings import Settings
from domain.shared.xsd import validate_bytes, validate_tree

T = TypeVar("T")


@dataclass(frozen=True)
class BuiltFile:
    id: int
    part: int
    records: int
    sha256: str
    size_bytes: int


async def _insert_file(session: AsyncSession, actor: Actor, *, regime: str, day: date, part: int, message_id: str,
                       key: str, digest: str, size: int, header: bytes, records: int, reason: str) -> int:
    conn = await driver(session)
    return int(await conn.fetchval(
        "INSERT INTO regulatory_report_files (regime, business_date, part, parts, message_id, records, size_bytes, "
        "sha256, storage_key, header_xml, built_by, reason) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        "RETURNING id", regime, day, part, message_id, records, size, digest, key, header.decode(), actor.user_id,
        reason))


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


@dataclass(frozen=True)
class _Checked:
    """A part as its worker thread leaves it: valid, hashed, encrypted under its storage key."""
    part: int
    message_id: str
    key: str
    header: bytes
    sha256: str
    size: int
    blob: bytes


@dataclass
class PartWriter(Generic[T]):
    """Writes each part of a day's build to a temporary file, validates it against the regime's XSD (one bounded
    chunk), stores it and its lines; remembers the blob keys it put so that `discard` can take them back.

    Pipelined, one part in flight: `flush` writes a part's XML (in memory) and hands it to a worker thread (parsing,
    XSD validation, SHA-256 and encryption run in C outside the GIL, on the other core), then stores the part
    before it (blob, file row, lines) while that thread works. `close` stores the last part; a part's schema
    failure is raised by the `flush` after it or by `close`. At most two parts' lines and one part's bytes and
    tree are held."""
    session: AsyncSession
    settings: Settings
    store: BlobStore
    actor: Actor
    regime: Regime[T]
    day: date
    reason: str
    batch: str = field(default_factory=lambda: uuid.uuid4().hex[:10].upper())
    put: list[str] = field(default_factory=list)
    built: list[BuiltFile] = field(default_factory=list)
    written: int = 0
    checking: tuple[list[T], asyncio.Future[_Checked]] | None = None
    pending: list[T] = field(default_factory=list)

    async def add(self, items: Iterable[T], part_size: int) -> None:
        """Buffer items; write a part each time `part_size` of them wait (`close` writes the rest)."""
        self.pending.extend(items)
        while len(self.pending) >= part_size:
            await self.flush(self.pending[:part_size])
            self.pending = self.pending[part_size:]

    async def flush(self, items: list[T]) -> None:
        self.written += 1
        out = io.BytesIO()
        self.regime.write(out, items)
        previous = self.checking
        self.checking = (items, asyncio.get_running_loop().run_in_executor(None, self._check, self.written,
                                                                           out.getvalue()))
        del out
        if previous is not None:
            await self._store(*previous)

    async def close(self) -> list[BuiltFile]:
        """Write what `add` left waiting, store the last part written; answers every part built."""
        if self.pending:
            rest, self.pending = self.pending, []
            await self.flush(rest)
        if self.checking is not None:
            last, self.checking = self.checking, None
            await self._store(*last)
        return self.built

    def _check(self, part: int, data: bytes) -> _Checked:
        """In a worker thread (no database, no event loop): the part valid against the schema, its header too,
        hashed and encrypted."""
        validate_bytes(self.regime.report_schema(), data, self.regime.invalid)
        message_id = f"{self.regime.name.upper()}{self.day:%Y%m%d}{self.batch}P{part}"
        head = self.regime.header(message_id)
        validate_tree(self.regime.header_schema(), etree.fromstring(head), self.regime.invalid)
        key = f"regulatory/{self.regime.name}/{self.day:%Y%m%d}/{message_id.lower()}"
        return _Checked(part, message_id, key, head, hashlib.sha256(data).hexdigest(), len(data),
                        encrypt(self.settings, key, data))

    async def _store(self, items: list[T], checking: asyncio.Future[_Checked]) -> None:
        checked = await checking
        await self.store.put(checked.key, checked.blob)
        self.put.append(checked.key)
        file_id = await _insert_file(self.session, self.actor, regime=self.regime.name, day=self.day,
                                     part=checked.part, message_id=checked.message_id, key=checked.key,
                                     digest=checked.sha256, size=checked.size, header=checked.header,
                                     records=len(items), reason=self.reason)
        conn = await driver(self.session)
        row = self.regime.line_row
        await conn.copy_records_to_table(self.regime.line_table, columns=list(self.regime.line_columns),
                                         records=[row(file_id, i, item) for i, item in enumerate(items, 1)])
        self.built.append(BuiltFile(file_id, checked.part, len(items), checked.sha256, checked.size))

    async def discard(self) -> None:
        """A failed build: delete the blobs already put (their rows go with the rolled-back transaction), once
        the part in flight has left its thread (nothing is put after this)."""
        if self.checking is not None:
            _, pending = self.checking
            self.checking = None
            await asyncio.wait([pending])
        for key in self.put:
            await self.store.delete(key)
