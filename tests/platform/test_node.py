"""Relay object identification: every Node type round-trips through `node`, answers null to whoever
may not see it (another client, staff without the permission), refuses malformed ids with a typed
error that changes nothing, and `nodes` loads many objects with one statement per type."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, text
from strawberry.relay import to_base64

from domain.audit import service as audit
from domain.identity import api_tokens
from domain.ledger import wallets
from domain.ledger.accounts import link_trading_account, wallet_for
from domain.payments import repo as payments
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import in_transaction
from domain.trading.accounts import AccountSpec, register_accounts
from domain.trading.models import TradingAccount
from domain.trading.servers import ServerConfig, upsert_server
from schema.node import MAX_NODES, NODE_LOADERS, decode, global_id, key_of
from schema.root import build_schema
from tests.graphql_exec import run_as
from tests.identity.helpers import count

FIELDS = """fragment F on Node { __typename id
  ... on Wallet { databaseId currency balance }
  ... on Payment { databaseId reference amount }
  ... on Dispute { databaseId paymentId }
  ... on TradingAccount { databaseId login }
  ... on Session { databaseId device } ... on ApiToken { databaseId name }
  ... on Role { databaseId name } ... on StaffUser { databaseId email }
  ... on ClientSummary { databaseId name } ... on Client360 { databaseId email } ... on MyClient { databaseId }
  ... on ReconciliationRun { databaseId status } ... on ReconciliationBreak { databaseId runId }
  ... on IbPayout { databaseId status } ... on IbReferralLink { databaseId code }
  ... on IbManagedLink { databaseId code disabledAt } ... on IbDispute { databaseId reason }
  ... on IbCommissionLine { databaseId amount formula }
  ... on IbPlan { databaseId name currentIbs }
  ... on IbApplication { databaseId applicantEmail } ... on ClientDocument { databaseId kind }
  ... on RiskAlertType { databaseId measure } ... on RiskFlagType { databaseId detector }
  ... on LeverageRequest { databaseId toLeverage } ... on Transfer { databaseId tradingAccountId }
  ... on WalletTransaction { databaseId amount } ... on Notification { databaseId kind readAt }
  ... on Device { databaseId tokenLastFour }
  ... on TradingServer { databaseId name } ... on IngestionError { databaseId tradingServerId }
  ... on AuditEvent { databaseId action } ... on Announcement { databaseId title }
  ... on SettlementReport { databaseId provider } ... on PaymentMethodConfig { databaseId code }
  ... on IbTreeMember { databaseId depth parentMemberId contact { email } }
  ... on PaymentSignalType { databaseId kind } ... on ScreeningHit { databaseId listName }
  ... on BalanceAdjustment { databaseId requestedById }
  ... on SalesRule { databaseId assigneeStaffUserIds } ... on StaffChangeRequest { databaseId requestedById }
  ... on RiskLimitType { databaseId key } ... on RiskCalendarEventType { databaseId title }
  ... on SegmentRuleType { databaseId name } ... on SegmentAssignmentType { databaseId segmentRuleId }
  ... on BreakComment { databaseId authorStaffUserId }
  ... on WebhookEndpoint { databaseId url }
  ... on AmlScenario { databaseId name } ... on AmlScenarioVersion { databaseId version }
  ... on AmlActivationRequest { databaseId reason } ... on AmlCase { databaseId team }
  ... on AmlDecision { databaseId outcome } ... on AmlCaseNote { databaseId body }
  ... on AmlCaseAttachment { databaseId filename }
  ... on AmlReport { databaseId reason } ... on RegulatoryReportFile { databaseId messageId }
  ... on RetentionRun { databaseId status } ... on ErasureRequest { databaseId status }
  ... on ScreeningRun { databaseId kind } }"""
NODE = "query($id: ID!) { node(id: $id) { ...F } }\n" + FIELDS
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { ...F } }\n" + FIELDS


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)



def client(uid: int) -> Actor:
    return Actor(ActorKind.CLIENT, user_id=uid)


def staff(uid: int, *permissions: str) -> Actor:
    return Actor(ActorKind.STAFF, user_id=uid, permissions=frozenset(permissions))


async def make_user(session_factory: Any, *, is_staff: bool = False) -> int:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    async with session_factory() as s, s.begin():
        uid = await s.scalar(text(
            "INSERT INTO users (email, email_normalized, is_client, is_staff) VALUES (:e, :e, :c, :s) RETURNING id"),
            {"e": email, "c": not is_staff, "s": is_staff})
    return int(uid)


async def owned_objects(session_factory: Any, settings: Any, uid: int) -> dict[str, int]:
    """One object of each Node type, all belonging to client `uid`."""
    async def make(s: Any) -> dict[str, int]:
        await wallets.deposit_to_wallet(s, client(uid), user_id=uid, currency="EUR", amount=Decimal("25"),
                                        idempotency_key=uuid.uuid4().hex)
        wallet = (await wallet_for(s, uid, "EUR")).id
        payment = await payments.insert(s, user_id=uid, direction="deposit", method_code="card", method_kind="card",
                                        provider="stripe", currency="EUR", amount=Decimal("10"), fee=Decimal("0"),
                                        country=None)
        dispute = await s.scalar(text(
            "INSERT INTO payment_disputes (payment_id, user_id, kind, case_id, amount, currency, reason, "
            "entry_id) VALUES (:p, :u, 'chargeback', :c, 5, 'EUR', 'test', (SELECT max(id) FROM ledger_entries)) "
            "RETURNING id"),
            {"p": payment.id, "u": uid, "c": uuid.uuid4().hex})
        server = await upsert_server(s, settings.secret_key.get_secret_value(), ServerConfig(
            f"node-{uuid.uuid4().hex[:8]}", "http://127.0.0.1:9", 1000, "pw"))
        login = int(uuid.uuid4().int % 10**8)
        await register_accounts(s, server, [AccountSpec(login, "real\\standard", 100, "USD", user_id=uid)])
        await link_trading_account(s, user_id=uid, server_id=str(server), login=login, currency="USD")
        account = await s.scalar(select(TradingAccount.id).where(TradingAccount.server_id == server,
                                                                 TradingAccount.login == login))
        device = await s.scalar(text("INSERT INTO auth_sessions (user_id, device) VALUES (:u, 'node-test') "
                                     "RETURNING id"), {"u": uid})
        stepped_up = Actor(ActorKind.CLIENT, user_id=uid, stepped_up_at=time.time())
        token = await api_tokens.create(s, settings, stepped_up, name="node-test", scopes=["profile.read"],
                                        expires_in_days=5)
        record = await s.scalar(text("INSERT INTO clients (user_id, status, first_name, last_name) VALUES "
                                     "(:u, 'registered', 'Node', 'Test') ON CONFLICT (user_id) DO UPDATE "
                                     "SET first_name = 'Node' RETURNING id"), {"u": uid})
        application = await s.scalar(text("INSERT INTO ib_applications (user_id, expected_clients, status) VALUES "
                                          "(:u, 1, 'rejected') RETURNING id"), {"u": uid})
        document = await s.scalar(text(
            "INSERT INTO client_documents (client_id, kind, status, filename, content_type, size_bytes, sha256, "
            "storage_key) VALUES (:c, 'passport', 'pending', 'p.pdf', 'application/pdf', 1, :h, :k) RETURNING id"),
            {"c": record, "h": uuid.uuid4().hex, "k": uuid.uuid4().hex})
        leverage = await s.scalar(text(
            "INSERT INTO leverage_requests (client_id, trading_account_id, from_leverage, to_leverage, status, "
            "auto_approved, reason) VALUES (:c, :a, 100, 50, 'pending', false, '') RETURNING id"),
            {"c": record, "a": account})
        posting = await s.scalar(text("SELECT max(id) FROM ledger_postings WHERE account_id = :w"), {"w": wallet})
        transfer = await s.scalar(text(
            "INSERT INTO ledger_transfers (external_id, user_id, direction, wallet_account_id, mirror_account_id, server_id, "
            "login, currency, amount, status, idem_scope, idem_key) VALUES (:x, :u, 'to_account', :w, :w, :s, :l, "
            "'EUR', 1, 'done', 'node-test', :k) RETURNING id"),
            {"x": uuid.uuid4(), "u": uid, "w": wallet, "s": str(server), "l": login, "k": uuid.uuid4().hex})
        notification = await s.scalar(text("INSERT INTO notifications (user_id, kind, message) VALUES "
                                           "(:u, 'node-test', 'node-test') RETURNING id"), {"u": uid})
        push_device = await s.scalar(text("INSERT INTO push_devices (user_id, platform, token) VALUES "
                                          "(:u, 'web', :t) RETURNING id"), {"u": uid, "t": f"node-{uuid.uuid4().hex}"})
        return {"Wallet": wallet, "Payment": payment.id, "Notification": int(notification), "Device": int(push_device), "Dispute": int(dispute), "TradingAccount": int(account or 0),
                "Session": int(device), "ApiToken": token.token.id, "MyClient": int(record),
                "IbApplication": int(application), "ClientDocument": int(document),
                "LeverageRequest": int(leverage), "Transfer": int(transfer), "WalletTransaction": int(posting)}

    return await in_transaction(session_factory, make)


@pytest.fixture
async def world(session_factory: Any, settings: Any) -> tuple[int, dict[str, int]]:
    uid = await make_user(session_factory)
    return uid, await owned_objects(session_factory, settings, uid)


# Objects of staff-only types, round-tripped by staff with the type's permission.
STAFF_TYPES = {"ClientSummary": "clients.read", "Client360": "clients.read", "Role": "staff.manage",
               "StaffUser": "staff.manage", "ReconciliationRun": "reconciliation.manage",
               "ReconciliationBreak": "reconciliation.manage", "RiskAlertType": "risk.read", "RiskFlagType": "risk.read",
               "TradingServer": "trading.read", "IngestionError": "trading.read", "AuditEvent": "audit.read",
               "SettlementReport": "reconciliation.manage", "PaymentMethodConfig": "payments.read",
               "PaymentSignalType": "compliance.read", "BalanceAdjustment": "ledger.adjust", "SalesRule": "config.manage",
               "StaffChangeRequest": "staff.manage", "RiskLimitType": "risk.read", "RiskCalendarEventType": "risk.read",
               "SegmentRuleType": "risk.read", "SegmentAssignmentType": "risk.read",
               "BreakComment": "reconciliation.manage", "AmlScenario": "compliance.read",
               "AmlScenarioVersion": "compliance.read", "AmlActivationRequest": "compliance.read",
               "AmlCase": "compliance.read", "AmlDecision": "compliance.read", "AmlCaseNote": "compliance.read",
               "AmlCaseAttachment": "compliance.read", "WebhookEndpoint": "webhooks.manage",
               "AmlReport": "compliance.reports", "RegulatoryReportFile": "regulatory.reports", "RetentionRun": "retention.read", "ErasureRequest": "retention.read",
               "ScreeningRun": "compliance.read",
               "IbPlan": "ib.read"}
# Staff types whose rows belong to a client: desk-scoped staff see their own desk's clients' only.
DESK_SCOPED = {"ClientSummary", "Client360", "PaymentSignalType"}
# Objects everyone signed in sees.
PUBLIC_TYPES = {"Announcement"}
# Objects of IB partner types: their IB (or its token with ib.tree.read) and staff with one of these permissions.
IB_TYPES = {"IbPayout": ("ib.read", "ib.payouts"), "IbReferralLink": (), "IbManagedLink": (),
            "IbDispute": ("ib.read", "ib.manage_plans"), "IbCommissionLine": ()}
IB_PERMISSIONS = {"ib.read", "ib.payouts", "ib.manage_network", "ib.manage_plans"}
ROUND_TRIPPED = {"Wallet", "Payment", "Dispute", "TradingAccount", "Session", "ApiToken", "MyClient", "IbApplication",
                 "ClientDocument", "LeverageRequest", "Transfer", "WalletTransaction", "Notification", "Device", *STAFF_TYPES, *IB_TYPES,
                 *PUBLIC_TYPES, "IbTreeMember", "ScreeningHit"}


async def staff_objects(session_factory: Any, staff_id: int) -> dict[str, int]:
    async with session_factory() as s, s.begin():
        server = await upsert_server(s, "node-test-secret", ServerConfig(
            f"node-{uuid.uuid4().hex[:8]}", "http://127.0.0.1:9", 1000, "pw"))
        ingestion = await s.scalar(text(
            "INSERT INTO trading_ingestion_errors (server_id, kind, detail) VALUES (:s, 'unknown_symbol', 'node-test') "
            "RETURNING id"), {"s": server})
        account = await s.scalar(text(
            'INSERT INTO trading_accounts (server_id, login, user_id, "group", leverage, currency) VALUES '
            "(:s, 1, :u, 'real', 100, 'USD') RETURNING id"), {"s": server, "u": staff_id})
        audited = await audit.record(s, staff(staff_id), action="node.test", entity_type="node_test", entity_id=1)
        report = await s.scalar(text(
            "INSERT INTO reconciliation_settlement_reports (provider, sha256, source, line_count, imported_by) "
            "VALUES ('stripe', :h, 'csv', 0, 'node-test') RETURNING id"), {"h": uuid.uuid4().hex})
        method = await s.scalar(text(
            "INSERT INTO payment_methods (code, kind, provider, currency, max_amount, enabled) VALUES "
            "(:c, 'card', 'stripe', 'EUR', 100, false) RETURNING id"), {"c": f"node{uuid.uuid4().hex[:8]}"})
        role = await s.scalar(text("SELECT id FROM roles ORDER BY id LIMIT 1"))
        run = await s.scalar(text(  # a cutoff long before any real run's
            "INSERT INTO reconciliation_runs (cutoff, window_start, status) VALUES "
            "(timestamptz '1990-01-01' + random() * interval '3000 days', timestamptz '1989-01-01', 'done') RETURNING id"))
        brk = await s.scalar(text(
            "INSERT INTO reconciliation_breaks (run_id, section, kind, key, evidence, suggested_cause) VALUES "
            "(:r, 'psp', 'missing_at_psp', 'node-test', '{}', 'test') RETURNING id"), {"r": run})
        comment = await s.scalar(text("INSERT INTO reconciliation_break_comments (break_id, author_id, text) VALUES "
                                      "(:b, :u, 'node-test') RETURNING id"), {"b": brk, "u": staff_id})
        record = await s.scalar(text(
            "INSERT INTO clients (user_id, status, first_name, last_name) VALUES (:u, 'registered', 'Node', 'Staff') "
            "RETURNING id"), {"u": await make_user(session_factory)})
        signal = await s.scalar(text(
            "INSERT INTO payment_signals (user_id, kind, details) SELECT user_id, 'node-test', '{}' FROM clients "
            "WHERE id = :c RETURNING id"), {"c": record})
        owner = await make_user(session_factory)
        await wallets.deposit_to_wallet(s, client(owner), user_id=owner, currency="EUR", amount=Decimal("5"),
                                        idempotency_key=uuid.uuid4().hex)
        rule = await s.scalar(text(  # a language no lead speaks: it deals nobody's leads
            "INSERT INTO sales_rules (country, language, desk, assignees) VALUES ('AQ', 'zz', 'node-desk', "
            "ARRAY[CAST(:u AS bigint)]) RETURNING id"), {"u": staff_id})
        change = await s.scalar(text(  # decided: in nobody's pending queue
            "INSERT INTO staff_change_requests (kind, target_user_id, requested_by, status, decided_by, decided_at) "
            "VALUES ('grant_role', :u, :u, 'rejected', :u, now()) RETURNING id"), {"u": staff_id})
        adjustment = await s.scalar(text(
            "INSERT INTO balance_adjustment_requests (wallet_id, amount, currency, reason, idempotency_key, "
            "requested_by) VALUES (:w, 1, 'EUR', 'node-test', :k, :u) RETURNING id"),
            {"w": (await wallet_for(s, owner, "EUR")).id, "k": uuid.uuid4().hex, "u": staff_id})
        limit = await s.scalar(text("INSERT INTO risk_limits (scope, key, max_net_lots) VALUES ('symbol', :k, 1) "
                                    "RETURNING id"), {"k": f"node-{uuid.uuid4().hex[:8]}"})
        alert = await s.scalar(text("INSERT INTO risk_alerts (limit_id, measure, observed, threshold) VALUES "
                                    "(:l, 'net_lots', 2, 1) RETURNING id"), {"l": limit})
        event = await s.scalar(text(  # long past, low impact: no detector looks at it
            "INSERT INTO risk_calendar (at, currency, impact, title) VALUES (timestamptz '1990-01-01', 'EUR', 'low', "
            ":t) RETURNING id"), {"t": f"node-{uuid.uuid4().hex[:8]}"})
        segment_rule = await s.scalar(text(  # last in priority, on a flag no detector raises: it books no account
            "INSERT INTO risk_segment_rules (name, priority, condition, book, a_book_pct) VALUES (:n, 2147483647, "
            "CAST(:c AS jsonb), 'B', 0) RETURNING id"),
            {"n": f"node-{uuid.uuid4().hex[:8]}", "c": '{"any_flag": ["node-test-never"]}'})
        assignment = await s.scalar(text(
            "INSERT INTO risk_assignments (account_id, book, a_book_pct, source, rule_id, sync_status) VALUES "
            "(:a, 'B', 0, 'rule', :r, 'none') RETURNING id"), {"a": account, "r": segment_rule})
        plan = await s.scalar(text("INSERT INTO ib_plans (name, currency, scale) VALUES (:n, 'USD', 2) RETURNING id"),
                              {"n": f"node-{uuid.uuid4().hex[:8]}"})
        flag = await s.scalar(text(
            "INSERT INTO risk_flags (account_id, server_id, login, detector, score, evidence) VALUES "
            "(:a, 0, 1, 'node-test', 1, '{}') RETURNING id"), {"a": 10**15 + uuid.uuid4().int % 10**12})
        scenario = await s.scalar(text("INSERT INTO aml_scenarios (name) VALUES (:n) RETURNING id"),
                                  {"n": f"node-{uuid.uuid4().hex[:8]}"})
        version = await s.scalar(text(  # committed, never live: it decides nothing
            "INSERT INTO aml_scenario_versions (scenario_id, version, status, document, triggers) VALUES "
            "(:s, 1, 'committed', '{}', '{deposit}') RETURNING id"), {"s": scenario})
        activation = await s.scalar(text(
            "INSERT INTO aml_activation_requests (scenario_id, version_id, requested_by, reason, status) VALUES "
            "(:s, :v, :u, 'node-test', 'rejected') RETURNING id"), {"s": scenario, "v": version, "u": staff_id})
        case = await s.scalar(text(
            "INSERT INTO aml_cases (user_id, team, status, outcome, sla_due_at, closed_at) VALUES "
            "(:u, 'node-test', 'closed', 'false_positive', now(), now()) RETURNING id"), {"u": owner})
        decision = await s.scalar(text(
            "INSERT INTO aml_decisions (scenario_id, version_id, user_id, trigger, event, score, outcome, explain, "
            "case_id) VALUES (:s, :v, :u, 'deposit', '{}', 1, 'review', '[]', :c) RETURNING id"),
            {"s": scenario, "v": version, "u": owner, "c": case})
        note = await s.scalar(text("INSERT INTO aml_case_notes (case_id, author_id, body) VALUES (:c, :u, 'node') "
                                   "RETURNING id"), {"c": case, "u": staff_id})
        attachment = await s.scalar(text(
            "INSERT INTO aml_case_attachments (case_id, filename, content_type, size_bytes, sha256, storage_key, "
            "uploaded_by) VALUES (:c, 'node.pdf', 'application/pdf', 1, repeat('0', 64), :k, :u) RETURNING id"),
            {"c": case, "u": staff_id, "k": f"aml-cases/{case}/node-{uuid.uuid4().hex}"})
        aml_report = await s.scalar(text(
            "INSERT INTO aml_reports (case_id, user_id, report_code, reason, indicators, payment_ids, created_by) "
            "VALUES (:c, :u, 'STR', 'node-test', '{UNUSU}', '{}', :s) RETURNING id"),
            {"c": case, "u": owner, "s": staff_id})
        report_file = await s.scalar(text(
            "INSERT INTO regulatory_report_files (regime, business_date, part, parts, message_id, records, size_bytes, "
            "sha256, storage_key, header_xml) VALUES ('emir', date '1990-01-01', 1, 1, :m, 0, 1, repeat('0', 64), :k, "
            "'<AppHdr/>') RETURNING id"), {"m": f"NODE{uuid.uuid4().hex[:20]}", "k": f"node/{uuid.uuid4().hex}"})
        retention_run = await s.scalar(text(  # completed: no worker runs it
            "INSERT INTO retention_runs (requested_by, as_of, status) VALUES (:u, date '1990-01-01', 'completed') "
            "RETURNING id"), {"u": staff_id})
        erasure_request = await s.scalar(text(  # decided: in nobody's queue
            "INSERT INTO erasure_requests (client_id, status, decided_by, decided_at, decision_reason) VALUES "
            "(:c, 'rejected', :u, now(), 'node-test') RETURNING id"), {"c": record, "u": staff_id})
        screening_run = await s.scalar(text(  # completed: no worker runs it
            "INSERT INTO screening_runs (kind, trigger, status, requested_by, matcher_version, threshold) VALUES "
            "('full', 'manual', 'completed', :u, 'node-test', 0.8) RETURNING id"), {"u": staff_id})
        webhook_endpoint = await s.scalar(text(  # disabled: nothing is sent to it
            "INSERT INTO webhook_endpoints (url, event_types, secret_sealed, enabled) VALUES "
            "('https://example.com/node-test', '{client.approved}', 'sealed', false) RETURNING id"))
    return {"ClientSummary": int(record), "Client360": int(record), "Role": int(role), "StaffUser": staff_id,
            "AmlScenario": int(scenario), "AmlScenarioVersion": int(version), "AmlActivationRequest": int(activation),
            "AmlCase": int(case), "AmlDecision": int(decision), "AmlCaseNote": int(note),
            "AmlCaseAttachment": int(attachment),
            "AmlReport": int(aml_report), "RegulatoryReportFile": int(report_file), "ReconciliationRun": int(run), "ReconciliationBreak": int(brk), "RiskAlertType": int(alert),
            "RiskFlagType": int(flag), "TradingServer": int(server), "IngestionError": int(ingestion),
            "AuditEvent": int(audited), "RiskLimitType": int(limit), "RiskCalendarEventType": int(event),
            "SegmentRuleType": int(segment_rule), "SegmentAssignmentType": int(assignment),
            "SettlementReport": int(report), "PaymentMethodConfig": int(method),
            "PaymentSignalType": int(signal), "BalanceAdjustment": int(adjustment), "SalesRule": int(rule),
            "StaffChangeRequest": int(change), "BreakComment": int(comment),
            "RetentionRun": int(retention_run), "ErasureRequest": int(erasure_request),
            "IbPlan": int(plan), "ScreeningRun": int(screening_run), "WebhookEndpoint": int(webhook_endpoint)}


async def ib_objects(session_factory: Any, ib: int) -> dict[str, int]:
    """One object of each IB partner type, belonging to `ib` (made an approved IB)."""
    async with session_factory() as s, s.begin():
        await s.execute(text("INSERT INTO ib_partners (user_id, status) VALUES (:u, 'approved')"), {"u": ib})
        payout = await s.scalar(text("INSERT INTO ib_payouts (ib_id, currency, period_key, amount, status) VALUES "
                                     "(:ib, 'USD', 'node-test', 1, 'held') RETURNING id"), {"ib": ib})
        link = await s.scalar(text("INSERT INTO ib_referral_links (ib_id, code) VALUES (:ib, :c) RETURNING id"),
                              {"ib": ib, "c": uuid.uuid4().hex[:16]})
        dispute = await s.scalar(text(
            "INSERT INTO ib_disputes (ib_id, reason, explanation, period_from, period_to) VALUES "
            "(:ib, 'node-test', '{}'::jsonb, date '2021-01-01', date '2021-02-01') RETURNING id"), {"ib": ib})
        line = await s.scalar(text(  # a CPA line long past: no payout period looks at it
            "INSERT INTO ib_commission_lines (kind, source, deal_time, ib_id, level, direct_ib_id, clause_kind, "
            "formula, inputs, quantity, rate, fx_rate, amount, currency) VALUES ('accrual', 'cpa', "
            "timestamptz '2001-01-15', :ib, 0, :ib, 'cpa', 'node-test', '{}'::jsonb, 1, 1, 1, 1, 'USD') "
            "RETURNING id"), {"ib": ib})
    return {"IbPayout": int(payout), "IbReferralLink": int(link), "IbManagedLink": int(link),
            "IbDispute": int(dispute), "IbCommissionLine": int(line)}


def ib_token(ib: int, *scopes: str) -> Actor:
    return Actor(ActorKind.API_TOKEN, user_id=ib, token_id=uuid.uuid4().int % 10**12, scopes=frozenset(scopes))



def test_every_node_type_has_a_loader_and_a_round_trip(schema) -> None:
    implementing = {t.name for t in schema._schema.get_implementations(schema._schema.get_type("Node")).objects}
    assert implementing == set(NODE_LOADERS)
    # A new Node type without a round trip here fails: add an object of it to owned_objects.
    assert set(NODE_LOADERS) == ROUND_TRIPPED


def test_global_id_round_trip_and_key_of() -> None:
    gid = global_id("Wallet", 42)
    assert gid == to_base64("Wallet", 42) and decode(gid) == ("Wallet", 42)
    assert key_of(gid, "Wallet") == 42
    assert key_of("42", "Wallet") == 42  # the deprecated bare database id
    for bad in ("", "abc", global_id("Payment", 42), to_base64("Wallet", "x"), "V2FsbGV0OjQy\n", "-1",
                to_base64("Wallet", "4" * 19)):
        with pytest.raises(Exception) as refused:
            key_of(bad, "Wallet")
        assert getattr(refused.value, "code", None) == "INVALID_ID", bad
    with pytest.raises(Exception) as bare:
        key_of("42", "Wallet", raw=False)
    assert getattr(bare.value, "code", None) == "INVALID_ID"


async def test_every_node_type_round_trips(schema, runtime, world) -> None:
    uid, objects = world
    for type_name, key in objects.items():
        gid = global_id(type_name, key)
        got = await run_as(schema, runtime, client(uid), NODE, id=gid)
        assert got.errors is None, got.errors
        node = got.data["node"]
        assert node["__typename"] == type_name and node["id"] == gid and node["databaseId"] == str(key)
    dispute = (await run_as(schema, runtime, client(uid), NODE, id=global_id("Dispute", objects["Dispute"])))
    assert dispute.data["node"]["paymentId"] == global_id("Payment", objects["Payment"])
    transfer = (await run_as(schema, runtime, client(uid), NODE, id=global_id("Transfer", objects["Transfer"])))
    assert transfer.data["node"]["tradingAccountId"] == global_id("TradingAccount", objects["TradingAccount"])
    moved = await run_as(schema, runtime, client(uid), NODE, id=global_id("WalletTransaction", objects["WalletTransaction"]))
    assert moved.data["node"]["amount"] == "25.00"  # money in, signed as walletTransactions shows it


async def test_staff_node_types_round_trip_for_staff_with_the_permission(schema, runtime, session_factory) -> None:
    admin = await make_user(session_factory, is_staff=True)
    for type_name, key in (await staff_objects(session_factory, admin)).items():
        gid = global_id(type_name, key)
        got = await run_as(schema, runtime, staff(admin, STAFF_TYPES[type_name], "kyc.review"), NODE, id=gid)
        assert got.errors is None and got.data["node"]["id"] == gid and got.data["node"]["databaseId"] == str(key)
        outsiders = [staff(admin, "kyc.review"), client(await make_user(session_factory))]
        if type_name in DESK_SCOPED:  # desk staff see their own desk's clients only
            outsiders.append(Actor(ActorKind.STAFF, user_id=admin, permissions=frozenset({STAFF_TYPES[type_name]}),
                                   desk="x"))
        for outsider in outsiders:
            hidden = await run_as(schema, runtime, outsider, NODE, id=gid)
            assert hidden.errors is None and hidden.data["node"] is None, type_name


async def test_ib_node_types_are_their_ibs_and_ib_staffs(schema, runtime, session_factory) -> None:
    ib, other = await make_user(session_factory), await make_user(session_factory)
    objects = await ib_objects(session_factory, ib)
    await ib_objects(session_factory, other)  # another approved IB
    employee = await make_user(session_factory, is_staff=True)
    for type_name, key in objects.items():
        gid = global_id(type_name, key)
        viewers = [Actor(ActorKind.IB, user_id=ib), *(staff(employee, p) for p in IB_TYPES[type_name])]
        for viewer in viewers:
            got = await run_as(schema, runtime, viewer, NODE, id=gid)
            assert got.errors is None, got.errors
            assert got.data["node"]["id"] == gid and got.data["node"]["databaseId"] == str(key), (type_name, viewer)
        for outsider in (Actor(ActorKind.IB, user_id=other), client(ib),
                         staff(employee, "clients.read", *(IB_PERMISSIONS - set(IB_TYPES[type_name])))):
            hidden = await run_as(schema, runtime, outsider, NODES, ids=[gid])
            assert hidden.errors is None and hidden.data["nodes"] == [None], (type_name, outsider)
        # Partner tokens read the IB portal's own fields (rate-limited), not `node`.
        token = await run_as(schema, runtime, ib_token(ib, "ib.tree.read"), NODE, id=gid)
        assert token.data is None and token.errors[0].extensions["code"] == "INSUFFICIENT_SCOPE"
    # A disabled link: still one of the IB's managed links, no longer in its referral links.
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE ib_referral_links SET disabled_at = now() WHERE id = :l"),
                        {"l": objects["IbManagedLink"]})
    got = await run_as(schema, runtime, Actor(ActorKind.IB, user_id=ib), NODES,
                    ids=[global_id("IbManagedLink", objects["IbManagedLink"]),
                         global_id("IbReferralLink", objects["IbReferralLink"])])
    assert got.errors is None and got.data["nodes"][0]["disabledAt"] is not None and got.data["nodes"][1] is None


async def test_ib_payout_arguments_take_the_global_id(schema, runtime, session_factory) -> None:
    ib = await make_user(session_factory)
    payout = (await ib_objects(session_factory, ib))["IbPayout"]
    finance = staff(await make_user(session_factory, is_staff=True), "ib.payouts")
    approve = """mutation($p: ID!) { approveIbPayout(input: {payoutId: $p, reason: "node"}) {
        payouts { id status } errors { code field } } }"""
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("Payment", payout), "nope"):  # another type's id, a malformed one: nothing moves
        refused = await run_as(schema, runtime, finance, approve, p=wrong)
        assert refused.data["approveIbPayout"] == {"payouts": [],
                                                   "errors": [{"code": "INVALID_ID", "field": "payoutId"}]}
    assert await count(session_factory, "audit_events") == before
    async with session_factory() as s:
        assert await s.scalar(text("SELECT status FROM ib_payouts WHERE id = :p"), {"p": payout}) == "held"
    # The global id reaches the payout (no payable to release here: the domain's own error, not INVALID_ID).
    reached = await run_as(schema, runtime, finance, approve, p=global_id("IbPayout", payout))
    assert reached.errors is None and reached.data["approveIbPayout"]["errors"][0]["code"] != "INVALID_ID"


async def test_ib_applications_are_their_applicants_and_ib_staffs(schema, runtime, session_factory, world) -> None:
    uid, objects = world
    gid = global_id("IbApplication", objects["IbApplication"])
    employee = await make_user(session_factory, is_staff=True)
    async with session_factory() as s:
        email = await s.scalar(text("SELECT email FROM users WHERE id = :u"), {"u": uid})
    # As ibApplications (ib.read) with the applicant's e-mail; as the approve/reject payloads (ib.manage_network)
    # and myIbApplications without.
    for viewer, shown in ((staff(employee, "ib.read"), email), (staff(employee, "ib.manage_network"), None),
                          (client(uid), None), (Actor(ActorKind.IB, user_id=uid), None)):
        got = await run_as(schema, runtime, viewer, NODE, id=gid)
        assert got.errors is None and got.data["node"] == {
            "__typename": "IbApplication", "id": gid, "databaseId": str(objects["IbApplication"]),
            "applicantEmail": shown}, viewer
    for outsider in (staff(employee, "ib.payouts", "ib.manage_plans", "clients.read"),
                     Actor(ActorKind.IB, user_id=await make_user(session_factory))):
        hidden = await run_as(schema, runtime, outsider, NODE, id=gid)
        assert hidden.errors is None and hidden.data["node"] is None, outsider
    reject = """mutation($a: ID!) { rejectIbApplication(input: {applicationId: $a, reason: "node"}) {
        application { id } errors { code field } } }"""
    refused = await run_as(schema, runtime, staff(employee, "ib.manage_network"), reject,
                        a=global_id("IbDispute", objects["IbApplication"]))
    assert refused.data["rejectIbApplication"] == {"application": None,
                                                   "errors": [{"code": "INVALID_ID", "field": "applicationId"}]}
    reached = await run_as(schema, runtime, staff(employee, "ib.manage_network"), reject, a=gid)
    assert reached.data["rejectIbApplication"]["errors"] == [{"code": "IB_NOT_PENDING", "field": "applicationId"}]


async def test_client_documents_are_their_clients_and_kyc_staffs(schema, runtime, session_factory, world) -> None:
    _uid, objects = world
    doc = objects["ClientDocument"]
    gid = global_id("ClientDocument", doc)
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE clients SET desk = 'node-desk' WHERE id = :c"), {"c": objects["MyClient"]})
    employee = await make_user(session_factory, is_staff=True)

    def desk_staff(desk: str) -> Actor:
        return Actor(ActorKind.STAFF, user_id=employee, permissions=frozenset({"clients.read"}), desk=desk)

    # As client(id:).documents (clients.read, desk-scoped) and reviewDocument (kyc.review: back office).
    for viewer in (desk_staff("node-desk"), staff(employee, "kyc.review")):
        got = await run_as(schema, runtime, viewer, NODE, id=gid)
        assert got.errors is None and got.data["node"]["databaseId"] == str(doc), viewer
    for outsider in (desk_staff("other-desk"), staff(employee, "clients.read"), staff(employee, "risk.read")):
        hidden = await run_as(schema, runtime, outsider, NODE, id=gid)
        assert hidden.errors is None and hidden.data["node"] is None, outsider
    review = """mutation($d: ID!) { reviewDocument(documentId: $d, accept: true) {
        document { id status } errors { code field } } }"""
    reviewer = staff(employee, "kyc.review")
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("MyClient", doc), "nope"):
        refused = await run_as(schema, runtime, reviewer, review, d=wrong)
        assert refused.data["reviewDocument"] == {"document": None,
                                                  "errors": [{"code": "INVALID_ID", "field": "documentId"}]}
    assert await count(session_factory, "audit_events") == before
    done = await run_as(schema, runtime, reviewer, review, d=gid)
    assert done.data["reviewDocument"] == {"document": {"id": gid, "status": "accepted"}, "errors": []}


async def test_review_risk_flag_takes_the_global_id(schema, runtime, session_factory) -> None:
    dealer = await make_user(session_factory, is_staff=True)
    flag = (await staff_objects(session_factory, dealer))["RiskFlagType"]
    review = """mutation($f: ID!) { reviewRiskFlag(id: $f, decision: CONFIRMED) {
        flag { id status } errors { code field } } }"""
    manager = staff(dealer, "risk.manage_segments")
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("RiskAlertType", flag), "nope"):
        refused = await run_as(schema, runtime, manager, review, f=wrong)
        assert refused.data["reviewRiskFlag"] == {"flag": None, "errors": [{"code": "INVALID_ID", "field": "id"}]}
    assert await count(session_factory, "audit_events") == before
    done = await run_as(schema, runtime, manager, review, f=global_id("RiskFlagType", flag))
    assert done.data["reviewRiskFlag"] == {"flag": {"id": global_id("RiskFlagType", flag), "status": "CONFIRMED"},
                                           "errors": []}


async def test_decide_leverage_change_takes_the_global_id(schema, runtime, session_factory, world) -> None:
    _uid, objects = world
    request = objects["LeverageRequest"]
    dealer = staff(await make_user(session_factory, is_staff=True), "trading.manage")
    decide = """mutation($i: ID!) { decideLeverageChange(id: $i, approve: false, reason: "node") {
        request { id status } errors { code field } } }"""
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("TradingAccount", request), "nope"):
        refused = await run_as(schema, runtime, dealer, decide, i=wrong)
        assert refused.data["decideLeverageChange"] == {"request": None,
                                                        "errors": [{"code": "INVALID_ID", "field": "id"}]}
    assert await count(session_factory, "audit_events") == before
    done = await run_as(schema, runtime, dealer, decide, i=global_id("LeverageRequest", request))
    assert done.data["decideLeverageChange"] == {"request": {"id": global_id("LeverageRequest", request),
                                                             "status": "rejected"}, "errors": []}


async def test_resolve_ib_dispute_takes_the_global_id(schema, runtime, session_factory) -> None:
    dispute = (await ib_objects(session_factory, await make_user(session_factory)))["IbDispute"]
    manager = staff(await make_user(session_factory, is_staff=True), "ib.manage_plans")
    resolve = """mutation($d: ID!) { resolveIbDispute(input: {disputeId: $d, accept: false, reason: "node"}) {
        dispute { id status } errors { code field } } }"""
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("IbPayout", dispute), "nope"):
        refused = await run_as(schema, runtime, manager, resolve, d=wrong)
        assert refused.data["resolveIbDispute"] == {"dispute": None,
                                                    "errors": [{"code": "INVALID_ID", "field": "disputeId"}]}
    assert await count(session_factory, "audit_events") == before
    done = await run_as(schema, runtime, manager, resolve, d=global_id("IbDispute", dispute))
    assert done.data["resolveIbDispute"] == {"dispute": {"id": global_id("IbDispute", dispute),
                                                         "status": "rejected"}, "errors": []}


async def test_ib_link_arguments_take_either_links_global_id(schema, runtime, session_factory) -> None:
    ib = await make_user(session_factory)
    link = (await ib_objects(session_factory, ib))["IbManagedLink"]
    rename = """mutation($l: ID!, $n: String!) { renameMyIbReferralLink(input: {linkId: $l, name: $n}) {
        link { id databaseId name } errors { code field } } }"""
    owner = Actor(ActorKind.IB, user_id=ib)
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("IbPayout", link), "nope", "MTIz"):
        refused = await run_as(schema, runtime, owner, rename, l=wrong, n="never")
        assert refused.data["renameMyIbReferralLink"] == {"link": None,
                                                          "errors": [{"code": "INVALID_ID", "field": "linkId"}]}
    assert await count(session_factory, "audit_events") == before
    for name, given in (("a", global_id("IbManagedLink", link)), ("b", global_id("IbReferralLink", link)),
                        ("c", str(link))):
        done = await run_as(schema, runtime, owner, rename, l=given, n=name)
        assert done.data["renameMyIbReferralLink"] == {"link": {"id": global_id("IbManagedLink", link),
                                                                "databaseId": str(link), "name": name},
                                                       "errors": []}


async def test_ids_from_fields_are_global_and_fetch_the_same_object(schema, runtime, world) -> None:
    uid, objects = world
    listed = await run_as(schema, runtime, client(uid), "{ myWallets { id databaseId } myTradingAccounts { nodes { id } } }")
    assert listed.errors is None
    wallet = listed.data["myWallets"][0]
    assert wallet == {"id": global_id("Wallet", objects["Wallet"]), "databaseId": str(objects["Wallet"])}
    assert listed.data["myTradingAccounts"]["nodes"] == [{"id": global_id("TradingAccount", objects["TradingAccount"])}]
    # Arguments take the global id, and the bare database id until 2027-06-30.
    for account in (global_id("TradingAccount", objects["TradingAccount"]), str(objects["TradingAccount"])):
        got = await run_as(schema, runtime, client(uid), "query($a: ID!) { tradingAccount(id: $a) { login } }", a=account)
        assert got.errors is None and got.data["tradingAccount"]["login"] > 0
    for payment in (global_id("Payment", objects["Payment"]), str(objects["Payment"])):
        got = await run_as(schema, runtime, client(uid), "query($p: ID!) { payment(id: $p) { id } }", p=payment)
        assert got.errors is None and got.data["payment"]["id"] == global_id("Payment", objects["Payment"])
    wrong = await run_as(schema, runtime, client(uid), "query($p: ID!) { payment(id: $p) { id } }",
                      p=global_id("Wallet", objects["Wallet"]))
    assert wrong.data is None and wrong.errors[0].original_error.code == "INVALID_ID"


async def test_other_clients_and_staff_without_permission_get_null(schema, runtime, session_factory, world) -> None:
    _, objects = world
    other = await make_user(session_factory)
    support = await make_user(session_factory, is_staff=True)
    ids = [global_id(t, k) for t, k in objects.items()]
    for outsider in (client(other), staff(support, "clients.read"), staff(support)):
        got = await run_as(schema, runtime, outsider, NODES, ids=ids)
        assert got.errors is None and got.data["nodes"] == [None] * len(ids), got.data
        one = await run_as(schema, runtime, outsider, NODE, id=ids[0])
        assert one.errors is None and one.data["node"] is None
    # Back-office staff with the type's own read permission see what that type's field shows them.
    finance = staff(support, "payments.read", "trading.read", "payments.manage")
    got = await run_as(schema, runtime, finance, NODES, ids=ids)
    seen = {n["__typename"] for n in got.data["nodes"] if n is not None}
    assert seen == {"Payment", "Dispute", "TradingAccount"}  # wallets: only their owner
    dealer = await run_as(schema, runtime, staff(support, "trading.manage"), NODES, ids=ids)
    assert {n["__typename"] for n in dealer.data["nodes"] if n is not None} == {"LeverageRequest"}
    missing = await run_as(schema, runtime, finance, NODE, id=global_id("Payment", 10**15))
    assert missing.errors is None and missing.data["node"] is None


async def test_invalid_ids_are_typed_errors_and_change_nothing(schema, runtime, session_factory, world) -> None:
    uid, objects = world
    before = await count(session_factory, "audit_events")
    for bad in ("nope", str(objects["Wallet"]), to_base64("Nope", 1), to_base64("Wallet", "1; DROP")):
        got = await run_as(schema, runtime, client(uid), NODE, id=bad)
        assert got.data == {"node": None} and got.errors[0].extensions["code"] == "INVALID_ID", bad
    too_many = await run_as(schema, runtime, client(uid), NODES, ids=[global_id("Wallet", 1)] * (MAX_NODES + 1))
    assert too_many.data is None and too_many.errors[0].extensions["code"] == "TOO_MANY_IDS"
    mixed = await run_as(schema, runtime, client(uid), NODES, ids=[global_id("Wallet", objects["Wallet"]), "nope"])
    assert mixed.data is None and mixed.errors[0].extensions["code"] == "INVALID_ID"
    # A mutation's id argument: a payload error, nothing written.
    refused = await run_as(schema, runtime, client(uid), """mutation($i: TransferToTradingAccountInput!) {
        transferToTradingAccount(input: $i) { transfer { id } errors { code field } } }""",
                        i={"walletId": global_id("Payment", 1), "amount": "1",
                           "tradingAccountId": global_id("TradingAccount", objects["TradingAccount"]),
                           "idempotencyKey": uuid.uuid4().hex})
    assert refused.data["transferToTradingAccount"]["errors"] == [{"code": "INVALID_ID", "field": "walletId"}]
    assert await count(session_factory, "audit_events") == before


@contextmanager
def statements(runtime: Any) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = runtime.services.session_factory.kw["bind"].sync_engine

    def log(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", log)


async def test_nodes_load_one_statement_per_type(schema, runtime, session_factory, settings) -> None:
    uid = await make_user(session_factory)
    made = [await owned_objects(session_factory, settings, uid) for _ in range(4)]
    ids = [global_id(t, k) for objects in made for t, k in objects.items()]
    ids.append(global_id("Payment", 10**15))  # absent: still in the same statement
    with statements(runtime) as few:
        one_each = await run_as(schema, runtime, client(uid), NODES, ids=ids[:len(made[0])])
    with statements(runtime) as many:
        got = await run_as(schema, runtime, client(uid), NODES, ids=ids)
    assert one_each.errors is None and got.errors is None
    assert [n["id"] if n else None for n in got.data["nodes"]] == [*ids[:-1], None]
    # 4 objects of each type (one shared EUR wallet), the same statements as one of each: one per type.
    assert len(many) == len(few) <= len(made[0]), many


async def test_other_contexts_take_a_clients_and_an_accounts_global_id(schema, runtime, world) -> None:
    """Risk, IB and compliance arguments naming a client or a trading account take the global id read
    from the clients' and accounts' own fields, as well as the bare id; another type's id is not found."""
    _uid, objects = world
    risk = staff(await make_user(runtime.services.session_factory, is_staff=True), "risk.read")
    by_client = "query($c: ID!) { riskSegmentAssignments(clientId: $c, currentOnly: false) { totalCount } }"
    by_account = "query($a: ID!) { riskAccountLinks(accountId: $a) { totalCount } }"
    for client_id in (global_id("ClientSummary", objects["MyClient"]), global_id("MyClient", objects["MyClient"]),
                      str(objects["MyClient"])):
        got = await run_as(schema, runtime, risk, by_client, c=client_id)
        assert got.errors is None, got.errors
    for account_id in (global_id("TradingAccount", objects["TradingAccount"]), str(objects["TradingAccount"])):
        got = await run_as(schema, runtime, risk, by_account, a=account_id)
        assert got.errors is None, got.errors
    wrong = await run_as(schema, runtime, risk, by_client, c=global_id("Wallet", objects["Wallet"]))
    assert wrong.errors is not None and wrong.errors[0].original_error.code == "RISK_CLIENT_NOT_FOUND"
    wrong = await run_as(schema, runtime, risk, by_account, a=global_id("ClientSummary", objects["MyClient"]))
    assert wrong.errors is not None and wrong.errors[0].original_error.code == "RISK_ACCOUNT_NOT_FOUND"


