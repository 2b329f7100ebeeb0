"""Sanctions and PEP lists: parsing FollowTheMoney entity JSON (OpenSanctions) and OFAC's SDN CSV,
storing them as a new list version, and the per-process match index of the stored lists.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import orjson
import pycountry
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.compliance import runs
from domain.compliance.errors import InvalidScreeningList
from domain.compliance.matching import Entity, MatchIndex
from domain.compliance.models import ScreeningEntity, ScreeningList
from domain.compliance.runs import ScreeningRun
from domain.shared.actor import Actor

FORMATS = ("ftm", "ofac")
_FTM_SCHEMAS = frozenset({"Person", "LegalEntity", "Organization", "Company"})
_NAME_PROPS = ("name", "alias", "weakAlias", "previousName", "firstName")
_OFAC_DOB = re.compile(r"DOB (?:(\d{1,2}) ([A-Za-z]{3}) )?(\d{4})")
_OFAC_AKA = re.compile(r"a\.k\.a\. '([^']+)'")
_OFAC_COUNTRY = re.compile(r"(?:nationality|citizen) ([A-Z][A-Za-z ,.'()-]+?)(?:;|\.$|$)")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


def parse_ftm(data: bytes) -> Iterator[Entity]:
    """One FollowTheMoney entity per line: {"id", "schema", "caption"?, "properties": {...}}."""
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            props = raw.get("properties") or {}
            schema = str(raw["schema"])
            entity_id = str(raw["id"])
        except (orjson.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
            raise InvalidScreeningList(f"line {number} is not a FollowTheMoney entity", field="file") from exc
        if schema not in _FTM_SCHEMAS:
            continue
        names = [str(n) for p in _NAME_PROPS for n in props.get(p, [])]
        if not names:
            continue
        countries = {str(c).lower()[:8] for p in ("nationality", "country", "citizenship") for c in props.get(p, [])}
        yield Entity(
            entity_id=entity_id[:120], caption=str(raw.get("caption") or names[0])[:300], names=tuple(names),
            birth_dates=tuple(str(d)[:10] for d in props.get("birthDate", [])), countries=tuple(sorted(countries)),
            topics=tuple(str(t)[:32] for t in props.get("topics", [])), schema=schema,
        )


def _ofac_name(name: str) -> str:
    """OFAC writes individuals as "LAST, First"; word order does not matter to the matcher."""
    return " ".join(part.strip() for part in reversed(name.split(",", 1)))


@cache
def _country_code(name: str) -> str | None:
    """ISO alpha-2 (lower case) of a country as OFAC names it ("Russia", "Iran", "Korea, North")."""
    known = {"korea, north": "kp", "korea, south": "kr", "burma": "mm", "west bank": "ps", "gaza": "ps"}
    if name.strip().lower() in known:
        return known[name.strip().lower()]
    try:
        return str(pycountry.countries.search_fuzzy(name.strip())[0].alpha_2).lower()
    except LookupError:
        return None


def parse_ofac(data: bytes) -> Iterator[Entity]:
    """OFAC SDN.CSV: ent_num, SDN_Name, SDN_Type, Program, Title, ..., Remarks (DOB and a.k.a. in remarks)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip(" \x1a"):  # SDN.CSV as published ends with a DOS end-of-file mark
            continue
        if len(row) < 4 or not row[0].strip().isdigit():
            raise InvalidScreeningList(f"line {number} is not an SDN.CSV record", field="file")
        remarks = row[11] if len(row) > 11 else ""
        names = [_ofac_name(row[1])] + [_ofac_name(a) for a in _OFAC_AKA.findall(remarks)]
        births: list[str] = []
        for day, month, year in _OFAC_DOB.findall(remarks):
            mm = _MONTHS.get(month.lower()) if month else None
            births.append(f"{year}-{mm:02d}-{int(day):02d}" if mm and day else year)
        kind = row[2].strip().strip('"').lower()
        countries = {c for name in _OFAC_COUNTRY.findall(remarks) if (c := _country_code(name))}
        yield Entity(entity_id=f"ofac-{row[0].strip()}", caption=names[0][:300], names=tuple(names),
                     birth_dates=tuple(births), countries=tuple(sorted(countries)), topics=("sanction",),
                     schema="Person" if kind == "individual" else "LegalEntity")


def parse(fmt: str, data: bytes) -> list[Entity]:
    if fmt not in FORMATS:
        raise InvalidScreeningList(f"format must be one of {', '.join(FORMATS)}", field="format")
    entities = list(parse_ftm(data) if fmt == "ftm" else parse_ofac(data))
    if not entities:
        raise InvalidScreeningList("the file holds no screenable entities", field="file")
    return entities


