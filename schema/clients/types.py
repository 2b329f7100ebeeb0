"""GraphQL types of the client lifecycle, written by hand from the domain rows (never ORM exposure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, cast

import asyncpg
import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.clients import communications as client_communications
from domain.clients import documents as client_documents
from domain.clients import lists as client_lists
from domain.clients import models as m
from domain.clients import status as client_status
from domain.clients.lists import ListedClient, WithWallets
from domain.clients.payment_gates import Gate
from domain.compliance import screening as screening_results
from domain.compliance.models import ScreeningResult as ScreeningRow
from domain.ledger.accounts import WalletView, wallets_of, wallets_of_users
from domain.payments import repo as payment_repo
from domain.payments.repo import Payment as PaymentRow
from domain.shared.money import at_scale
from domain.shared.pagination import decode_id_cursor
from domain.trading import queries as trading_queries
from domain.trading.models import TradingAccount as AccountRow
from schema.clients.ids import user_id_of
from schema.context import Context
from schema.errors import UserError
from schema.ledger.types import Wallet
from schema.loaders import register_loader
from schema.node import DATABASE_ID_DOC, Node, bare_id_deprecation, global_id
from schema.pagination import Connection, page_request, to_connection
from schema.payments.types import Payment, PaymentDirection, PaymentStatus
from schema.permissions import Requires
from schema.plain_fields import prefetched

WALLETS_BY_USER = "WalletsByUserIdLoader"
WALLETS_PERMISSION = "ledger.read"  # ClientSummary.wallets


@register_loader(WALLETS_BY_USER)
async def _load_wallets(session: AsyncSession, user_ids: Sequence[int]) -> list[list[WalletView]]:
    found = await wallets_of_users(session, user_ids)
    return [found[uid] for uid in user_ids]


CLIENT_SUMMARY_BY_USER = "ClientSummaryByUserIdLoader"  # Payment.client


@register_loader(CLIENT_SUMMARY_BY_USER)
async def _load_summaries(session: AsyncSession, user_ids: Sequence[int]) -> list[ClientSummary | None]:
    rows = await session.execute(select(*client_lists.COLUMNS).where(m.Client.user_id.in_(user_ids)))
    found = {r.user_id: ClientSummary.from_row(ListedClient(**r._asdict())) for r in rows}
    return [found.get(uid) for uid in user_ids]


def _payment_key(p: PaymentRow) -> tuple[dt.datetime, int]:
    return p.created_at, p.id


@strawberry.enum
class ClientStatus(Enum):
    LEAD = "lead"
    REGISTERED = "registered"
    EMAIL_VERIFIED = "email_verified"
    PROFILE_COMPLETE = "profile_complete"
    DOCUMENTS_SUBMITTED = "documents_submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    MORE_INFO_REQUIRED = "more_info_required"
    ACTIVE = "active"
    DORMANT = "dormant"
    CLOSED = "closed"
    BLOCKED = "blocked"


_STATUSES = {s.value: s for s in ClientStatus}


@strawberry.enum
class ReviewDecision(Enum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_INFO = "request_info"


@strawberry.input
class AttributionInput:
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    referrer: str = ""
    landing_page: str = ""
    ib_code: str = ""


@strawberry.input
class LeadInput:
    email: str
    first_name: str = ""
    last_name: str = ""
    country: str | None = None
    language: str | None = None
    attribution: AttributionInput | None = None


@strawberry.input
class RegisterClientInput:
    email: str
    password: str
    display_name: str = ""
    corporate: bool = False
    attribution: AttributionInput | None = None
    cookie: bool = strawberry.field(default=False, description=(
        "Set httpOnly cookies instead of returning tokens (browser portals), as `login(cookie: true)`."))


@strawberry.input
class TaxResidencyInput:
    country: str
    tin: str


@strawberry.input
class DirectorInput:
    first_name: str
    last_name: str
    date_of_birth: dt.date | None = None
    country: str | None = None


@strawberry.input
class CompanyInput:
    name: str
    registration_number: str
    country: str
    directors: list[DirectorInput]
    incorporated_on: dt.date | None = None


@strawberry.input
class ProfileInput:
    first_name: str
    last_name: str
    date_of_birth: dt.date
    country: str
    phone: str
    address_line: str
    city: str
    postal_code: str
    tax_residencies: list[TaxResidencyInput]
    employment_status: str
    source_of_funds: str
    occupation: str = ""
    company: CompanyInput | None = None
    nationality: str | None = strawberry.field(default=None, description=(
        "ISO 3166 alpha-2 (or alpha-3) country of nationality; screening weighs it, goAML reports carry it."))


@strawberry.input
class AnswerInput:
    question: str
    option: str


@strawberry.type
class StatusEntry:
    from_status: ClientStatus | None
    to_status: ClientStatus
    reason: str
    actor_kind: str
    at: dt.datetime

    @classmethod
    def from_row(cls, r: m.StatusChange) -> StatusEntry:
        return cls(from_status=ClientStatus(r.from_status) if r.from_status else None,
                   to_status=ClientStatus(r.to_status), reason=r.reason, actor_kind=r.actor_kind, at=r.created_at)


@strawberry.type
class ClientDocument(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    kind: str
    status: str
    reject_reason: str | None
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    expires_on: dt.date | None
    uploaded_at: dt.datetime

    @classmethod
    def from_row(cls, r: m.Document) -> ClientDocument:
        return cls(id=global_id("ClientDocument", r.id), database_id=strawberry.ID(str(r.id)), kind=r.kind,
                   status=r.status, reject_reason=r.reject_reason,
                   filename=r.filename, content_type=r.content_type, size_bytes=r.size_bytes, sha256=r.sha256,
                   expires_on=r.expires_on, uploaded_at=r.created_at)


@strawberry.type
class ScreeningHit(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    client_id: strawberry.ID = strawberry.field(description="The client's global id (Client360.id).")
    list_name: str
    list_version: str
    matcher_version: str
    score: float
    threshold: float
    entity_id: str | None
    entity_caption: str | None
    topics: list[str]
    status: str
    at: dt.datetime

    @strawberry.field(description="The client's user id (beside clientId).")
    async def user_id(self, info: Info[Any, Any]) -> strawberry.ID | None:
        return await user_id_of(info, self.client_id)

    @classmethod
    def from_row(cls, r: ScreeningRow) -> ScreeningHit:
        return cls(id=global_id("ScreeningHit", r.id), database_id=strawberry.ID(str(r.id)),
                   client_id=global_id("Client360", r.client_id), list_name=r.list_name,
                   list_version=r.list_version, matcher_version=r.matcher_version, score=float(r.score),
                   threshold=float(r.threshold), entity_id=r.entity_id, entity_caption=r.entity_caption,
                   topics=list(r.topics), status=r.status, at=r.created_at)


@strawberry.type
class LiveAccount:
    id: strawberry.ID = strawberry.field(description="The trading account's global id (TradingAccount.id).")
    login: str
    group: str
    leverage: int
    currency: str
    account_type_code: str | None = strawberry.field(
        default=None, description="The account type chosen when opening it (accountTypes' code).")

    @classmethod
    def from_row(cls, r: AccountRow) -> LiveAccount:
        return cls(id=global_id("TradingAccount", r.id), login=str(r.login), group=r.group, leverage=r.leverage,
                   currency=r.currency, account_type_code=r.account_type_code)

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> LiveAccount:
        """From a raw row of domain.trading.queries.ACCOUNT_COLUMNS."""
        return cls(id=global_id("TradingAccount", r["id"]), login=str(r["login"]), group=r["group"],
                   leverage=r["leverage"], currency=r["currency"], account_type_code=r["account_type_code"])


@strawberry.type
class CommunicationEntry:
    id: strawberry.ID
    client_id: strawberry.ID = strawberry.field(description="The client's global id (Client360.id).")
    kind: str
    direction: str
    subject: str
    body: str
    author_user_id: strawberry.ID | None
    at: dt.datetime

    @strawberry.field(description="The client's user id (beside clientId).")
    async def user_id(self, info: Info[Any, Any]) -> strawberry.ID | None:
        return await user_id_of(info, self.client_id)

    @strawberry.field(permission_classes=[Requires("clients.read")],
                      description="The author's display name now (needs clients.read; null for the system or an "
                                  "author without one). One statement for a whole page.")
    async def author_name(self, info: Info[Any, Any]) -> str | None:
        if self.author_user_id is None:
            return None
        from schema.audit.types import DISPLAY_NAMES

        name: str | None = await info.context.loaders.get(DISPLAY_NAMES).load(int(self.author_user_id))
        return name

    @classmethod
    def from_row(cls, r: m.Communication) -> CommunicationEntry:
        return cls(id=strawberry.ID(str(r.id)), client_id=global_id("Client360", r.client_id), kind=r.kind,
                   direction=r.direction, subject=r.subject, body=r.body,
                   author_user_id=strawberry.ID(str(r.author_user_id)) if r.author_user_id else None,
                   at=r.created_at)


@strawberry.type
class QuestionnaireResult:
    score: int
    risk_category: str
    blocked_products: list[str]
    at: dt.datetime

    @classmethod
    def from_row(cls, r: m.QuestionnaireResponse) -> QuestionnaireResult:
        return cls(score=r.score, risk_category=r.risk_category, blocked_products=list(r.blocked_products),
                   at=r.created_at)


@strawberry.type
class QuestionOption:
    id: str
    text: str


@strawberry.type
class Question:
    id: str
    text: str
    options: list[QuestionOption]


@strawberry.type
class QuestionnaireDefinition:
    version: int
    questions: list[Question]


@strawberry.type(description="A client as the client sees themselves.")
class MyClient(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    status: ClientStatus
    kind: str
    first_name: str
    last_name: str
    country: str | None
    nationality: str | None = strawberry.field(description="ISO 3166 alpha-2, when given.")
    date_of_birth: dt.date | None
    risk_category: str | None
    blocked_products: list[str]

    @classmethod
    def from_row(cls, c: m.Client) -> MyClient:
        return cls(id=global_id("MyClient", c.id), database_id=strawberry.ID(str(c.id)), status=ClientStatus(c.status),
                   kind=c.kind,
                   first_name=c.first_name, last_name=c.last_name, country=c.country,
                   nationality=(c.profile or {}).get("nationality"),
                   date_of_birth=c.date_of_birth, risk_category=c.risk_category,
                   blocked_products=list(c.blocked_products))


@strawberry.type(description="A client as staff see them (list rows).")
class ClientSummary(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    user_id: strawberry.ID = strawberry.field(description="The client's user id (beside the client id).")
    status: ClientStatus
    kind: str
    name: str
    country: str | None
    desk: str | None
    risk_level: str | None
    created_at: dt.datetime

    # Set by a list that read its page's wallets with the page (`summary_with_wallets`); else a loader batch.
    prefetched_wallets: strawberry.Private[list[Wallet] | None] = None

    @strawberry.field(permission_classes=[Requires(WALLETS_PERMISSION)], metadata=prefetched("prefetched_wallets"),
                      description="The client's wallets with their balances (needs ledger.read).")
    def wallets(self, info: strawberry.Info[Context, Any]) -> list[Wallet] | None:
        # A plain function, so a prefetched row costs no coroutine; otherwise it answers an awaitable
        # (graphql-core awaits it): one statement for the whole page's wallets, never one per row.
        if self.prefetched_wallets is not None:
            return self.prefetched_wallets
        return cast(list[Wallet], self._load_wallets(info))

    async def _load_wallets(self, info: strawberry.Info[Context, Any]) -> list[Wallet]:
        views = await info.context.loaders.get(WALLETS_BY_USER).load(int(self.user_id))
        return [Wallet.of(w) for w in views]

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> ClientSummary:
        """From a raw row of domain.clients.lists.SQL_COLUMNS (the staff list's hot read)."""
        cid, uid, status, kind, first, last, country, desk, risk_level, created_at = (
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
        return cls(id=global_id("ClientSummary", cid), database_id=strawberry.ID(str(cid)),
                   user_id=strawberry.ID(str(uid)), status=_STATUSES[status], kind=kind,
                   name=f"{first} {last}".strip(), country=country, desk=desk, risk_level=risk_level,
                   created_at=created_at)

    @classmethod
    def from_row(cls, c: m.Client | ListedClient) -> ClientSummary:
        return cls(id=global_id("ClientSummary", c.id), database_id=strawberry.ID(str(c.id)),
                   user_id=strawberry.ID(str(c.user_id)), status=ClientStatus(c.status), kind=c.kind, name=c.full_name,
                   country=c.country, desk=c.desk, risk_level=c.risk_level, created_at=c.created_at)


def summary_with_wallets(item: WithWallets) -> ClientSummary:
    """A listed client with the wallets its page read in the same statement (domain.clients.lists
    `newest_with_wallets`), as `Wallet.of` shows them."""
    summary = ClientSummary.from_record(item.client)
    summary.prefetched_wallets = [_PageWallet(w) for w in item.wallets]
    return summary


class _PageWallet(Wallet):
    """A wallet read with a list page, its fields computed when read (as `Wallet.of` would set them):
    a page selects few of them (the staff list: currency, balance, available), and each costs a
    rescale or an id encoding. The row carries the wallet after the client's SQL_COLUMNS."""

    def __init__(self, row: asyncpg.Record) -> None:
        self._row = row

    @property
    def id(self) -> strawberry.ID:  # type: ignore[override]
        return global_id("Wallet", self._row[10])

    @property
    def database_id(self) -> strawberry.ID:  # type: ignore[override]
        return strawberry.ID(str(self._row[10]))

    @property
    def currency(self) -> str:  # type: ignore[override]
        return str(self._row[11])

    @property
    def balance(self) -> Decimal:  # type: ignore[override]
        return at_scale(self._row[12], self._row[11])

    @property
    def held(self) -> Decimal:  # type: ignore[override]
        return at_scale(self._row[13], self._row[11])

    @property
    def available(self) -> Decimal:  # type: ignore[override]
        return at_scale(self._row[12] - self._row[13], self._row[11])


@strawberry.type(description="The client-360 view: profile, history, documents, screening, accounts, notes.")
class Client360(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    user_id: strawberry.ID = strawberry.field(description="The client's user id (beside the client id).")
    status: ClientStatus
    kind: str
    email: str
    first_name: str
    last_name: str
    date_of_birth: dt.date | None
    country: str | None
    nationality: str | None = strawberry.field(description="ISO 3166 alpha-2, when the client gave it.")
    desk: str | None
    phone: str | None
    profile_json: strawberry.scalars.JSON
    attribution: strawberry.scalars.JSON
    risk_category: str | None
    risk_level: str | None
    review_round: int
    questionnaire: QuestionnaireResult | None
    kyc: KycStatus | None = None
    owner_user_id: strawberry.Private[int] = 0

    @strawberry.field(description="Status changes in the order they happened.")
    async def status_history(self, info: strawberry.Info[Context, Any], first: int | None = None,
                             after: str | None = None, last: int | None = None,
                             before: str | None = None) -> Connection[StatusEntry]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            page = await client_status.history(session, int(self.database_id), req)
        return to_connection(page, StatusEntry.from_row, lambda r: (r.id,))

    @strawberry.field(description="Documents in upload order.")
    async def documents(self, info: strawberry.Info[Context, Any], first: int | None = None,
                        after: str | None = None, last: int | None = None,
                        before: str | None = None) -> Connection[ClientDocument]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            page = await client_documents.for_client(session, int(self.database_id), req)
        return to_connection(page, ClientDocument.from_row, lambda d: (d.id,))

    @strawberry.field(description="Sanctions and PEP screening hits in the order they were found.")
    async def screening(self, info: strawberry.Info[Context, Any], first: int | None = None,
                        after: str | None = None, last: int | None = None,
                        before: str | None = None) -> Connection[ScreeningHit]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            page = await screening_results.for_client(session, int(self.database_id), req)
        return to_connection(page, ScreeningHit.from_row, lambda h: (h.id,))

    @strawberry.field(description="The client's trading accounts in the order they were opened.")
    async def accounts(self, info: strawberry.Info[Context, Any], first: int | None = None,
                       after: str | None = None, last: int | None = None,
                       before: str | None = None) -> Connection[LiveAccount]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await trading_queries.accounts_of(session, self.owner_user_id, req)
        return to_connection(page, LiveAccount.from_record, lambda a: (a["created_at"], a["id"]))

    @strawberry.field(description="Notes, calls, e-mails and messages, newest first.")
    async def communications(self, info: strawberry.Info[Context, Any], first: int | None = None,
                             after: str | None = None, last: int | None = None,
                             before: str | None = None) -> Connection[CommunicationEntry]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await client_communications.for_client(session, int(self.database_id), req)
        return to_connection(page, CommunicationEntry.from_row, lambda c: (c.created_at, c.id))

    @strawberry.field(permission_classes=[Requires("ledger.read")],
                      description="The client's wallets with their balances (needs ledger.read).")
    async def wallets(self, info: strawberry.Info[Context, Any]) -> list[Wallet] | None:
        async with info.context.session() as session:
            return [Wallet.of(w) for w in await wallets_of(session, self.owner_user_id)]

    @strawberry.field(permission_classes=[Requires("payments.read")],
                      description="The client's deposits and withdrawals, newest first, optionally only some "
                                  "statuses or one direction (needs payments.read).")
    async def payments(self, info: strawberry.Info[Context, Any], first: int | None = None,
                       after: str | None = None, last: int | None = None, before: str | None = None,
                       status: list[PaymentStatus] | None = None,
                       direction: PaymentDirection | None = None) -> Connection[Payment] | None:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await payment_repo.list_for_user(
                session, self.owner_user_id, page=req,
                statuses=[s.value for s in status] if status else None,
                direction=direction.value if direction is not None else None)
        return to_connection(page, Payment.of, _payment_key)


@strawberry.type
class LeadPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RegisterClientPayload:
    client: MyClient | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = strawberry.field(default=None, description="Seconds the access token (or cookie) lasts.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MyClientPayload:
    client: MyClient | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ClientPayload:
    client: ClientSummary | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DocumentPayload:
    document: ClientDocument | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class QuestionnairePayload:
    result: QuestionnaireResult | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ScreeningHitPayload:
    hit: ScreeningHit | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LiveAccountPayload:
    account: LiveAccount | None = None
    status: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CommunicationPayload:
    communication: CommunicationEntry | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ConfigPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The KYC provider's applicant for a client and its latest verdict.")
class KycStatus:
    provider: str
    applicant_id: str
    verdict: str | None
    reject_type: str | None
    reason: str | None
    verdict_at: dt.datetime | None

    @classmethod
    def from_row(cls, r: m.KycApplicant) -> KycStatus:
        return cls(provider=r.provider, applicant_id=r.applicant_id, verdict=r.verdict, reject_type=r.reject_type,
                   reason=r.reason, verdict_at=r.verdict_at)


@strawberry.type(description="What the provider's SDK needs to run the verification in the client's app.")
class KycVerification:
    provider: str
    applicant_id: str
    access_token: str


@strawberry.type
class KycVerificationPayload:
    verification: KycVerification | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LeverageRequest(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    account_id: strawberry.ID = strawberry.field(deprecation_reason=bare_id_deprecation("tradingAccountId"))
    trading_account_id: strawberry.ID = strawberry.field(description="The TradingAccount's global id.")
    from_leverage: int
    to_leverage: int
    cap: int | None
    status: str
    auto_approved: bool
    reason: str
    created_at: dt.datetime
    applied_at: dt.datetime | None

    @classmethod
    def from_row(cls, r: m.LeverageRequest) -> LeverageRequest:
        return cls(id=global_id("LeverageRequest", r.id), database_id=strawberry.ID(str(r.id)),
                   account_id=strawberry.ID(str(r.trading_account_id)),
                   trading_account_id=global_id("TradingAccount", r.trading_account_id),
                   from_leverage=r.from_leverage, to_leverage=r.to_leverage, cap=r.cap, status=r.status,
                   auto_approved=r.auto_approved, reason=r.reason, created_at=r.created_at, applied_at=r.applied_at)


@strawberry.type
class LeverageRequestPayload:
    request: LeverageRequest | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SalesRule(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    desk: str
    country: str | None
    language: str | None
    priority: int
    assignee_ids: list[strawberry.ID] = strawberry.field(deprecation_reason=bare_id_deprecation("assigneeStaffUserIds"))
    assignee_staff_user_ids: list[strawberry.ID] = strawberry.field(
        description="The staff users leads are dealt to, in turn: their global ids (StaffUser.id).")

    @classmethod
    def from_row(cls, r: m.SalesRule) -> SalesRule:
        return cls(id=global_id("SalesRule", r.id), database_id=strawberry.ID(str(r.id)), desk=r.desk,
                   country=r.country, language=r.language, priority=r.priority,
                   assignee_ids=[strawberry.ID(str(a)) for a in r.assignees],
                   assignee_staff_user_ids=[global_id("StaffUser", a) for a in r.assignees])


@strawberry.type
class SalesRulePayload:
    rule: SalesRule | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PublishQuestionnairePayload:
    version: int | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Which client statuses may deposit and withdraw in a jurisdiction ('*': every "
                             "jurisdiction without a gate of its own, and clients whose country is not known yet).")
class PaymentStatusGate:
    jurisdiction: str
    deposit_statuses: list[ClientStatus]
    withdrawal_statuses: list[ClientStatus]
    built_in: bool = strawberry.field(description="The built-in default (no '*' gate has been set).")
    updated_at: dt.datetime | None

    @classmethod
    def of(cls, g: Gate) -> PaymentStatusGate:
        return cls(jurisdiction=g.jurisdiction, deposit_statuses=[ClientStatus(s) for s in g.deposit_statuses],
                   withdrawal_statuses=[ClientStatus(s) for s in g.withdrawal_statuses], built_in=g.built_in,
                   updated_at=g.updated_at)


@strawberry.type
class PaymentStatusGatePayload:
    gate: PaymentStatusGate | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
