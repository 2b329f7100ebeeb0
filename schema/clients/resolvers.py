"""Client lifecycle: lead capture, registration and email verification, profile, documents,
questionnaire, submission, compliance decisions, live accounts, communications, configuration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar, cast

import asyncpg
import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.clients import (
    accounts,
    communications,
    config,
    documents,
    kyc,
    leads,
    payment_gates,
    profile,
    questionnaire,
    review,
)
from domain.clients import leverage as lev
from domain.clients import lists as client_lists
from domain.clients.access import client_for, own_client, visible_filter
from domain.clients.errors import ClientNotFound, InvalidConfiguration
from domain.clients.models import Client, KycApplicant
from domain.clients.models import Communication as CommunicationRow
from domain.clients.models import LeverageRequest as LeverageRow
from domain.clients.models import SalesRule as SalesRuleRow
from domain.clients.registration import register_client, verify_email
from domain.clients.status import Status
from domain.clients.storage import default_store
from domain.identity import sessions
from domain.identity.models import User
from domain.shared.actor import ActorKind
from domain.shared.errors import DomainError
from domain.shared.pagination import decode_id_cursor
from domain.trading.models import TradingAccount
from schema.clients.ids import CLIENT_TYPES, client_key
from schema.clients.staff import ClientStaffMutations, ClientStaffQueries
from schema.clients.types import (
    WALLETS_PERMISSION,
    AnswerInput,
    AttributionInput,
    Client360,
    ClientDocument,
    ClientPayload,
    ClientStatus,
    ClientSummary,
    CommunicationEntry,
    CommunicationPayload,
    ConfigPayload,
    DocumentPayload,
    KycStatus,
    KycVerification,
    KycVerificationPayload,
    LeadInput,
    LeadPayload,
    LeverageRequest,
    LeverageRequestPayload,
    LiveAccount,
    LiveAccountPayload,
    MyClient,
    MyClientPayload,
    PaymentStatusGate,
    PaymentStatusGatePayload,
    ProfileInput,
    PublishQuestionnairePayload,
    Question,
    QuestionnaireDefinition,
    QuestionnairePayload,
    QuestionnaireResult,
    QuestionOption,
    RegisterClientInput,
    RegisterClientPayload,
    ReviewDecision,
    SalesRule,
    SalesRulePayload,
    summary_with_wallets,
)
from schema.context import Context
from schema.errors import PublicError, UserError, declares_errors, payload_or_errors, user_error
from schema.identity.resolvers import set_auth_cookies
from schema.node import AnyId, global_id, key_of, node_type, query_key, referenced_key
from schema.pagination import Connection, empty_connection, page_request, selects_below, to_connection
from schema.permissions import IsAuthenticated, Requires

P = TypeVar("P")

SearchWords = Annotated[str | None, strawberry.argument(description=(
    "Word-prefix search: every word of it (words are split at spaces; letters compared lower-cased and "
    "without accents) must start one of the client's words: a word of the name, the whole e-mail address, "
    "the pieces of its local part after the first (split at . _ + -), its domain, the phone's digits "
    "with and without the country code, or the client's number. Not substrings: 'lee' finds Lee and "
    "Leeds, not Ashlee. Text of phone characters only (digits, spaces, + ( ) - .) is one word of its "
    "digits. At most 100 characters, with a word of 3 at least."))]
Ctx = Info[Context, Any]


async def _mutate(ctx: Context, fn: Callable[[AsyncSession], Awaitable[P]],
                  failed: Callable[[list[UserError]], P]) -> P:
    async def work() -> P:
        return await ctx.transaction(fn)

    return await payload_or_errors(work, failed)


def _today() -> date:
    return datetime.now(UTC).date()


def _attribution(a: AttributionInput | None) -> leads.Attribution:
    if a is None:
        return leads.Attribution()
    return leads.Attribution(a.utm_source, a.utm_medium, a.utm_campaign, a.utm_content, a.referrer,
                             a.landing_page, a.ib_code)


def _profile(p: ProfileInput) -> profile.ProfileInput:
    company = None
    if p.company is not None:
        company = profile.Company(p.company.name, p.company.registration_number, p.company.country,
                                  [profile.Director(d.first_name, d.last_name, d.date_of_birth, d.country)
                                   for d in p.company.directors], p.company.incorporated_on)
    return profile.ProfileInput(
        first_name=p.first_name, last_name=p.last_name, date_of_birth=p.date_of_birth, country=p.country,
        phone=p.phone, address_line=p.address_line, city=p.city, postal_code=p.postal_code,
        tax_residencies=[profile.TaxResidency(t.country, t.tin) for t in p.tax_residencies],
        employment_status=p.employment_status, source_of_funds=p.source_of_funds, occupation=p.occupation,
        company=company, nationality=p.nationality)


async def client_360(session: AsyncSession, client: Client) -> Client360:
    user = await session.get(User, client.user_id)
    assert user is not None
    answered = await questionnaire.latest(session, client.id)
    applicant = await session.get(KycApplicant, client.id)
    return Client360(
        id=global_id("Client360", client.id), database_id=strawberry.ID(str(client.id)),
        user_id=strawberry.ID(str(client.user_id)),
        status=ClientStatus(client.status), kind=client.kind, email=user.email,
        first_name=client.first_name, last_name=client.last_name, date_of_birth=client.date_of_birth,
        country=client.country, nationality=client.profile.get("nationality"), desk=client.desk,
        phone=client.profile.get("phone"),
        profile_json=cast(JSON, client.profile),
        attribution=cast(JSON, client.attribution), risk_category=client.risk_category, risk_level=client.risk_level,
        review_round=client.review_round,
        questionnaire=QuestionnaireResult.from_row(answered) if answered else None,
        kyc=KycStatus.from_row(applicant) if applicant else None, owner_user_id=client.user_id,
    )


def _client_key(c: Client | client_lists.ListedClient) -> tuple[datetime, int]:
    return c.created_at, c.id


def _record_key(r: asyncpg.Record) -> tuple[datetime, int]:
    return r["created_at"], r["id"]


def _listed_key(item: client_lists.WithWallets) -> tuple[datetime, int]:
    return item.client["created_at"], item.client["id"]


def _communication_key(r: CommunicationRow) -> tuple[datetime, int]:
    return r.created_at, r.id


def _leverage_key(r: LeverageRow) -> tuple[datetime, int]:
    return r.created_at, r.id


async def _applied(ctx: Context, row: LeverageRow) -> LeverageRequestPayload:
    """After commit: set an approved change on the platform (a failure is retried by a job)."""
    if row.status == "approved":
        row = await lev.apply(ctx.services.session_factory, ctx.settings, ctx.actor, row.id)
    return LeverageRequestPayload(request=LeverageRequest.from_row(row))


def _sees_clients(ctx: Context) -> bool:
    return ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("clients.read")


async def _visible_clients(ctx: Context, session: AsyncSession, keys: Sequence[int]) -> dict[int, Client]:
    """Clients among `keys` that the staff caller may see (desk scoping, as `client`), one statement."""
    rows = await session.scalars(select(Client).where(Client.id.in_(keys), visible_filter(ctx.actor)))
    return {c.id: c for c in rows}


@node_type("ClientSummary")
async def _summary_nodes(ctx: Context, keys: Sequence[int]) -> list[ClientSummary | None]:
    """Staff with clients.read who may see the client (as `clients`)."""
    if not _sees_clients(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await _visible_clients(ctx, session, keys)
    return [ClientSummary.from_row(c) if (c := found.get(k)) else None for k in keys]


@node_type("Client360")
async def _client_360_nodes(ctx: Context, keys: Sequence[int]) -> list[Client360 | None]:
    """Staff with clients.read who may see the client (as `client`); the 360 view costs what `client` does."""
    if not _sees_clients(ctx):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await _visible_clients(ctx, session, keys)
        return [await client_360(session, c) if (c := found.get(k)) else None for k in keys]


@node_type("ClientDocument")
async def _document_nodes(ctx: Context, keys: Sequence[int]) -> list[ClientDocument | None]:
    """Your own (uploadDocument); staff with clients.read (Client360.documents) or kyc.review (reviewDocument)
    for clients they may see (desk scoping as `client`)."""
    actor = ctx.actor
    if not (actor.kind is ActorKind.CLIENT or (actor.kind is ActorKind.STAFF and (
            actor.has("clients.read") or actor.has("kyc.review")))):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await documents.visible_documents(session, actor, list(keys))
    return [ClientDocument.from_row(d) if (d := found.get(k)) else None for k in keys]


@node_type("LeverageRequest")
async def _leverage_nodes(ctx: Context, keys: Sequence[int]) -> list[LeverageRequest | None]:
    """Your own (myLeverageRequests); staff with trading.manage (pendingLeverageRequests, decisions)."""
    actor = ctx.actor
    dealer = actor.kind is ActorKind.STAFF and actor.has("trading.manage")
    if not dealer and (actor.kind is not ActorKind.CLIENT or actor.user_id is None):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await lev.requests_by_ids(session, list(keys), user_id=None if dealer else actor.user_id)
    return [LeverageRequest.from_row(r) if (r := found.get(k)) else None for k in keys]


@node_type("SalesRule")
async def _sales_rule_nodes(ctx: Context, keys: Sequence[int]) -> list[SalesRule | None]:
    """Staff with config.manage (addSalesRule)."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has("config.manage")):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = {r.id: r for r in await session.scalars(select(SalesRuleRow).where(SalesRuleRow.id.in_(keys)))}
    return [SalesRule.from_row(r) if (r := found.get(k)) else None for k in keys]