async def test_reference_fields_carry_global_ids(schema, runtime, session_factory, world) -> None:
    """Fields naming another object carry its global id (the bare one stays, deprecated, until 2027-06-30)."""
    uid, objects = world
    account = global_id("TradingAccount", objects["TradingAccount"])
    got = await run_as(schema, runtime, client(uid), "query($a: ID!) { tradingAccount(id: $a) { serverId tradingServerId } }",
                       a=account)
    server = got.data["tradingAccount"]
    assert server["tradingServerId"] == global_id("TradingServer", int(server["serverId"]))
    dealer = staff(await make_user(session_factory, is_staff=True), "trading.manage", "trading.read", "risk.read")
    leverage = await run_as(schema, runtime, dealer, """query($l: ID!) { node(id: $l) {
        ... on LeverageRequest { accountId tradingAccountId } } }""", l=global_id("LeverageRequest", objects["LeverageRequest"]))
    assert leverage.errors is None, leverage.errors
    assert leverage.data["node"]["tradingAccountId"] == account
    assert leverage.data["node"]["accountId"] == str(objects["TradingAccount"])
    seen = await run_as(schema, runtime, dealer, "query($s: ID!) { node(id: $s) { ... on TradingServer { id name } } }",
                        s=server["tradingServerId"])
    assert seen.errors is None and seen.data["node"]["id"] == server["tradingServerId"]
    made = await staff_objects(session_factory, dealer.user_id or 0)
    flag = await run_as(schema, runtime, dealer, """query($f: ID!) { node(id: $f) { ... on RiskFlagType {
        accountId tradingAccountId serverId tradingServerId } } }""", f=global_id("RiskFlagType", made["RiskFlagType"]))
    assert flag.errors is None and flag.data["node"]["tradingAccountId"] == global_id(
        "TradingAccount", int(flag.data["node"]["accountId"]))
    assert flag.data["node"]["tradingServerId"] == global_id("TradingServer", int(flag.data["node"]["serverId"]))
    booked = await run_as(schema, runtime, dealer, """query($a: ID!) { node(id: $a) { ... on SegmentAssignmentType {
        ruleId segmentRuleId tradingAccountId } } }""", a=global_id("SegmentAssignmentType", made["SegmentAssignmentType"]))
    assert booked.errors is None and booked.data["node"]["segmentRuleId"] == global_id(
        "SegmentRuleType", made["SegmentRuleType"]) and booked.data["node"]["ruleId"] == str(made["SegmentRuleType"])


