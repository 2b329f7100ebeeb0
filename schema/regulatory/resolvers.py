"""Regulatory reporting over the API (domain/regulatory): the settings and clients' identifiers, which instruments
are MiFIR-reportable, the report files of both regimes (list, status as the trade repository or authority
answered, a signed download link, a MiFIR file's transactions with the feedback on each), a day's rebuild, the
MiFIR feedback (auth.031). Everything
needs `regulatory.reports`; files are firm-wide (no desk scoping), like the reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.clients import document_links
from domain.regulatory import files
from domain.regulatory import instruments as reporting
from domain.regulatory import settings as config
from domain.regulatory.emir import valuation
from domain.regulatory.mifir import feedback
from domain.shared.actor import ActorKind
from domain.shared.money import at_scale
from schema.clients.staff import DocumentViewLink, DocumentViewLinkPayload
from schema.compliance.aml import _run
from schema.context import Context
from schema.errors import UserError, declares_errors
from schema.node import DATABASE_ID_DOC, AnyId, Node, global_id, key_of, node_type, optional_global_id
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires

Ctx = Info[Context, Any]
REPORTS = files.PERMISSION


@strawberry.enum
class RegulatoryReportFileStatus(Enum):
    BUILT = "built"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


@strawberry.enum
class RegulatorySubmissionStatus(Enum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@strawberry.enum
class RegulatoryRegime(Enum):
    EMIR = "emir"
    MIFIR = "mifir"


@strawberry.enum
class MifirTransactionStatus(Enum):
    BUILT = "built"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@strawberry.type(description="One transaction report (one deal) in a MiFIR file, with the authority's feedback.")
class MifirTransaction:
    seq: int
    transaction_reference: str = strawberry.field(description="TxId: S<server>D<deal>.")
    deal_id: strawberry.ID = strawberry.field(description="The MT5 deal it reports (on its server).")
    status: MifirTransactionStatus
    error_codes: list[str] = strawberry.field(description="The validation rules a rejection names.")
    feedback_at: dt.datetime | None
    corrected_by_id: strawberry.ID | None = strawberry.field(
        description="The correction file that resubmitted it after a rejection (RegulatoryReportFile.id).")

    @classmethod
    def of(cls, t: files.MifirTransaction) -> MifirTransaction:
        return cls(seq=t.seq, transaction_reference=t.tx_ref, deal_id=strawberry.ID(str(t.deal_id)),
                   status=MifirTransactionStatus(t.status), error_codes=t.error_codes, feedback_at=t.feedback_at,
                   corrected_by_id=optional_global_id("RegulatoryReportFile", t.corrected_by))


@strawberry.type(description="One file of a day's regulatory reports (EMIR REFIT auth.030.001.03 or MiFIR "
                             "auth.016.001.01, at most 5,000 reports); download it through "
                             "regulatoryReportFileLink.")
class RegulatoryReportFile(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    regime: str = strawberry.field(description="emir or mifir")
    business_date: dt.date = strawberry.field(description="The trading day (UTC) it reports.")
    part: int
    parts: int = strawberry.field(description="How many files the day's build wrote.")
    message_id: str = strawberry.field(description="BizMsgIdr of its business application header.")
    status: RegulatoryReportFileStatus
    superseded_by_id: strawberry.ID | None = strawberry.field(
        description="The first file of the rebuild that superseded it (RegulatoryReportFile.id).")
    records: int
    size_bytes: int
    sha256: str = strawberry.field(description="Hex SHA-256 of the document; a download is checked against it.")
    header_xml: str = strawberry.field(description="The ESMA business application header (head.001.001.01), "
                                                   "validated, sent with the document.")
    reason: str = strawberry.field(description="Why it was built (empty for the daily run; a rebuild's reason).")
    status_note: str = strawberry.field(description="The trade repository's note with the status.")
    status_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, f: files.ReportFile) -> RegulatoryReportFile:
        return cls(id=global_id("RegulatoryReportFile", f.id), database_id=strawberry.ID(str(f.id)),
                   regime=f.regime, business_date=f.business_date, part=f.part, parts=f.parts,
                   message_id=f.message_id, status=RegulatoryReportFileStatus(f.status),
                   superseded_by_id=optional_global_id("RegulatoryReportFile", f.superseded_by), records=f.records,
                   size_bytes=f.size_bytes, sha256=f.sha256, header_xml=f.header_xml, reason=f.reason,
                   status_note=f.status_note, status_at=f.status_at, created_at=f.created_at)

    @strawberry.field(description="A MiFIR file's transaction reports in file order (none for EMIR), optionally "
                                  "those with one feedback status (e.g. REJECTED).")
    async def mifir_transactions(self, info: Ctx, status: MifirTransactionStatus | None = None,
                                 first: int | None = None, after: str | None = None, last: int | None = None,
                                 before: str | None = None) -> Connection[MifirTransaction]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await files.list_transactions(session, req, int(self.database_id),
                                                 status=status.value if status else None)
        return to_connection(page, MifirTransaction.of, lambda t: (t.seq,))


@node_type("RegulatoryReportFile")
async def _file_nodes(ctx: Context, keys: Sequence[int]) -> list[RegulatoryReportFile | None]:
    """Staff with regulatory.reports."""
    if not (ctx.actor.kind is ActorKind.STAFF and ctx.actor.has(REPORTS)):
        return [None] * len(keys)
    async with ctx.session() as session:
        found = await files.files_by_ids(session, list(keys))
    return [RegulatoryReportFile.of(f) if (f := found.get(k)) else None for k in keys]


@strawberry.type(description="CFDs of one of our asset classes are reported with this EMIR asset class and CFI.")
class RegulatoryProduct:
    asset_class: str
    emir_asset_class: str
    cfi: str


@strawberry.input
class RegulatoryProductInput:
    asset_class: str = strawberry.field(description="Ours: forex, metals, indices, energies, commodities, crypto, "
                                                    "stocks, bonds, other.")
    emir_asset_class: str = strawberry.field(description="CURR, EQUI, COMM, INTR or CRDT.")
    cfi: str = strawberry.field(description="ISO 10962 CFI code (6 letters, J.....).")


@strawberry.type(description="What EMIR reports say of the brokerage.")
class RegulatorySettings:
    reporting_lei: str
    submitting_agent_lei: str
    receiver_lei: str = strawberry.field(description="The trade repository's LEI (the header's To).")
    sector: str = strawberry.field(description="FinancialPartySectorType3Code, e.g. INVF (investment firm).")
    country: str
    master_agreement: str = strawberry.field(description="The client agreement's name (OthrMstrAgrmtDtls).")
    products: list[RegulatoryProduct] = strawberry.field(description="Every asset class, as reported (defaults "
                                                                     "where not set).")

    @classmethod
    def of(cls, s: config.RegulatorySettings) -> RegulatorySettings:
        return cls(reporting_lei=s.reporting_lei, submitting_agent_lei=s.submitting_agent_lei,
                   receiver_lei=s.receiver_lei, sector=s.sector, country=s.country,
                   master_agreement=s.master_agreement,
                   products=[RegulatoryProduct(asset_class=a, emir_asset_class=s.product(a)[0], cfi=s.product(a)[1])
                             for a in config.DEFAULT_PRODUCTS])


@strawberry.input
class RegulatorySettingsInput:
    reporting_lei: str
    receiver_lei: str
    sector: str
    country: str
    master_agreement: str
    submitting_agent_lei: str | None = strawberry.field(default=None, description="Default: the reporting LEI.")
    products: list[RegulatoryProductInput] | None = None


@strawberry.type(description="How a client is identified in trade reports.")
class ClientRegulatoryIdentifier:
    client_id: strawberry.ID
    lei: str | None
    national_id: str | None
    national_id_country: str | None


@strawberry.type
class RegulatorySettingsPayload:
    settings: RegulatorySettings | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ClientRegulatoryIdentifierPayload:
    identifier: ClientRegulatoryIdentifier | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RegulatoryReportFilePayload:
    file: RegulatoryReportFile | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RebuildEmirReportsPayload:
    day: dt.date | None = strawberry.field(default=None, description="The day queued for rebuilding.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RebuildRegulatoryReportsPayload:
    day: dt.date | None = strawberry.field(default=None, description="The day queued for rebuilding.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Whether an instrument's CFDs are MiFIR-reportable, and their underlying (the ISIN of "
                                    "the share or index, the index's name), reported in EMIR and MiFIR.")
class InstrumentRegulatoryReporting:
    server_id: strawberry.ID
    symbol: str
    asset_class: str
    mifir_reportable: bool
    overridden: bool = strawberry.field(description="False: derived from the asset class (shares and indices "
                                                    "reportable, the rest not).")
    underlying_isin: str | None
    underlying_index_name: str | None = strawberry.field(description="The index a CFD on an index is on (EMIR "
                                                                     "UndrlygInstrm/Indx/Nm).")

    @classmethod
    def of(cls, r: reporting.InstrumentReporting) -> InstrumentRegulatoryReporting:
        return cls(server_id=global_id("TradingServer", r.server_id), symbol=r.symbol, asset_class=r.asset_class,
                   mifir_reportable=r.mifir_reportable, overridden=r.overridden, underlying_isin=r.underlying_isin,
                   underlying_index_name=r.underlying_index_name)


@strawberry.type
class InstrumentRegulatoryReportingPayload:
    instrument: InstrumentRegulatoryReporting | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="What a MiFIR feedback file (auth.031) marked.")
class MifirFeedbackResult:
    files: list[RegulatoryReportFile]
    accepted: int
    rejected: int
    unknown_records: list[str] = strawberry.field(description="Record ids the matched files do not hold.")


@strawberry.type
class MifirFeedbackPayload:
    result: MifirFeedbackResult | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A collateral portfolio's figures at a day's close (EMIR: collateral reported at "
                                    "portfolio level; one portfolio per trading account, MT5 margining each account "
                                    "on its own): the margin the client posted (the platform's used margin) and the "
                                    "account's equity, from its last platform snapshot before the close.")
class RegulatoryCollateralPortfolio:
    business_date: dt.date
    portfolio_code: str = strawberry.field(description="As reported in each trade and valuation report's "
                                                       "CollPrtflCd (S<server>L<login>).")
    server_id: strawberry.ID
    login: str
    trading_account_id: strawberry.ID
    client_id: strawberry.ID | None
    currency: str
    margin_posted: str
    equity: str
    snapshot_at: dt.datetime

    @classmethod
    def of(cls, c: valuation.Collateral) -> RegulatoryCollateralPortfolio:
        return cls(business_date=c.business_date, portfolio_code=c.portfolio_code,
                   server_id=global_id("TradingServer", c.server_id), login=str(c.login),
                   trading_account_id=global_id("TradingAccount", c.account_id),
                   client_id=optional_global_id("ClientSummary", c.client_id), currency=c.currency,
                   margin_posted=str(at_scale(c.margin_posted, c.currency)),
                   equity=str(at_scale(c.equity, c.currency)),
                   snapshot_at=c.snapshot_at)


@strawberry.type
class RegulatoryQueries:
    @strawberry.field(permission_classes=[Requires(REPORTS)],
                      description="Report files, newest first: a day's (businessDate), the current ones only "
                                  "(currentOnly: superseded ones left out) or all.")
    async def regulatory_report_files(self, info: Ctx, business_date: dt.date | None = None,
                                      current_only: bool = False, first: int | None = None,
                                      after: str | None = None, last: int | None = None,
                                      before: str | None = None) -> Connection[RegulatoryReportFile]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await files.list_files(session, req, day=business_date, current_only=current_only)
        return to_connection(page, RegulatoryReportFile.of, lambda f: (f.created_at, f.id))

    @strawberry.field(permission_classes=[Requires(REPORTS)],
                      description="The EMIR collateral portfolios captured at a day's close when its reports were "
                                  "first built (a rebuild keeps them), optionally one client's.")
    async def regulatory_collateral(self, info: Ctx, business_date: dt.date,
                                    client_id: AnyId | None = None) -> list[RegulatoryCollateralPortfolio]:
        key = None if client_id is None else key_of(client_id, "ClientSummary", "Client360", field="clientId")
        async with info.context.session() as session:
            found = await valuation.collateral(session, business_date, key)
        return [RegulatoryCollateralPortfolio.of(c) for c in found]

    @strawberry.field(permission_classes=[Requires(REPORTS)],
                      description="The brokerage's EMIR reporting settings (null until set).")
    async def regulatory_settings(self, info: Ctx) -> RegulatorySettings | None:
        async with info.context.session() as session:
            found = await config.load(session)
        return RegulatorySettings.of(found) if found else None


@strawberry.type
class RegulatoryMutations:
    @declares_errors("INVALID_COUNTRY", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Set the brokerage's LEI, the trade repository's, its sector, the client "
                                     "agreement's name and (optionally) how each asset class's CFDs are reported.")
    async def set_regulatory_settings(self, info: Ctx, input: RegulatorySettingsInput) -> RegulatorySettingsPayload:
        actor = info.context.actor
        data = config.RegulatorySettings(
            input.reporting_lei, input.submitting_agent_lei or input.reporting_lei, input.receiver_lei, input.sector,
            input.country, input.master_agreement,
            {p.asset_class: (p.emir_asset_class, p.cfi) for p in input.products or ()})

        async def txn(session: AsyncSession) -> config.RegulatorySettings:
            return await config.set_settings(session, actor, data)

        return await _run(info, txn, lambda s: RegulatorySettingsPayload(settings=RegulatorySettings.of(s)),
                          lambda e: RegulatorySettingsPayload(errors=e))

    @declares_errors("INVALID_COUNTRY", "INVALID_ID", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="A client's identifier in trade reports: the LEI of a legal entity; for a natural "
                                     "person the national identifier RTS 22 names first for their nationality, with "
                                     "its country (without one, the CONCAT code from name, birth date and "
                                     "nationality is used).")
    async def set_client_regulatory_identifier(self, info: Ctx, client_id: AnyId, lei: str | None = None,
                                               national_id: str | None = None,
                                               national_id_country: str | None = None,
                                               ) -> ClientRegulatoryIdentifierPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> tuple[int, config.CounterpartyId]:
            key = key_of(client_id, "ClientSummary", "Client360", field="clientId")
            found = await config.set_counterparty_id(session, actor, key, lei=lei, national_id=national_id,
                                                     national_id_country=national_id_country)
            return key, found

        return await _run(info, txn, lambda r: ClientRegulatoryIdentifierPayload(
            identifier=ClientRegulatoryIdentifier(client_id=global_id("ClientSummary", r[0]), lei=r[1].lei,
                                                  national_id=r[1].national_id,
                                                  national_id_country=r[1].national_id_country)),
            lambda e: ClientRegulatoryIdentifierPayload(errors=e))

    @declares_errors("REGULATORY_SETTINGS_MISSING", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Rebuild a past day's reports of one regime (the worker builds them; the day's "
                                     "current files are superseded by the new ones, kept, never overwritten), with a "
                                     "reason. correctionsOnly (MiFIR): resubmit only the transactions the authority "
                                     "rejected, in a new file; the rejected ones point at it.")
    async def rebuild_regulatory_reports(self, info: Ctx, regime: RegulatoryRegime, day: dt.date, reason: str,
                                         corrections_only: bool = False) -> RebuildRegulatoryReportsPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> dt.date:
            return await files.request_rebuild(session, actor, day, reason, regime=regime.value,
                                               corrections=corrections_only)

        return await _run(info, txn, lambda d: RebuildRegulatoryReportsPayload(day=d),
                          lambda e: RebuildRegulatoryReportsPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Whether an instrument's CFDs are MiFIR-reportable (null: back to the asset "
                                     "class's default), the ISIN of its underlying and, for an instrument on an "
                                     "index, the index's name (null: unknown; the ISIN's check digit is checked).")
    async def set_instrument_regulatory_reporting(self, info: Ctx, server_id: AnyId, symbol: str,
                                                  mifir_reportable: bool | None = None,
                                                  underlying_isin: str | None = None,
                                                  underlying_index_name: str | None = None,
                                                  ) -> InstrumentRegulatoryReportingPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> reporting.InstrumentReporting:
            key = key_of(server_id, "TradingServer", field="serverId")
            return await reporting.set_reporting(session, actor, key, symbol, reportable=mifir_reportable,
                                                 underlying_isin=underlying_isin,
                                                 underlying_index_name=underlying_index_name)

        return await _run(info, txn, lambda r: InstrumentRegulatoryReportingPayload(
            instrument=InstrumentRegulatoryReporting.of(r)), lambda e: InstrumentRegulatoryReportingPayload(errors=e))

    @declares_errors("MIFIR_SCHEMA_INVALID", "MIFIR_FEEDBACK_UNMATCHED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Apply the authority's MiFIR feedback file (auth.031.001.01 XML, validated "
                                     "against ESMA's XSD): each named transaction marked accepted or rejected with "
                                     "its rule codes, each file's status set; rejected ones are then corrected with "
                                     "rebuildRegulatoryReports(regime: MIFIR, correctionsOnly: true).")
    async def apply_mifir_feedback(self, info: Ctx, xml: str) -> MifirFeedbackPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> tuple[feedback.FeedbackResult, dict[int, files.ReportFile]]:
            done = await feedback.apply(session, actor, xml.encode())
            return done, await files.files_by_ids(session, done.file_ids)

        return await _run(info, txn, lambda r: MifirFeedbackPayload(result=MifirFeedbackResult(
            files=[RegulatoryReportFile.of(r[1][i]) for i in r[0].file_ids if i in r[1]], accepted=r[0].accepted,
            rejected=r[0].rejected, unknown_records=r[0].unknown)), lambda e: MifirFeedbackPayload(errors=e))

    @declares_errors("REGULATORY_SETTINGS_MISSING", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         deprecation_reason="rebuildRegulatoryReports(regime: EMIR) (removal 2027-06-30)",
                         description="Rebuild a past day's EMIR reports (the worker builds them; the day's current "
                                     "files are superseded by the new ones, kept, never overwritten), with a reason.")
    async def rebuild_emir_reports(self, info: Ctx, day: dt.date, reason: str) -> RebuildEmirReportsPayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> dt.date:
            return await files.request_rebuild(session, actor, day, reason)

        return await _run(info, txn, lambda d: RebuildEmirReportsPayload(day=d),
                          lambda e: RebuildEmirReportsPayload(errors=e))

    @declares_errors("INVALID_ID", "REPORT_FILE_NOT_FOUND", "REPORT_FILE_WRONG_STATUS", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="Record what the trade repository said of a file: submitted, accepted or "
                                     "rejected (a rejection is corrected by rebuilding its day).")
    async def record_regulatory_report_file_status(self, info: Ctx, file_id: AnyId,
                                                   status: RegulatorySubmissionStatus,
                                                   note: str = "") -> RegulatoryReportFilePayload:
        actor = info.context.actor

        async def txn(session: AsyncSession) -> files.ReportFile:
            key = key_of(file_id, "RegulatoryReportFile", field="fileId")
            return await files.record_status(session, actor, key, status=status.value, note=note)

        return await _run(info, txn, lambda f: RegulatoryReportFilePayload(file=RegulatoryReportFile.of(f)),
                          lambda e: RegulatoryReportFilePayload(errors=e))

    @declares_errors("INVALID_ID", "REPORT_FILE_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(REPORTS)],
                         description="A link (GET, about 60 s, this session only) that downloads one report file; "
                                     "issuing and every download are audited.")
    async def regulatory_report_file_link(self, info: Ctx, file_id: AnyId) -> DocumentViewLinkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> document_links.IssuedLink:
            key = key_of(file_id, "RegulatoryReportFile", field="fileId")
            return await files.issue_link(session, ctx.settings, ctx.actor, key)

        return await _run(info, txn, lambda issued: DocumentViewLinkPayload(link=DocumentViewLink(
            url=issued.url, expires_at=dt.datetime.fromtimestamp(issued.expires_at, dt.UTC))),
            lambda e: DocumentViewLinkPayload(errors=e))


QUERIES = (RegulatoryQueries,)
MUTATIONS = (RegulatoryMutations,)
SUBSCRIPTIONS = ()