@node_type("MyClient")
async def _my_client_nodes(ctx: Context, keys: Sequence[int]) -> list[MyClient | None]:
    """Your own client record only (as `myClient`)."""
    if ctx.actor.user_id is None:
        return [None] * len(keys)
    async with ctx.session() as session:
        rows = await session.scalars(select(Client).where(Client.id.in_(keys), Client.user_id == ctx.actor.user_id))
        found = {c.id: c for c in rows}
    return [MyClient.from_row(c) if (c := found.get(k)) else None for k in keys]


@strawberry.type
class ClientQueries:
    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="Your own client record, if any.")
    async def my_client(self, info: Ctx) -> MyClient | None:
        async with info.context.session() as session:
            try:
                return MyClient.from_row(await own_client(session, info.context.actor))
            except DomainError:
                return None

    @strawberry.field(permission_classes=[IsAuthenticated],
                      description="Your uploaded documents in upload order, each with its review status (and the "
                                  "reason when rejected); empty when you have no client record.")
    async def my_documents(self, info: Ctx, first: int | None = None, after: str | None = None,
                           last: int | None = None, before: str | None = None) -> Connection[ClientDocument]:
        req = page_request(info, first, after, last, before, decode=decode_id_cursor)
        async with info.context.session() as session:
            try:
                mine = await own_client(session, info.context.actor)
            except DomainError:
                return empty_connection()
            page = await documents.for_client(session, mine.id, req)
        return to_connection(page, ClientDocument.from_row, lambda d: (d.id,))

    @strawberry.field(description="The active appropriateness questionnaire.")
    async def questionnaire(self, info: Ctx) -> QuestionnaireDefinition:
        async with info.context.session() as session, session.begin():
            row = await questionnaire.active(session)
        questions = [Question(id=q["id"], text=q["text"], options=[QuestionOption(id=o["id"], text=o["text"])
                                                                   for o in q["options"]])
                     for q in row.definition["questions"]]
        return QuestionnaireDefinition(version=row.version, questions=questions)

    @strawberry.field(permission_classes=[Requires("clients.read")], description="The client-360 view.")
    async def client(self, info: Ctx, id: AnyId) -> Client360 | None:
        key = query_key(id, *CLIENT_TYPES)
        async with info.context.session() as session:
            try:
                found = await client_for(session, info.context.actor, key)
            except DomainError:
                raise PublicError("Client not found.", "NOT_FOUND") from None
            return await client_360(session, found)

    @strawberry.field(permission_classes=[Requires("clients.read")],
                      description="Clients you may see, newest first; optionally by status, country (ISO 3166 "
                                  "code) and desk, and narrowed by `search` (word prefixes: see the argument). "
                                  "With `search`, `totalCount` is exact when one of its words starts few "
                                  "clients' words, null where counting would read too many clients.")
    async def clients(self, info: Ctx, status: ClientStatus | None = None, first: int | None = None,
                      after: str | None = None, last: int | None = None, before: str | None = None,
                      country: str | None = None, desk: str | None = None,
                      search: SearchWords = None) -> Connection[ClientSummary]:
        req = page_request(info, first, after, last, before)
        criteria = client_lists.client_filter(status=Status(status.value) if status is not None else None,
                                              country=country, desk=desk, search=search)
        # The page's wallets are read with it when selected and the caller may see them (checked
        # once here; each row's field still declares and checks ledger.read).
        wallets = info.context.actor.has(WALLETS_PERMISSION) and selects_below(info, "wallets")
        async with info.context.raw_read() as conn:
            if wallets:
                listed = await client_lists.newest_with_wallets(conn, info.context.actor, criteria, req)
                return to_connection(listed, summary_with_wallets, _listed_key)
            page = await client_lists.newest(conn, info.context.actor, criteria, req)
        return to_connection(page, ClientSummary.from_record, _record_key)

    @strawberry.field(permission_classes=[Requires("config.manage")],
                      description="Which client statuses may deposit and withdraw, per jurisdiction; the '*' "
                                  "default first.")
    async def payment_status_gates(self, info: Ctx) -> list[PaymentStatusGate]:
        async with info.context.session() as session:
            return [PaymentStatusGate.of(g) for g in await payment_gates.gates(session)]

    @strawberry.field(permission_classes=[IsAuthenticated.or_token("profile.read")],
                      description="Your leverage change requests, newest first.")
    async def my_leverage_requests(self, info: Ctx, first: int | None = None,
                                   after: str | None = None,
                                   last: int | None = None, before: str | None = None) -> Connection[LeverageRequest]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            try:
                page = await lev.mine(session, info.context.actor, page=req)
            except DomainError:
                return empty_connection()
        return to_connection(page, LeverageRequest.from_row, _leverage_key)

    @strawberry.field(permission_classes=[Requires("trading.manage")],
                      description="Leverage change requests waiting for a dealer, newest first.")
    async def pending_leverage_requests(self, info: Ctx, first: int | None = None,
                                        after: str | None = None, last: int | None = None,
                                        before: str | None = None) -> Connection[LeverageRequest]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await lev.pending(session, page=req)
        return to_connection(page, LeverageRequest.from_row, _leverage_key)

    @strawberry.field(permission_classes=[Requires("kyc.approve")],
                      description="Clients waiting for a compliance decision, oldest first.")
    async def review_queue(self, info: Ctx, first: int | None = None, after: str | None = None,
                           last: int | None = None, before: str | None = None) -> Connection[ClientSummary]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await review.review_queue(session, req)
        return to_connection(page, ClientSummary.from_row, _client_key)

    @strawberry.field(permission_classes=[Requires("clients.read"), Requires("clients.notes")],
                      description="Search notes, calls, emails (system emails included) and messages of the "
                                  "clients you may see, newest first: every word of `query` in the subject or "
                                  "body, one client, some kinds, created in [since, until).")
    async def search_communications(self, info: Ctx, query: str = "", client_id: strawberry.ID | None = None,
                                    kinds: list[str] | None = None, since: datetime | None = None,
                                    until: datetime | None = None, first: int | None = None,
                                    after: str | None = None, last: int | None = None,
                                    before: str | None = None) -> Connection[CommunicationEntry]:
        req = page_request(info, first, after, last, before)
        criteria = communications.SearchFilter(
            text=query, client_id=client_key(client_id, "clientId") if client_id is not None else None,
            kinds=tuple(kinds or ()), since=since, until=until)
        async with info.context.session() as session:  # a DomainError is shown with its code
            page = await communications.search(session, info.context.actor, criteria, page=req)
        return to_connection(page, CommunicationEntry.from_row, _communication_key)