async def test_trading_arguments_take_the_global_id(schema, runtime, session_factory) -> None:
    employee = await make_user(session_factory, is_staff=True)
    made = await staff_objects(session_factory, employee)
    manager = staff(employee, "trading.manage", "trading.read")
    resolve = """mutation($e: ID!) { resolveIngestionError(id: $e, note: "node") {
        ingestionError { id resolvedAt } errors { code field } } }"""
    enable = """mutation($s: ID!) { setTradingServerEnabled(id: $s, enabled: false) {
        tradingServer { id enabled } errors { code field } } }"""
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("TradingServer", made["IngestionError"]), "nope"):
        refused = await run_as(schema, runtime, manager, resolve, e=wrong)
        assert refused.data["resolveIngestionError"] == {"ingestionError": None,
                                                         "errors": [{"code": "INVALID_ID", "field": "id"}]}
    for wrong in (global_id("IngestionError", made["TradingServer"]), "nope"):
        refused = await run_as(schema, runtime, manager, enable, s=wrong)
        assert refused.data["setTradingServerEnabled"] == {"tradingServer": None,
                                                           "errors": [{"code": "INVALID_ID", "field": "id"}]}
    assert await count(session_factory, "audit_events") == before
    async with session_factory() as s:
        assert await s.scalar(text("SELECT resolved_at FROM trading_ingestion_errors WHERE id = :e"),
                              {"e": made["IngestionError"]}) is None
    gid = global_id("IngestionError", made["IngestionError"])
    done = await run_as(schema, runtime, manager, resolve, e=gid)
    assert done.data["resolveIngestionError"]["ingestionError"]["id"] == gid
    wrong = await run_as(schema, runtime, manager, "query($s: ID!) { instruments(serverId: $s) { symbol } }",
                         s=global_id("TradingAccount", made["TradingServer"]))
    assert wrong.data is None and wrong.errors[0].original_error.code == "INVALID_ID"
    for server in (global_id("TradingServer", made["TradingServer"]), str(made["TradingServer"])):
        listed = await run_as(schema, runtime, manager, "query($s: ID!) { instruments(serverId: $s) { symbol } }", s=server)
        assert listed.errors is None and listed.data["instruments"] == []


