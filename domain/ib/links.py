"""Referral links the IB manages: create (name, target page, UTM fields, an unguessable code),
rename, disable; and the public click counter behind `GET /r/<code>`.

Clicks are one counter per link. A visitor is counted once per link and day: Redis keeps a keyed
hash of (day, IP) for a day (the IP itself is stored nowhere), so reloading or a bot hammering one
link adds one click per address, not one per request; an unknown or disabled code counts nothing.
"""

# SQL text here is assembled from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.ib.errors import LinkDisabled, LinkNotFound
from domain.ib.network import require_approved
from domain.shared.actor import Actor
from domain.shared.db import SessionFactory, autocommit_fetchrow
from domain.shared.errors import FieldErrors, ValidationFailed
from domain.shared.pagination import Page, PageRequest, sql_page

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by people
CODE_LENGTH = 12  # 60 bits: not guessable, still short enough to read out
_CODE_RE = re.compile(r"^[A-Za-z0-9]{4,32}$")
MAX_LINKS_PER_IB = 500
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")
_UTM_RE = re.compile(r"^[A-Za-z0-9._~\-+ ]{0,100}$")


class LinkTarget(StrEnum):
    REGISTRATION = "registration"
    HOME = "home"


@dataclass(frozen=True)
class LinkSpec:
    name: str
    target: LinkTarget = LinkTarget.REGISTRATION
    utm: dict[str, str] | None = None


def _name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise ValidationFailed("a link name has 1 to 80 characters", field="name")
    return name


def _clean(spec: LinkSpec) -> tuple[str, dict[str, str]]:
    form = FieldErrors()
    name = form.take(lambda: _name(spec.name))
    utm = {k: (spec.utm or {}).get(k, "").strip() for k in UTM_FIELDS}
    for key, value in utm.items():
        if not _UTM_RE.match(value):
            form.add(ValidationFailed("UTM values have at most 100 letters, digits and . _ ~ - + or spaces",
                                      field="".join(w.capitalize() if i else w for i, w in enumerate(key.split("_")))))
    form.raise_if_any()
    assert name is not None
    return name, utm


@dataclass(frozen=True)
class Link:
    id: int
    ib_id: int
    code: str
    name: str
    campaign: str
    target: str
    utm: dict[str, str]
    clicks: int
    created_at: datetime
    disabled_at: datetime | None


_COLS = ("id, ib_id, code, name, campaign, target, utm_source, utm_medium, utm_campaign, utm_content, clicks, "
         "created_at, disabled_at")


def _link(r: Any) -> Link:
    m = r._mapping
    return Link(int(m["id"]), int(m["ib_id"]), m["code"], m["name"], m["campaign"], m["target"],
                {k: m[k] for k in UTM_FIELDS if m[k]}, int(m["clicks"]), m["created_at"], m["disabled_at"])


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def create(session: AsyncSession, actor: Actor, ib_id: int, spec: LinkSpec) -> Link:
    await require_approved(session, ib_id)
    name, utm = _clean(spec)
    await session.execute(text("SELECT 1 FROM ib_partners WHERE user_id = :id FOR UPDATE"), {"id": ib_id})
    if int(await session.scalar(text("SELECT count(*) FROM ib_referral_links WHERE ib_id = :ib"),
                                {"ib": ib_id}) or 0) >= MAX_LINKS_PER_IB:
        raise ValidationFailed(f"at most {MAX_LINKS_PER_IB} links per IB", field="name")
    row = (await session.execute(text(
        "INSERT INTO ib_referral_links (ib_id, code, name, campaign, target, utm_source, utm_medium, utm_campaign, "
        "utm_content) VALUES (:ib, :code, :name, :campaign, :target, :utm_source, :utm_medium, :utm_campaign, "
        f":utm_content) RETURNING {_COLS}"),
        {"ib": ib_id, "code": new_code(), "name": name, "campaign": utm["utm_campaign"][:80],
         "target": LinkTarget(spec.target).value, **utm})).one()
    link = _link(row)
    await record(session, actor, action="ib.link_created", entity_type="ib_referral_link", entity_id=link.id,
                 after={"ib_id": ib_id, "name": name, "target": link.target, **link.utm})
    return link


async def _own(session: AsyncSession, ib_id: int, link_id: int) -> Link:
    row = (await session.execute(text(
        f"SELECT {_COLS} FROM ib_referral_links WHERE id = :id AND ib_id = :ib FOR UPDATE"),
        {"id": link_id, "ib": ib_id})).first()
    if row is None:
        raise LinkNotFound("no such referral link", field="linkId")
    return _link(row)


async def rename(session: AsyncSession, actor: Actor, ib_id: int, link_id: int, name: str) -> Link:
    name = _name(name)
    link = await _own(session, ib_id, link_id)
    row = (await session.execute(text(
        f"UPDATE ib_referral_links SET name = :n, updated_at = now() WHERE id = :id RETURNING {_COLS}"),
        {"n": name, "id": link.id})).one()
    await record(session, actor, action="ib.link_renamed", entity_type="ib_referral_link", entity_id=link.id,
                 before={"name": link.name}, after={"name": name})
    return _link(row)