@strawberry.type
class ClientMutations:
    @declares_errors("DISPOSABLE_EMAIL", "INVALID_COUNTRY", "INVALID_EMAIL")
    @strawberry.mutation(description="Record a lead (public): deduped by email, attributed, assigned to sales.")
    async def capture_lead(self, info: Ctx, input: LeadInput) -> LeadPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> LeadPayload:
            await leads.capture_lead(session, ctx.actor, leads.LeadInput(
                input.email, input.first_name, input.last_name, input.country, input.language,
                _attribution(input.attribution)))
            return LeadPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: LeadPayload(errors=e))

    @declares_errors(
        "ACCOUNT_DISABLED", "DISPOSABLE_EMAIL", "DUPLICATE_REGISTRATION", "EMAIL_TAKEN",
        "IB_CHANGE_BEFORE_LAST_CHANGE", "IB_CLIENT_ALREADY_ATTRIBUTED", "IB_CLIENT_NOT_FOUND",
        "IB_REFERRAL_CODE_UNKNOWN", "IB_SELF_REFERRAL", "INVALID_CREDENTIALS", "INVALID_EMAIL",
        "PASSWORD_LOGIN_DISABLED", "RATE_LIMITED", "TOTP_INVALID", "TOTP_REPLAYED", "TOTP_REQUIRED", "WEAK_PASSWORD",
    )
    @strawberry.mutation(description="Register as a client; a verification link is emailed.")
    async def register_client(self, info: Ctx, input: RegisterClientInput) -> RegisterClientPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> tuple[Client, sessions.Tokens | None, DomainError | None]:
            client = await register_client(session, ctx.settings, ctx.actor, email=input.email,
                                           password=input.password, display_name=input.display_name,
                                           kind="corporate" if input.corporate else "individual",
                                           attribution=_attribution(input.attribution))
            user = await session.get(User, client.user_id)
            assert user is not None
            outcome = await sessions.login(session, ctx.settings, ctx.services.redis, ctx.actor, email=user.email,
                                           password=input.password, totp_code=None, device="registration")
            return client, outcome.value, outcome.error

        async def work() -> RegisterClientPayload:
            client, tokens, error = await ctx.transaction(txn)
            if tokens is None:
                return RegisterClientPayload(client=MyClient.from_row(client),
                                             errors=[user_error(error)] if error else [])
            if input.cookie:
                set_auth_cookies(ctx, tokens)
                return RegisterClientPayload(client=MyClient.from_row(client), expires_in=tokens.expires_in)
            return RegisterClientPayload(client=MyClient.from_row(client), access_token=tokens.access_token,
                                         refresh_token=tokens.refresh_token, expires_in=tokens.expires_in)

        return await payload_or_errors(work, lambda e: RegisterClientPayload(errors=e))

    @declares_errors("INVALID_STATUS_TRANSITION", "TOKEN_INVALID")
    @strawberry.mutation(description="Confirm your email address with the token from the emailed link.")
    async def verify_client_email(self, info: Ctx, token: str) -> MyClientPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> MyClientPayload:
            return MyClientPayload(client=MyClient.from_row(await verify_email(session, ctx.actor, token)))

        return await _mutate(ctx, txn, lambda e: MyClientPayload(errors=e))

    @declares_errors(
        "INVALID_COUNTRY", "INVALID_PHONE", "INVALID_STATUS_TRANSITION", "JURISDICTION_NOT_SERVED", "NOT_FOUND",
        "UNDER_AGE", "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Complete or correct your profile.")
    async def update_my_profile(self, info: Ctx, input: ProfileInput) -> MyClientPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> MyClientPayload:
            client = await own_client(session, ctx.actor, lock=True)
            await profile.update_profile(session, ctx.settings, ctx.actor, client, _profile(input), _today())
            return MyClientPayload(client=MyClient.from_row(client))

        return await _mutate(ctx, txn, lambda e: MyClientPayload(errors=e))

    @declares_errors(
        "DOCUMENT_EMPTY", "DOCUMENT_TOO_LARGE", "DOCUMENT_TYPE_REFUSED", "INVALID_STATUS_TRANSITION", "NOT_FOUND",
        "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Upload a KYC document (GraphQL multipart request): PDF, JPEG, PNG, WebP, HEIC.")
    async def upload_document(self, info: Ctx, kind: str, file: Upload,
                              expires_on: date | None = None) -> DocumentPayload:
        ctx = info.context
        # One byte over the limit is enough to refuse it without reading a huge body into memory.
        data: bytes = await file.read(documents.MAX_BYTES + 1)  # type: ignore[attr-defined]
        filename = str(getattr(file, "filename", "") or "")

        async def txn(session: AsyncSession) -> DocumentPayload:
            client = await own_client(session, ctx.actor, lock=True)
            doc = await documents.upload(session, ctx.settings, default_store(ctx.settings), ctx.actor, client,
                                         kind=kind, filename=filename, data=data, expires_on=expires_on,
                                         today=_today())
            return DocumentPayload(document=ClientDocument.from_row(doc))

        return await _mutate(ctx, txn, lambda e: DocumentPayload(errors=e))

    @declares_errors("INVALID_QUESTIONNAIRE_ANSWERS", "INVALID_STATUS_TRANSITION", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Answer the questionnaire.")
    async def submit_questionnaire(self, info: Ctx, answers: list[AnswerInput]) -> QuestionnairePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> QuestionnairePayload:
            client = await own_client(session, ctx.actor, lock=True)
            given = {a.question: a.option for a in answers}
            return QuestionnairePayload(result=QuestionnaireResult.from_row(
                await questionnaire.submit(session, ctx.actor, client, given)))

        return await _mutate(ctx, txn, lambda e: QuestionnairePayload(errors=e))

    @declares_errors("INVALID_STATUS_TRANSITION", "NOT_FOUND", "ONBOARDING_STEP_INCOMPLETE")
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Submit your application for review.")
    async def submit_application(self, info: Ctx) -> MyClientPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> MyClientPayload:
            client = await own_client(session, ctx.actor, lock=True)
            return MyClientPayload(client=MyClient.from_row(await review.submit(session, ctx.actor, client)))

        return await _mutate(ctx, txn, lambda e: MyClientPayload(errors=e))

    @declares_errors("INVALID_STATUS_TRANSITION", "NOT_FOUND", "ONBOARDING_STEP_INCOMPLETE")
    @strawberry.mutation(permission_classes=[Requires("clients.update")],
                         description="Submit a client's application on their behalf.")
    async def submit_client_for_review(self, info: Ctx, client_id: AnyId) -> ClientPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ClientPayload:
            client = await client_for(session, ctx.actor, client_key(client_id, "clientId"), lock=True)
            return ClientPayload(client=ClientSummary.from_row(await review.submit(session, ctx.actor, client)))

        return await _mutate(ctx, txn, lambda e: ClientPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("kyc.review")], description="Accept or reject a document.")
    async def review_document(self, info: Ctx, document_id: AnyId, accept: bool,
                              reason: str = "") -> DocumentPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> DocumentPayload:
            doc = await documents.document_for(session, ctx.actor, key_of(document_id, "ClientDocument",
                                                                          field="documentId"))
            return DocumentPayload(document=ClientDocument.from_row(
                await documents.review(session, ctx.actor, doc, accept=accept, reason=reason)))

        return await _mutate(ctx, txn, lambda e: DocumentPayload(errors=e))

    @declares_errors(
        "FOUR_EYES_RELATED_APPROVER", "INVALID_STATUS_TRANSITION", "NOT_FOUND", "SCREENING_HIT_UNRESOLVED",
        "SECOND_APPROVER_REQUIRED", "SUBMITTER_CANNOT_APPROVE", "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("kyc.approve")],
                         description="Approve, reject or request more information (four eyes for high risk).")
    async def decide_client(self, info: Ctx, client_id: AnyId, decision: ReviewDecision,
                            reason: str = "") -> ClientPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ClientPayload:
            client = await client_for(session, ctx.actor, client_key(client_id, "clientId"), lock=True)
            verdict = review.Verdict(decision.value)
            return ClientPayload(client=ClientSummary.from_row(
                await review.decide(session, ctx.actor, client, verdict, reason)))

        return await _mutate(ctx, txn, lambda e: ClientPayload(errors=e))

    @declares_errors(
        "ACCOUNT_CURRENCY_NOT_OFFERED", "ACCOUNT_TYPE_NOT_FOUND", "CONFLICT", "INVALID_STATUS_TRANSITION",
        "LEVERAGE_ABOVE_CAP", "NOT_FOUND", "NO_GROUP_MAPPING", "TRADING_UNKNOWN_PLATFORM", "UNKNOWN_CURRENCY",
    )
    @strawberry.mutation(permission_classes=[Requires("trading.manage")],
                         description="Open an approved client's live account (idempotent per key).")
    async def open_live_account(self, info: Ctx, client_id: AnyId, idempotency_key: str = "initial",
                                leverage: int | None = None) -> LiveAccountPayload:
        ctx = info.context

        async def work() -> LiveAccountPayload:
            request = await accounts.open_live_account(
                ctx.services.session_factory, ctx.settings, ctx.actor, client_key(client_id, "clientId"),
                idempotency_key=idempotency_key, leverage=leverage)
            async with ctx.session() as session:
                row = await session.get(TradingAccount, request.trading_account_id) \
                    if request.trading_account_id else None
            return LiveAccountPayload(account=LiveAccount.from_row(row) if row else None, status=request.status)

        return await payload_or_errors(work, lambda e: LiveAccountPayload(errors=e))

    @declares_errors("NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("clients.notes")],
                         description="Log a note, call, email or message on a client.")
    async def log_client_communication(self, info: Ctx, client_id: AnyId, kind: str, body: str,
                                       subject: str = "", direction: str = "internal") -> CommunicationPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> CommunicationPayload:
            client = await client_for(session, ctx.actor, client_key(client_id, "clientId"))
            row = await communications.log(session, ctx.actor, client, kind=kind, body=body, subject=subject,
                                           direction=direction)
            return CommunicationPayload(communication=CommunicationEntry.from_row(row))

        return await _mutate(ctx, txn, lambda e: CommunicationPayload(errors=e))

    @declares_errors("INVALID_BROKERAGE_CONFIGURATION", "INVALID_COUNTRY")
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Set whether a country is served, regulated or high risk.")
    async def set_jurisdiction(self, info: Ctx, country: str, served: bool, regulated: bool, regulator: str = "",
                               high_risk: bool = False, esma_retail_caps: bool = False) -> ConfigPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ConfigPayload:
            await config.set_jurisdiction(session, ctx.actor, country=country, served=served, regulated=regulated,
                                          regulator=regulator, high_risk=high_risk)
            if esma_retail_caps:
                await config.apply_esma_retail(session, ctx.actor, country)
            return ConfigPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: ConfigPayload(errors=e))

    @declares_errors("INVALID_BROKERAGE_CONFIGURATION", "UNKNOWN_CURRENCY")
    @strawberry.mutation(permission_classes=[Requires("config.manage")], description="Define an account type.")
    async def set_account_type(self, info: Ctx, code: str, name: str, pricing: str,
                               currencies: list[str]) -> ConfigPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ConfigPayload:
            await config.set_account_type(session, ctx.actor, code=code, name=name, pricing=pricing,
                                          currencies=currencies)
            return ConfigPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: ConfigPayload(errors=e))

    @declares_errors(
        "INVALID_BROKERAGE_CONFIGURATION", "INVALID_COUNTRY", "NOT_FOUND", "TRADING_SERVER_NOT_FOUND",
        "UNKNOWN_CURRENCY",
    )
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Map (jurisdiction, account type, currency, book, risk category) to a group.")
    async def set_group_mapping(self, info: Ctx, jurisdiction: str, account_type: str, currency: str, book: str,
                                risk_category: str, server_id: strawberry.ID, group_name: str) -> ConfigPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ConfigPayload:
            await config.set_group_mapping(session, ctx.actor, jurisdiction=jurisdiction, account_type=account_type,
                                           currency=currency, book=book, risk_category=risk_category,
                                           server_id=referenced_key(server_id, ClientNotFound, "serverId"),
                                           group_name=group_name)
            return ConfigPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: ConfigPayload(errors=e))

    @declares_errors("INVALID_BROKERAGE_CONFIGURATION", "INVALID_COUNTRY")
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Cap leverage per jurisdiction and asset class, or per risk category.")
    async def set_leverage_cap(self, info: Ctx, scope: str, key: str, asset_class: str,
                               max_leverage: int) -> ConfigPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> ConfigPayload:
            await config.set_leverage_cap(session, ctx.actor, scope=scope, key=key, asset_class=asset_class,
                                          max_leverage=max_leverage)
            return ConfigPayload(ok=True)

        return await _mutate(ctx, txn, lambda e: ConfigPayload(errors=e))