async def test_announcements_are_everyones(schema, runtime, session_factory) -> None:
    async with session_factory() as s, s.begin():
        key = await s.scalar(text("INSERT INTO announcements (title, body, severity, posted_by) VALUES ('node', 'test', 'info', 'node-test') "
                                  "RETURNING id"))
    gid = global_id("Announcement", key)
    for viewer in (client(await make_user(session_factory)), staff(await make_user(session_factory, is_staff=True)),
                   Actor(ActorKind.IB, user_id=await make_user(session_factory))):
        got = await run_as(schema, runtime, viewer, NODE, id=gid)
        assert got.errors is None and got.data["node"] == {"__typename": "Announcement", "id": gid,
                                                           "databaseId": str(key), "title": "node"}, viewer
    listed = await run_as(schema, runtime, client(await make_user(session_factory)), "{ announcements(first: 50) { nodes { id } } }")
    assert {"id": gid} in listed.data["announcements"]["nodes"]


async def test_payment_method_arguments_take_the_global_id(schema, runtime, session_factory) -> None:
    employee = await make_user(session_factory, is_staff=True)
    method = (await staff_objects(session_factory, employee))["PaymentMethodConfig"]
    manager = staff(employee, "payments.methods.manage", "payments.read")
    toggle = """mutation($m: ID!) { setPaymentMethodEnabled(id: $m, enabled: true) {
        method { id enabled } errors { code field } } }"""
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("Payment", method), "nope"):
        refused = await run_as(schema, runtime, manager, toggle, m=wrong)
        assert refused.data["setPaymentMethodEnabled"] == {"method": None,
                                                           "errors": [{"code": "INVALID_ID", "field": "id"}]}
    assert await count(session_factory, "audit_events") == before
    async with session_factory() as s:
        assert await s.scalar(text("SELECT enabled FROM payment_methods WHERE id = :m"), {"m": method}) is False
    gid = global_id("PaymentMethodConfig", method)
    done = await run_as(schema, runtime, manager, toggle, m=gid)
    assert done.data["setPaymentMethodEnabled"] == {"method": {"id": gid, "enabled": True}, "errors": []}
    async with session_factory() as s, s.begin():  # leave no enabled test method for other tests' listings
        await s.execute(text("UPDATE payment_methods SET enabled = false WHERE id = :m"), {"m": method})