async def disable(session: AsyncSession, actor: Actor, ib_id: int, link_id: int) -> Link:
    """A disabled link stops attributing and counting; registrations it brought stay attributed."""
    link = await _own(session, ib_id, link_id)
    if link.disabled_at is not None:
        raise LinkDisabled("this link is disabled already", field="linkId")
    row = (await session.execute(text(
        "UPDATE ib_referral_links SET disabled_at = now(), updated_at = now() WHERE id = :id "
        f"RETURNING {_COLS}"), {"id": link.id})).one()
    await record(session, actor, action="ib.link_disabled", entity_type="ib_referral_link", entity_id=link.id,
                 before={"disabled": False}, after={"disabled": True})
    return _link(row)


@dataclass(frozen=True)
class LinkStats:
    link: Link
    registrations: int
    first_deposits: int


def _stats_source(where: str) -> str:
    """Links with their registrations and clients who made a first deposit, for the links `where` picks."""
    return f"""
        SELECT {", ".join("l." + c for c in _COLS.split(", "))},
               count(DISTINCT a.client_id) AS registrations,
               count(DISTINCT a.client_id) FILTER (WHERE EXISTS (
                   SELECT 1 FROM ledger_accounts la JOIN ledger_postings lp ON lp.account_id = la.id
                   JOIN ledger_entries le ON le.id = lp.entry_id
                   WHERE la.owner_id = a.client_id AND la.purpose = 'client_wallet' AND le.ref_kind = 'deposit'))
                   AS first_deposits
        FROM ib_referral_links l LEFT JOIN ib_client_attributions a ON a.link_id = l.id
        WHERE {where}
        GROUP BY l.id"""


def _stats(r: Any) -> LinkStats:
    return LinkStats(_link(r), int(r.registrations), int(r.first_deposits))


async def stats(session: AsyncSession, ib_id: int, page: PageRequest, *,
                include_disabled: bool = False) -> Page[LinkStats]:
    """The IB's links in the order they were made, with clicks, registrations and clients who made a
    first deposit (counted for the page's links only)."""
    return await sql_page(
        session, page, columns="*", source=f"({_stats_source('l.ib_id = :ib AND (:all OR l.disabled_at IS NULL)')}) s",
        where=[], params={"ib": ib_id, "all": include_disabled}, key=("s.created_at", "s.id"),
        descending=False, convert=_stats)


async def stats_by_ids(session: AsyncSession, ib_id: int, ids: list[int]) -> dict[int, LinkStats]:
    """The IB's own links among `ids` (another IB's are absent), as `stats` counts them."""
    rows = (await session.execute(text(_stats_source("l.ib_id = :ib AND l.id = ANY(:ids)")),
                                  {"ib": ib_id, "ids": ids})).all()
    return {s.link.id: s for s in map(_stats, rows)}


# --- the public redirect -------------------------------------------------------------------------

def valid_code(code: str) -> bool:
    return bool(_CODE_RE.match(code))


def visitor_key(secret: str, code: str, ip: str, now: datetime) -> str:
    """A day-scoped keyed hash of the visitor's address: the same visitor once per link and day."""
    day = now.astimezone(UTC).date().isoformat()
    digest = hmac.new(secret.encode(), f"ib-click|{day}|{code}|{ip}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"ib:click:{digest}"


@dataclass(frozen=True)
class Landing:
    code: str | None  # None: unknown or disabled (the visitor lands without attribution)
    target: str
    utm: dict[str, str]


_LANDING = ("SELECT code, target, utm_source, utm_medium, utm_campaign, utm_content FROM ib_referral_links "
            "WHERE code = $1 AND disabled_at IS NULL")
_CLICK = "UPDATE ib_referral_links SET clicks = clicks + 1 WHERE code = $1 AND disabled_at IS NULL RETURNING id"


async def landing(factory: SessionFactory, code: str) -> Landing:
    """Where an active link's visitors land; an unknown or disabled code lands without attribution.
    One autocommit statement on a pooled connection (a public, per-request path)."""
    row = await autocommit_fetchrow(factory, _LANDING, code.upper())
    if row is None:
        return Landing(None, LinkTarget.REGISTRATION.value, {})
    return Landing(str(row["code"]), str(row["target"]), {k: row[k] for k in UTM_FIELDS if row[k]})


async def add_click(factory: SessionFactory, code: str) -> None:
    await autocommit_fetchrow(factory, _CLICK, code)


def landing_url(base: str, landing: Landing) -> str:
    params = ({"ib_code": landing.code} if landing.code else {}) | landing.utm
    if not params:
        return base
    return base + ("&" if "?" in base else "?") + urlencode(params)