def content_hash(entity: Entity) -> str:
    """What the matcher reads of an entity, hashed: equal hashes screen alike."""
    return hashlib.sha256(orjson.dumps([entity.schema[:32], entity.caption, entity.names, entity.birth_dates,
                                        entity.countries, entity.topics])).hexdigest()[:32]


@dataclass(frozen=True)
class Delta:
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int


@dataclass(frozen=True)
class Loaded:
    screening_list: ScreeningList
    delta: Delta
    run: ScreeningRun | None  # None when the file changed no entity


async def load_list(session: AsyncSession, actor: Actor, *, name: str, fmt: str, data: bytes) -> Loaded:
    """Replace a list's entities with the file's; the version is the file's SHA-256 prefix and time. Only
    added, changed and removed entities are written, and a delta run re-screens every client against them."""
    entities = parse(fmt, data)
    version = f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{hashlib.sha256(data).hexdigest()[:12]}"
    row = await session.scalar(select(ScreeningList).where(ScreeningList.name == name).with_for_update())
    before = None if row is None else {"version": row.version, "entity_count": row.entity_count}
    unique = {e.entity_id: e for e in entities}
    hashes = {entity_id: content_hash(e) for entity_id, e in unique.items()}
    previous: dict[str, str | None] = {}
    if row is None:
        row = ScreeningList(name=name[:80], format=fmt, version=version, entity_count=len(unique))
        session.add(row)
        await session.flush()
    else:
        row.format, row.version, row.entity_count = fmt, version, len(unique)
        previous = {r.entity_id: r.content_hash for r in await session.execute(
            select(ScreeningEntity.entity_id, ScreeningEntity.content_hash).where(ScreeningEntity.list_id == row.id))}
    added = [i for i in unique if i not in previous]
    changed = [i for i in unique if i in previous and previous[i] != hashes[i]]
    removed = [i for i in previous if i not in unique]
    stale = changed + removed
    for start in range(0, len(stale), 5000):
        await session.execute(delete(ScreeningEntity).where(ScreeningEntity.list_id == row.id,
                                                            ScreeningEntity.entity_id.in_(stale[start:start + 5000])))
    rows = [{"list_id": row.id, "entity_id": e.entity_id, "schema": e.schema[:32], "caption": e.caption,
             "names": list(e.names), "birth_dates": list(e.birth_dates), "countries": list(e.countries),
             "topics": list(e.topics), "content_hash": hashes[e.entity_id]}
            for e in (unique[i] for i in added + changed)]
    for start in range(0, len(rows), 5000):
        await session.execute(insert(ScreeningEntity), rows[start:start + 5000])
    delta = Delta(added, changed, removed, len(unique) - len(added) - len(changed))
    run = None
    if added or changed or removed:
        run = await runs.queue_delta(session, actor, list_id=row.id, list_name=row.name, version=version,
                                     entity_ids=added + changed, removed_ids=removed)
    await record(session, actor, action="screening_list.loaded", entity_type="screening_list", entity_id=row.id,
                 before=before, after={"version": version, "entity_count": len(unique), "format": fmt,
                                       "added": len(added), "changed": len(changed), "removed": len(removed),
                                       "run_id": run.id if run else None}, category="general")
    return Loaded(row, delta, run)


def entity_of(r: ScreeningEntity) -> Entity:
    return Entity(r.entity_id, r.caption, tuple(r.names), tuple(r.birth_dates), tuple(r.countries), tuple(r.topics),
                  r.schema)


_CACHE: dict[int, tuple[str, MatchIndex]] = {}


async def index_for(session: AsyncSession, lst: ScreeningList) -> MatchIndex:
    """The list's match index, rebuilt only when the list's version changed."""
    cached = _CACHE.get(lst.id)
    if cached is None or cached[0] != lst.version:
        rows = await session.scalars(select(ScreeningEntity).where(ScreeningEntity.list_id == lst.id))
        cached = (lst.version, MatchIndex.build(entity_of(r) for r in rows))
        _CACHE[lst.id] = cached
    return cached[1]


async def indexes(session: AsyncSession) -> list[tuple[ScreeningList, MatchIndex]]:
    """Every stored list with its match index."""
    lists = list(await session.scalars(select(ScreeningList).order_by(ScreeningList.id)))
    return [(lst, await index_for(session, lst)) for lst in lists]