async def test_ib_tree_members_are_their_upline_ibs_within_its_visible_depth(schema, runtime, session_factory) -> None:
    """A sub-IB is a node to the IBs above it, within each one's visible depth, masked as its tree shows it."""
    top, mid, low, other = [await make_user(session_factory) for _ in range(4)]
    async with session_factory() as s, s.begin():
        for ib, depth in ((top, 1), (mid, 3), (low, 3), (other, 3)):
            await s.execute(text("INSERT INTO ib_partners (user_id, status, visible_depth, decided_at) VALUES "
                                 "(:u, 'approved', :d, now())"), {"u": ib, "d": depth})
        for ib, parent in ((mid, top), (low, mid)):
            await s.execute(text("INSERT INTO ib_tree_edges (ib_id, parent_id, valid_from) VALUES (:i, :p, now())"),
                            {"i": ib, "p": parent})
        for ancestor, descendant, depth in ((top, mid, 1), (top, low, 2), (mid, low, 1)):
            await s.execute(text("INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) VALUES "
                                 "(:a, :d, :n, now())"), {"a": ancestor, "d": descendant, "n": depth})
    ids = [global_id("IbTreeMember", mid), global_id("IbTreeMember", low)]
    seen = await run_as(schema, runtime, Actor(ActorKind.IB, user_id=top), NODES, ids=ids)
    assert seen.errors is None, seen.errors
    member = seen.data["nodes"][0]
    assert member["id"] == ids[0] and member["databaseId"] == str(mid) and member["depth"] == 1
    assert member["parentMemberId"] is None and "*" in member["contact"]["email"]  # masked: no PII setting
    assert seen.data["nodes"][1] is None  # depth 2, beyond top's visible depth of 1
    below = await run_as(schema, runtime, Actor(ActorKind.IB, user_id=mid), NODES, ids=ids)
    assert below.data["nodes"][0] is None and below.data["nodes"][1]["depth"] == 1  # not itself; its own sub-IB
    full = await run_as(schema, runtime, Actor(ActorKind.IB, user_id=top), "{ myIbTree { members { nodes { id } } } }")
    assert full.data["myIbTree"]["members"]["nodes"] == [{"id": ids[0]}]  # as its tree shows it
    for outsider in (Actor(ActorKind.IB, user_id=other), Actor(ActorKind.IB, user_id=low), client(top),
                     staff(await make_user(session_factory, is_staff=True), *IB_PERMISSIONS, "clients.read")):
        hidden = await run_as(schema, runtime, outsider, NODES, ids=ids)
        assert hidden.errors is None and hidden.data["nodes"] == [None, None], outsider


