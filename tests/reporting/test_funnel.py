"""The acquisition funnel over HTTP: steps, shares and median hours per campaign, desk-scoped."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
from sqlalchemy import text

from domain.ledger.wallets import deposit_to_wallet
from domain.shared.actor import system_actor
from domain.shared.db import in_transaction
from jobs.reporting import sweep
from tests.identity.staff import make_staff
from tests.trading.conftest import new_server

FUNNEL = """query($s: Date!, $u: Date!, $d: FunnelDimension!) { funnelReport(since: $s, until: $u, dimension: $d) {
  lines { key leads convertedLeads leadConversion registered verified approved firstDeposits firstTrades
          verifiedShare firstDepositShare firstTradeShare medianHoursToVerify }
  total { registered leads firstTrades } } }"""


async def test_funnel_by_campaign_counts_each_step_for_the_callers_desk(
    http: httpx.AsyncClient, session_factory: Any, settings: Any
) -> None:
    # given, on a desk of its own: 3 leads of campaign "spring" (2 became clients) and a 4th client of "autumn";
    # 3 verified (2 hours after registering), 2 approved, 2 deposited, 1 traded
    desk = f"funnel-{uuid.uuid4().hex[:8]}"
    server_id = await new_server(session_factory, "http://127.0.0.1:9", "x")
    users: list[int] = []
    async with session_factory() as s, s.begin():
        for i, campaign in enumerate(("spring", "spring", "spring", "autumn")):
            email = f"{desk}-{i}@example.com"
            uid = int(await s.scalar(text(
                "INSERT INTO users (email, email_normalized, is_client, email_verified_at) VALUES (:e, :e, true, "
                "CASE WHEN :v THEN now() + interval '2 hours' END) RETURNING id"), {"e": email, "v": i < 3}))
            cid = int(await s.scalar(text(
                "INSERT INTO clients (user_id, status, desk, country, attribution) VALUES (:u, 'registered', :d, 'DE', "
                "jsonb_build_object('utm_campaign', CAST(:c AS text))) RETURNING id"), {"u": uid, "d": desk, "c": campaign}))
            if campaign == "spring":
                await s.execute(text(
                    "INSERT INTO leads (email, email_normalized, country, first_touch, desk, client_id) VALUES "
                    "(:e, :e, 'DE', jsonb_build_object('utm_campaign', 'spring'), :d, :c)"),
                    {"e": email, "d": desk, "c": cid if i < 2 else None})
            if i < 2:
                await s.execute(text("INSERT INTO client_status_history (client_id, from_status, to_status, actor_kind) "
                                     "VALUES (:c, 'under_review', 'approved', 'staff')"), {"c": cid})
            users.append(uid)
        account = int(await s.scalar(text(
            "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency) "
            "VALUES (:s, 1, :u, 'g', 100, 'USD') RETURNING id"), {"s": server_id, "u": users[0]}))
        await s.execute(text(
            "INSERT INTO risk_trades (server_id, position_id, account_id, login, symbol, open_ms) "
            "VALUES (:s, 1, :a, 1, 'EURUSD', (extract(epoch FROM now() + interval '3 hours') * 1000)::bigint)"),
            {"s": server_id, "a": account})
    for uid in users[:2]:
        await in_transaction(session_factory, partial(
            deposit_to_wallet, actor=system_actor("tests.funnel"), user_id=uid, currency="USD", amount=Decimal(100),
            idempotency_key=f"funnel-{uid}"))
    await sweep(session_factory)
    async with session_factory() as s:
        today = await s.scalar(text("SELECT (now() AT TIME ZONE 'UTC')::date"))
    period = {"s": today.isoformat(), "u": (today + timedelta(days=1)).isoformat(), "d": "CAMPAIGN"}

    # when staff of that desk read the funnel by campaign
    staff = (await make_staff(http, session_factory, settings, ["ib_manager"], desk=desk)).client
    body = await staff(FUNNEL, period)

    # then each step counts the desk's clients only
    report = body["data"]["funnelReport"]
    spring, autumn = report["lines"]
    assert spring == {"key": "spring", "leads": 3, "convertedLeads": 2, "leadConversion": "0.6667", "registered": 3,
                      "verified": 3, "approved": 2, "firstDeposits": 2, "firstTrades": 1, "verifiedShare": "1",
                      "firstDepositShare": "0.6667", "firstTradeShare": "0.3333", "medianHoursToVerify": "2"}
    assert (autumn["key"], autumn["registered"], autumn["verified"], autumn["leads"]) == ("autumn", 1, 0, 0)
    assert autumn["medianHoursToVerify"] is None
    assert report["total"] == {"registered": 4, "leads": 3, "firstTrades": 1}
    # and staff of another desk see none of it
    other = (await make_staff(http, session_factory, settings, ["ib_manager"], desk=f"{desk}-x")).client
    assert (await other(FUNNEL, period))["data"]["funnelReport"]["total"]["registered"] == 0
    # and a reversed period is a typed error
    bad = await staff(FUNNEL, {**period, "s": period["u"], "u": period["s"]})
    assert {e["extensions"]["code"] for e in bad["errors"]} == {"REPORT_PERIOD_INVALID"}