@strawberry.type
class ClientMoreMutations:
    @declares_errors("EXTERNAL_SERVICE_UNAVAILABLE", "INVALID_STATUS_TRANSITION", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Start identity verification: the KYC provider's applicant and SDK token.")
    async def start_kyc_verification(self, info: Ctx) -> KycVerificationPayload:
        ctx = info.context

        async def work() -> KycVerificationPayload:
            made = await kyc.start_verification(ctx.services.session_factory, ctx.actor)
            return KycVerificationPayload(verification=KycVerification(
                provider=made.provider, applicant_id=made.applicant_id, access_token=made.access_token))

        return await payload_or_errors(work, lambda e: KycVerificationPayload(errors=e))

    @declares_errors(
        "INVALID_STATUS_TRANSITION", "LEVERAGE_ABOVE_CAP", "LEVERAGE_REQUEST_PENDING", "NOT_FOUND",
        "TRADING_UNKNOWN_PLATFORM", "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Ask for a different leverage on one of your live accounts.")
    async def request_leverage_change(self, info: Ctx, account_id: strawberry.ID,
                                      leverage: int) -> LeverageRequestPayload:
        ctx = info.context

        async def work() -> LeverageRequestPayload:
            async def txn(session: AsyncSession) -> LeverageRow:
                key = referenced_key(account_id, ClientNotFound, "accountId")
                return await lev.request_change(session, ctx.actor, key, leverage)

            return await _applied(ctx, await ctx.transaction(txn))

        return await payload_or_errors(work, lambda e: LeverageRequestPayload(errors=e))

    @declares_errors(
        "INVALID_ID", "INVALID_STATUS_TRANSITION", "LEVERAGE_ABOVE_CAP", "NOT_FOUND", "TRADING_UNKNOWN_PLATFORM",
        "VALIDATION_FAILED",
    )
    @strawberry.mutation(permission_classes=[Requires("trading.manage")],
                         description="Approve or reject a leverage change waiting for staff.")
    async def decide_leverage_change(self, info: Ctx, id: AnyId, approve: bool,
                                     reason: str = "") -> LeverageRequestPayload:
        ctx = info.context

        async def work() -> LeverageRequestPayload:
            async def txn(session: AsyncSession) -> LeverageRow:
                row = await lev.request_for(session, key_of(id, "LeverageRequest"))
                return await lev.decide(session, ctx.actor, row, approve=approve, reason=reason)

            return await _applied(ctx, await ctx.transaction(txn))

        return await payload_or_errors(work, lambda e: LeverageRequestPayload(errors=e))

    @declares_errors("INVALID_COUNTRY", "INVALID_ID", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Assign new leads by country and language to a desk, round robin among staff.")
    async def add_sales_rule(self, info: Ctx, desk: str, assignee_ids: list[AnyId], country: str | None = None,
                             language: str | None = None, priority: int = 100) -> SalesRulePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> SalesRulePayload:
            ids = [key_of(a, "StaffUser", field="assigneeIds") for a in assignee_ids]
            rule = await leads.add_sales_rule(session, ctx.actor, desk=desk, assignees=ids, country=country,
                                              language=language, priority=priority)
            return SalesRulePayload(rule=SalesRule.from_row(rule))

        return await _mutate(ctx, txn, lambda e: SalesRulePayload(errors=e))

    @declares_errors("INVALID_BROKERAGE_CONFIGURATION", "INVALID_COUNTRY")
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Set which client statuses may deposit and withdraw in a jurisdiction ('*': "
                                     "the default for jurisdictions without a gate and clients of unknown country).")
    async def set_payment_status_gate(self, info: Ctx, jurisdiction: str, deposit_statuses: list[ClientStatus],
                                      withdrawal_statuses: list[ClientStatus]) -> PaymentStatusGatePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> PaymentStatusGatePayload:
            gate = await payment_gates.set_gate(session, ctx.actor, jurisdiction=jurisdiction,
                                                deposit_statuses=[s.value for s in deposit_statuses],
                                                withdrawal_statuses=[s.value for s in withdrawal_statuses])
            return PaymentStatusGatePayload(gate=PaymentStatusGate.of(gate))

        return await _mutate(ctx, txn, lambda e: PaymentStatusGatePayload(errors=e))

    @declares_errors("INVALID_BROKERAGE_CONFIGURATION")
    @strawberry.mutation(permission_classes=[Requires("config.manage")],
                         description="Publish a new version of the appropriateness questionnaire.")
    async def publish_questionnaire(self, info: Ctx, definition: JSON) -> PublishQuestionnairePayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> PublishQuestionnairePayload:
            if not isinstance(definition, dict):
                raise InvalidConfiguration("the definition is an object", field="definition")
            row = await questionnaire.publish(session, ctx.actor, definition)
            return PublishQuestionnairePayload(version=row.version)

        return await _mutate(ctx, txn, lambda e: PublishQuestionnairePayload(errors=e))


QUERIES = (ClientQueries, ClientStaffQueries)
MUTATIONS = (ClientMutations, ClientMoreMutations, ClientStaffMutations)
SUBSCRIPTIONS = ()