async def test_screening_hits_are_kyc_staffs_and_their_clients_desks(schema, runtime, session_factory) -> None:
    employee = await make_user(session_factory, is_staff=True)
    async with session_factory() as s, s.begin():
        record = await s.scalar(text(
            "INSERT INTO clients (user_id, status, first_name, last_name, desk) VALUES (:u, 'registered', 'Node', "
            "'Hit', 'node-desk') RETURNING id"), {"u": await make_user(session_factory)})
        hit = await s.scalar(text(
            "INSERT INTO screening_results (client_id, list_name, list_version, matcher_version, threshold, score, "
            "status) VALUES (:c, 'node-list', '1', '1', 0.8, 0.9, 'pending') RETURNING id"), {"c": record})
    gid = global_id("ScreeningHit", hit)

    def desk_staff(desk: str) -> Actor:
        return Actor(ActorKind.STAFF, user_id=employee, permissions=frozenset({"clients.read"}), desk=desk)

    # As Client360.screening (clients.read, desk-scoped) and screeningHits/resolveScreeningHit (kyc.review).
    for viewer in (desk_staff("node-desk"), staff(employee, "kyc.review")):
        got = await run_as(schema, runtime, viewer, NODE, id=gid)
        assert got.errors is None and got.data["node"]["databaseId"] == str(hit), viewer
        assert got.data["node"]["listName"] == "node-list"
    for outsider in (desk_staff("other-desk"), staff(employee, "clients.read"), staff(employee, "risk.read"),
                     client(await make_user(session_factory))):
        hidden = await run_as(schema, runtime, outsider, NODE, id=gid)
        assert hidden.errors is None and hidden.data["node"] is None, outsider
    resolve = """mutation($r: ID!) { resolveScreeningHit(resultId: $r, confirmed: false, reason: "node") {
        hit { id status } errors { code field } } }"""
    reviewer = staff(employee, "kyc.review")
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("PaymentSignalType", hit), "nope"):
        refused = await run_as(schema, runtime, reviewer, resolve, r=wrong)
        assert refused.data["resolveScreeningHit"] == {"hit": None,
                                                       "errors": [{"code": "INVALID_ID", "field": "resultId"}]}
    assert await count(session_factory, "audit_events") == before
    done = await run_as(schema, runtime, reviewer, resolve, r=gid)
    assert done.data["resolveScreeningHit"] == {"hit": {"id": gid, "status": "dismissed"}, "errors": []}


