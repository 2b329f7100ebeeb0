"""The brokerage's regulatory reporting settings (one row) and the identifiers staff record for clients.

Set through the API (setRegulatorySettings, setClientRegulatoryIdentifier), audited; a refused input
changes nothing. Each asset class maps to the EMIR asset class and the CFI code its CFDs are reported
with; the defaults below are the usual ones for CFDs (CFI category J, forwards; attribute "contract for
difference"), and a broker whose TR expects other codes sets its own.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.clients.config import country_code
from domain.clients.models import Client
from domain.regulatory.errors import NoRegulatorySettings
from domain.regulatory.identifiers import NATIONAL_ID, lei_ok
from domain.shared.actor import Actor
from domain.shared.errors import FieldErrors, NotFound, ValidationFailed

SECTORS = ("INVF", "CDTI", "INUN", "UCIT", "AIFD", "ORPI", "REIN", "CSDS", "ASSU")  # FinancialPartySectorType3Code
EMIR_ASSET_CLASSES = ("CURR", "EQUI", "COMM", "INTR", "CRDT")
CFI = r"J[A-Z]{5}"
# our asset class (domain/trading/instruments.py) -> (EMIR asset class, CFI)
DEFAULT_PRODUCTS: dict[str, tuple[str, str]] = {
    "forex": ("CURR", "JFTXFC"), "crypto": ("CURR", "JFTXFC"), "metals": ("COMM", "JCAXFC"),
    "energies": ("COMM", "JCEXFC"), "commodities": ("COMM", "JCAXFC"), "indices": ("EQUI", "JEIXFC"),
    "stocks": ("EQUI", "JESXFC"), "bonds": ("INTR", "JRBXFC"), "other": ("EQUI", "JEIXFC"),
}


@dataclass(frozen=True)
class RegulatorySettings:
    reporting_lei: str
    submitting_agent_lei: str
    receiver_lei: str
    sector: str
    country: str
    master_agreement: str
    products: dict[str, tuple[str, str]] = field(default_factory=dict)

    def product(self, asset_class: str) -> tuple[str, str]:
        return self.products.get(asset_class) or DEFAULT_PRODUCTS.get(asset_class) or DEFAULT_PRODUCTS["other"]


async def load(session: AsyncSession) -> RegulatorySettings | None:
    row = (await session.execute(text(
        "SELECT reporting_lei, submitting_agent_lei, receiver_lei, sector, country, master_agreement, product_codes "
        "FROM regulatory_settings WHERE id = 1"))).first()
    if row is None:
        return None
    products = {k: (v[0], v[1]) for k, v in (row.product_codes or {}).items()}
    return RegulatorySettings(row.reporting_lei, row.submitting_agent_lei, row.receiver_lei, row.sector,
                              row.country, row.master_agreement, products)


async def required(session: AsyncSession) -> RegulatorySettings:
    found = await load(session)
    if found is None:
        raise NoRegulatorySettings("set the brokerage's LEI and reporting settings first (setRegulatorySettings)")
    return found


def checked(data: RegulatorySettings) -> RegulatorySettings:
    form = FieldErrors()
    leis = {}
    for name, value in (("reportingLei", data.reporting_lei), ("submittingAgentLei", data.submitting_agent_lei),
                        ("receiverLei", data.receiver_lei)):
        leis[name] = value.strip().upper()
        if not lei_ok(leis[name]):
            form.add(ValidationFailed("an LEI (ISO 17442: 20 characters, valid check digits)", field=name))
    if data.sector not in SECTORS:
        form.add(ValidationFailed(f"one of {', '.join(SECTORS)}", field="sector"))
    country = form.take(lambda: country_code(data.country, "country"))
    agreement = " ".join(data.master_agreement.split())
    if not 1 <= len(agreement) <= 50:
        form.add(ValidationFailed("1 to 50 characters (the client agreement's name)", field="masterAgreement"))

    for asset_class, (emir_class, cfi) in data.products.items():
        if emir_class not in EMIR_ASSET_CLASSES or not re.fullmatch(CFI, cfi) or asset_class not in DEFAULT_PRODUCTS:
            form.add(ValidationFailed(f"an asset class of {', '.join(DEFAULT_PRODUCTS)}, an EMIR asset class of "
                                      f"{', '.join(EMIR_ASSET_CLASSES)} and a CFI code J..... (6 letters)",
                                      field="products"))
            break
    form.raise_if_any()
    return RegulatorySettings(leis["reportingLei"], leis["submittingAgentLei"], leis["receiverLei"], data.sector,
                              str(country), agreement, dict(data.products))


async def set_settings(session: AsyncSession, actor: Actor, data: RegulatorySettings) -> RegulatorySettings:
    value = checked(data)
    before = await load(session)
    await session.execute(text(
        "INSERT INTO regulatory_settings (id, reporting_lei, submitting_agent_lei, receiver_lei, sector, country, "
        "master_agreement, product_codes, updated_by) VALUES (1, :r, :s, :t, :sec, :c, :m, :p, :u) "
        "ON CONFLICT (id) DO UPDATE SET reporting_lei = :r, submitting_agent_lei = :s, receiver_lei = :t, "
        "sector = :sec, country = :c, master_agreement = :m, product_codes = :p, updated_by = :u, updated_at = now()"),
        {"r": value.reporting_lei, "s": value.submitting_agent_lei, "t": value.receiver_lei, "sec": value.sector,
         "c": value.country, "m": value.master_agreement,
         "p": orjson.dumps({k: list(v) for k, v in value.products.items()}).decode(), "u": actor.user_id})
    await audit.record(session, actor, action="regulatory.settings_set", entity_type="regulatory_settings",
                       entity_id=1, before=asdict(before) if before else None, after=asdict(value),
                       category="compliance")
    return value


@dataclass(frozen=True)
class CounterpartyId:
    user_id: int
    lei: str | None
    national_id: str | None
    national_id_country: str | None


async def counterparty_id(session: AsyncSession, user_id: int) -> CounterpartyId | None:
    row = (await session.execute(text(
        "SELECT user_id, lei, national_id, national_id_country FROM regulatory_counterparty_ids WHERE user_id = :u"),
        {"u": user_id})).first()
    return CounterpartyId(*row) if row else None


async def set_counterparty_id(session: AsyncSession, actor: Actor, client_id: int, *, lei: str | None,
                              national_id: str | None, national_id_country: str | None) -> CounterpartyId:
    """A client's LEI (legal entities) and/or national identifier (natural persons: the identifier RTS 22
    Annex II names first for their nationality, e.g. a personal identity code, with its country)."""
    form = FieldErrors()
    code = (lei or "").strip().upper() or None
    if code is not None and not lei_ok(code):
        form.add(ValidationFailed("an LEI (ISO 17442: 20 characters, valid check digits)", field="lei"))
    ident = "".join((national_id or "").split()).upper() or None
    country: Any = None
    if ident is not None and not NATIONAL_ID.fullmatch(ident):
        form.add(ValidationFailed("1 to 33 letters or digits", field="nationalId"))
    if (ident is None) != (not national_id_country):
        form.add(ValidationFailed("the national identifier and its country go together", field="nationalIdCountry"))
    elif national_id_country:
        country = form.take(lambda: country_code(national_id_country, "nationalIdCountry"))
    form.raise_if_any()
    # Firm-wide, like the reports themselves (every client's trades are reported): no desk scoping.
    user = await session.scalar(select(Client.user_id).where(Client.id == client_id))
    if user is None:
        raise NotFound("no such client", field="clientId")
    user_id = int(user)
    before = await counterparty_id(session, user_id)
    ident_full = f"{country}{ident}" if ident and country and not ident.startswith(str(country)) else ident
    await session.execute(text(
        "INSERT INTO regulatory_counterparty_ids (user_id, lei, national_id, national_id_country, updated_by) "
        "VALUES (:u, :l, :n, :c, :by) ON CONFLICT (user_id) DO UPDATE SET lei = :l, national_id = :n, "
        "national_id_country = :c, updated_by = :by, updated_at = now()"),
        {"u": user_id, "l": code, "n": ident_full, "c": country, "by": actor.user_id})
    after = CounterpartyId(user_id, code, ident_full, country)
    await audit.record(session, actor, action="regulatory.counterparty_id_set", entity_type="client_user",
                       entity_id=user_id, before=asdict(before) if before else None, after=asdict(after),
                       category="compliance")
    return after