async def test_signal_and_adjustment_arguments_take_the_global_id(schema, runtime, session_factory) -> None:
    employee = await make_user(session_factory, is_staff=True)
    made = await staff_objects(session_factory, employee)
    reviewer = staff(employee, "compliance.review", "compliance.read", "kyc.review")  # back office: every desk
    review = """mutation($s: ID!) { reviewPaymentSignal(signalId: $s, decision: ESCALATE, note: "node") {
        signal { id status paymentId } errors { code field } } }"""
    approver = staff(await make_user(session_factory, is_staff=True), "ledger.adjust")
    reject = """mutation($a: ID!) { rejectBalanceAdjustment(id: $a, reason: "node") {
        adjustment { id status requestedById decidedById } errors { code field } } }"""
    before = await count(session_factory, "audit_events")
    for wrong in (global_id("ScreeningHit", made["PaymentSignalType"]), "nope"):
        refused = await run_as(schema, runtime, reviewer, review, s=wrong)
        assert refused.data["reviewPaymentSignal"] == {"signal": None,
                                                       "errors": [{"code": "INVALID_ID", "field": "signalId"}]}
    for wrong in (global_id("Payment", made["BalanceAdjustment"]), "nope"):
        refused = await run_as(schema, runtime, approver, reject, a=wrong)
        assert refused.data["rejectBalanceAdjustment"] == {"adjustment": None,
                                                           "errors": [{"code": "INVALID_ID", "field": "id"}]}
    assert await count(session_factory, "audit_events") == before
    signal = global_id("PaymentSignalType", made["PaymentSignalType"])
    done = await run_as(schema, runtime, reviewer, review, s=signal)
    assert done.data["reviewPaymentSignal"] == {"signal": {"id": signal, "status": "ESCALATED", "paymentId": None},
                                                "errors": []}
    adjustment = global_id("BalanceAdjustment", made["BalanceAdjustment"])
    rejected = await run_as(schema, runtime, approver, reject, a=adjustment)
    assert rejected.data["rejectBalanceAdjustment"] == {"adjustment": {
        "id": adjustment, "status": "REJECTED", "requestedById": global_id("StaffUser", employee),
        "decidedById": global_id("StaffUser", approver.user_id or 0)}, "errors": []}


async def test_staff_references_carry_staff_users_global_ids(schema, runtime, session_factory) -> None:
    employee = await make_user(session_factory, is_staff=True)
    made = await staff_objects(session_factory, employee)
    admin = staff(employee, "staff.manage", "config.manage")
    got = await run_as(schema, runtime, admin, """query($r: ID!, $c: ID!) {
        rule: node(id: $r) { ... on SalesRule { assigneeIds assigneeStaffUserIds } }
        change: node(id: $c) { ... on StaffChangeRequest { targetUserId targetStaffUserId requestedById decidedById } } }""",
                       r=global_id("SalesRule", made["SalesRule"]), c=global_id("StaffChangeRequest", made["StaffChangeRequest"]))
    assert got.errors is None, got.errors
    me = global_id("StaffUser", employee)
    assert got.data["rule"] == {"assigneeIds": [str(employee)], "assigneeStaffUserIds": [me]}
    assert got.data["change"] == {"targetUserId": str(employee), "targetStaffUserId": me, "requestedById": me,
                                  "decidedById": me}
    commented = await run_as(schema, runtime, staff(employee, "reconciliation.manage"), """query($c: ID!) {
        node(id: $c) { ... on BreakComment { authorId authorStaffUserId } } }""",
                             c=global_id("BreakComment", made["BreakComment"]))
    assert commented.data["node"] == {"authorId": str(employee), "authorStaffUserId": me}
    reject = """mutation($c: ID!) { rejectStaffChange(id: $c, reason: "node") { request { id } errors { code field } } }"""
    refused = await run_as(schema, runtime, admin, reject, c=global_id("SalesRule", made["StaffChangeRequest"]))
    assert refused.data["rejectStaffChange"] == {"request": None, "errors": [{"code": "INVALID_ID", "field": "id"}]}
    reached = await run_as(schema, runtime, admin, reject, c=global_id("StaffChangeRequest", made["StaffChangeRequest"]))
    assert reached.data["rejectStaffChange"]["errors"][0]["code"] == "STAFF_CHANGE_NOT_PENDING"
    add = """mutation($a: [ID!]!) { addSalesRule(desk: "node-desk", assigneeIds: $a, country: "AQ", language: "zy") {
        rule { id assigneeStaffUserIds } errors { code field } } }"""
    wrong = await run_as(schema, runtime, admin, add, a=[global_id("Role", employee)])
    assert wrong.data["addSalesRule"] == {"rule": None, "errors": [{"code": "INVALID_ID", "field": "assigneeIds"}]}
    added = await run_as(schema, runtime, admin, add, a=[me])
    assert added.data["addSalesRule"]["rule"]["assigneeStaffUserIds"] == [me], added.data
