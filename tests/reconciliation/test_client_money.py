"""Client money (CASS 7 standard method) as a section of the reconciliation run: requirement per
currency = sum per client of max(0, wallets + equity), vs recorded bank + PSP resources.

Each test uses its own currency (the test database is shared by the file's tests and the section
covers every client), and runs with cutoff = now so the close date is today.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from domain.ledger import wallets
from domain.ledger.accounts import link_trading_account
from domain.reconciliation import client_money, runs
from domain.reconciliation.breaks import BreakView, list_breaks
from domain.reconciliation.client_money import ResourceKind
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction, utcnow
from domain.shared.errors import DomainError
from domain.shared.pagination import PageRequest
from tests.identity.staff import make_staff

STAFF = Actor(ActorKind.STAFF, user_id=None, permissions=frozenset({"reconciliation.manage"}))


@pytest.fixture(autouse=True)
async def _drop_snapshots(session_factory: Any) -> AsyncIterator[None]:
    """A run's balance section counts every snapshot younger than a day: this file's must not show up
    in the runs of the suites that follow on the same database."""
    yield
    async with session_factory() as s, s.begin():
        await s.execute(text("DELETE FROM reconciliation_platform_balances WHERE server_id LIKE 'cm-%'"))


async def _deposit(factory: Any, user_id: int, currency: str, amount: str) -> None:
    await in_transaction(factory, lambda s: wallets.deposit_to_wallet(
        s, system_actor("test"), user_id=user_id, currency=currency, amount=Decimal(amount),
        idempotency_key=uuid.uuid4().hex, provider="cmpsp", reference=f"cm-{uuid.uuid4().hex[:10]}"))


async def _equity(factory: Any, user_id: int, currency: str, equity: str) -> None:
    """A trading account of the client's with a snapshot at the close: balance 0 (nothing transferred, so
    section (d) matches it), equity from open positions."""
    server, login = f"cm-{uuid.uuid4().hex[:8]}", 7001

    async def work(s: Any) -> None:
        await link_trading_account(s, user_id=user_id, server_id=server, login=login, currency=currency)
        await s.execute(text(
            "INSERT INTO reconciliation_platform_balances (server_id, login, captured_at, currency, balance, equity) "
            "VALUES (:s, :l, :at, :c, 0, :e)"), {"s": server, "l": login, "at": utcnow(), "c": currency, "e": equity})

    await in_transaction(factory, work)


async def _resource(factory: Any, kind: str, currency: str, balance: str, day: Any) -> None:
    await in_transaction(factory, lambda s: client_money.record_resource(
        s, STAFF, as_of=day, kind=ResourceKind(kind), account=f"{kind}-{currency}", currency=currency,
        balance=Decimal(balance)))


async def _run(factory: Any) -> tuple[runs.RunView, list[BreakView]]:
    cut = utcnow()
    run = await in_transaction(factory, lambda s: runs.run_reconciliation(s, STAFF, cut,
                                                                          window=timedelta(minutes=1)))
    async with factory() as s:
        page = await list_breaks(s, run_id=run.id, status=None, kind=None, page=PageRequest(size=500))
    return run, [b for b in page.items if b.section == "client_money"]


def _line(run: runs.RunView, currency: str) -> dict[str, Any]:
    [line] = [x for x in run.summary["clientMoney"] if x["currency"] == currency]
    return dict(line)


async def test_shortfall_is_a_break_with_its_figures(session_factory, make_user) -> None:
    a, b = await make_user(), await make_user()
    await _deposit(session_factory, a, "KWD", "100.125")
    await _deposit(session_factory, b, "KWD", "20")
    await _equity(session_factory, b, "KWD", "30.375")
    await _resource(session_factory, "bank", "KWD", "120", runs.close_date(utcnow()))

    run, found = await _run(session_factory)

    [brk] = [x for x in found if x.currency == "KWD"]
    assert (brk.kind.value, brk.key, brk.amount_diff) == ("shortfall", "KWD", Decimal("-30.5"))
    assert brk.evidence["requirement"] == "150.500" and brk.evidence["resource"] == "120.000"
    assert brk.evidence["walletBalances"] == "120.125" and brk.evidence["tradingEquity"] == "30.375"
    assert "shortfall of 30.500 KWD" in brk.suggested_cause
    line = _line(run, "KWD")
    assert (line["kind"], line["difference"], line["clients"]) == ("shortfall", "-30.500", 2)
    assert run.summary["sections"]["client_money"].get("shortfall", 0) >= 1


async def test_a_client_netting_to_zero_is_not_counted_as_holding_client_money(session_factory, make_user) -> None:
    a, b = await make_user(), await make_user()
    await _deposit(session_factory, a, "BHD", "5.250")
    await _deposit(session_factory, b, "BHD", "10")
    await _equity(session_factory, b, "BHD", "-10")  # b's wallet and account net to zero
    await _resource(session_factory, "bank", "BHD", "5.250", runs.close_date(utcnow()))

    run, found = await _run(session_factory)

    assert [x for x in found if x.currency == "BHD"] == []
    line = _line(run, "BHD")
    assert (line["kind"], line["requirement"], line["clients"], line["negativeClients"]) == ("matched", "5.250", 1, 0)


async def test_excess_with_a_negative_client_floored_at_zero(session_factory, make_user) -> None:
    a, b = await make_user(), await make_user()
    await _deposit(session_factory, a, "JOD", "100")
    await _deposit(session_factory, b, "JOD", "20")
    await _equity(session_factory, b, "JOD", "-50")  # b is 30 in debit: not client money, must not offset a's
    day = runs.close_date(utcnow())
    await _resource(session_factory, "bank", "JOD", "80", day)
    await _resource(session_factory, "psp", "JOD", "30", day)

    _, found = await _run(session_factory)

    [brk] = [x for x in found if x.currency == "JOD"]
    assert (brk.kind.value, brk.amount_diff) == ("excess", Decimal("10"))
    ev = brk.evidence
    assert (ev["requirement"], ev["negativeFloored"], ev["negativeClients"]) == ("100.000", "30.000", 1)
    assert (ev["bankBalances"], ev["pspBalances"], ev["resource"]) == ("80.000", "30.000", "110.000")
    assert [x["kind"] for x in ev["resourceAccounts"]] == ["bank", "psp"]


async def test_exact_match_raises_no_break_and_rerun_clears(session_factory, make_user) -> None:
    a = await make_user()
    await _deposit(session_factory, a, "OMR", "40.5")
    day = runs.close_date(utcnow())
    await _resource(session_factory, "bank", "OMR", "40.500", day)

    run, found = await _run(session_factory)

    assert [x for x in found if x.currency == "OMR"] == []
    assert _line(run, "OMR")["kind"] == "matched" and _line(run, "OMR")["requirement"] == "40.500"
    # The same resource recorded again replaces it: now short by 0.5 at the next run.
    await _resource(session_factory, "bank", "OMR", "40", day)
    _, found = await _run(session_factory)
    assert [(x.kind.value, x.amount_diff) for x in found if x.currency == "OMR"] == [("shortfall", Decimal("-0.5"))]


async def test_bad_resource_input_is_typed_and_stores_nothing(session_factory) -> None:
    today = utcnow().date()
    cases = [
        ({"currency": "NOPE", "balance": Decimal("1")}, "UNKNOWN_CURRENCY"),
        ({"currency": "USD", "balance": Decimal("-1")}, "INVALID_AMOUNT"),
        ({"currency": "USD", "balance": Decimal("1.001")}, "AMOUNT_PRECISION"),
        ({"currency": "USD", "balance": Decimal("1"), "as_of": today + timedelta(days=1)},
         "INVALID_CLIENT_MONEY_BALANCE"),
        ({"currency": "USD", "balance": Decimal("1"), "account": " "}, "INVALID_CLIENT_MONEY_BALANCE"),
    ]

    async def counts() -> tuple[int, int]:
        async with session_factory() as s:
            r = await s.scalar(text("SELECT count(*) FROM client_money_resources"))
            a = await s.scalar(text("SELECT count(*) FROM audit_events WHERE action LIKE 'reconciliation.client_money%'"))
        return int(r or 0), int(a or 0)

    before = await counts()
    for given, code in cases:
        args: dict[str, Any] = {"as_of": today, "kind": ResourceKind.BANK, "account": "bank-1", **given}
        async def work(s: Any, args: dict[str, Any] = args) -> client_money.ResourceView:
            return await client_money.record_resource(s, STAFF, **args)

        try:
            await in_transaction(session_factory, work)
        except DomainError as exc:
            assert exc.code == code, given
        else:
            raise AssertionError(f"{given} was accepted")
    assert await counts() == before


async def test_staff_record_run_sign_off_and_resolve_over_graphql(http, session_factory, settings, make_user) -> None:
    finance = await make_staff(http, session_factory, settings, ["finance"])
    reviewer = await make_staff(http, session_factory, settings, ["finance"])  # four eyes: not the preparer
    support = await make_staff(http, session_factory, settings, ["support"])
    client = await make_user()
    await _deposit(session_factory, client, "TND", "12.5")
    day = runs.close_date(utcnow()).isoformat()
    record = ("mutation($i: ClientMoneyResourceInput!) { recordClientMoneyResource(input: $i) {"
              " resource { kind account currency balance asOf } errors { code field } } }")
    good = {"asOf": day, "kind": "BANK", "account": "Barclays client a/c", "currency": "TND", "balance": "10"}

    recorded = await finance.client(record, {"i": good})
    refused = await finance.client(record, {"i": {**good, "balance": "-3"}})
    denied = await support.client(record, {"i": good})
    listed = await finance.client("query($d: Date) { clientMoneyResources(asOf: $d, currency: \"tnd\") {"
                                  " nodes { account balance } } }", {"d": day})
    ran = await finance.client("mutation($c: DateTime!) { runReconciliation(cutoff: $c) { run { id databaseId clientMoney {"
                               " currency kind requirement resource difference closeDate } } errors { code } } }",
                               {"c": utcnow().isoformat()})
    run = ran["data"]["runReconciliation"]["run"]
    sign = ("mutation($i: ID!) { signOffClientMoney(runId: $i, note: \"checked vs statements\") { signOff {"
            " signedByStaffUserId note openBreaks lines { currency kind } } errors { code } } }")
    signed = await reviewer.client(sign, {"i": run["id"]})
    twice = await reviewer.client(sign, {"i": run["id"]})
    missing = await reviewer.client(sign, {"i": "999999999"})
    denied_sign = await support.client(sign, {"i": run["id"]})
    shown = await finance.client("query($i: ID!) { reconciliationRun(id: $i) { clientMoneySignOff { note } } }",
                                 {"i": run["id"]})
    brks = await finance.client("query($r: ID!) { reconciliationBreaks(filter: {runId: $r, kind: SHORTFALL}) {"
                                " nodes { id section currency } } }", {"r": run["id"]})
    [brk] = [b for b in brks["data"]["reconciliationBreaks"]["nodes"] if b["currency"] == "TND"]
    resolved = await finance.client("mutation($i: ID!) { resolveBreak(id: $i, resolution: {explanation: "
                                    "\"topped up from firm money\"}) { reconciliationBreak { status } errors { code } } }",
                                    {"i": brk["id"]})

    assert recorded["data"]["recordClientMoneyResource"] == {"resource": {
        "kind": "BANK", "account": "Barclays client a/c", "currency": "TND", "balance": "10.000", "asOf": day},
        "errors": []}
    assert refused["data"]["recordClientMoneyResource"] == {
        "resource": None, "errors": [{"code": "INVALID_AMOUNT", "field": "balance"}]}
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert listed["data"]["clientMoneyResources"]["nodes"] == [{"account": "Barclays client a/c", "balance": "10.000"}]
    [line] = [x for x in run["clientMoney"] if x["currency"] == "TND"]
    assert line == {"currency": "TND", "kind": "shortfall", "requirement": "12.500", "resource": "10.000",
                    "difference": "-2.500", "closeDate": day}
    assert brk["section"] == "CLIENT_MONEY"
    done = signed["data"]["signOffClientMoney"]
    assert done["errors"] == [] and done["signOff"]["note"] == "checked vs statements"
    assert done["signOff"]["openBreaks"] >= 1 and {"currency": "TND", "kind": "shortfall"} in done["signOff"]["lines"]
    assert twice["data"]["signOffClientMoney"]["errors"] == [{"code": "CLIENT_MONEY_ALREADY_SIGNED_OFF"}]
    assert missing["data"]["signOffClientMoney"]["errors"] == [{"code": "RECONCILIATION_RUN_NOT_FOUND"}]
    assert denied_sign["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert shown["data"]["reconciliationRun"]["clientMoneySignOff"] == {"note": "checked vs statements"}
    assert resolved["data"]["resolveBreak"] == {"reconciliationBreak": {"status": "EXPLAINED"}, "errors": []}
    async with session_factory() as s:
        audited = (await s.execute(text(
            "SELECT actor_user_id FROM audit_events WHERE entity_type = 'reconciliation_run' AND entity_id = :r "
            "AND action = 'reconciliation.client_money.sign_off'"), {"r": run["databaseId"]})).all()
    assert [r.actor_user_id for r in audited] == [reviewer.user_id]


async def test_demo_accounts_are_not_client_money_and_totals_are_at_the_currency_scale(
    session_factory, make_user,
) -> None:
    """ISK has no minor unit: equity 5.4 on a real account makes the requirement 10 + 5.4 = 15 at scale 0;
    a demo account's equity is play money and does not count."""
    client = await make_user()
    await _deposit(session_factory, client, "ISK", "10")

    async def accounts(s: Any) -> int:
        server = await s.scalar(text(
            "INSERT INTO trading_servers (name, platform, base_url, manager_login, password_enc) "
            "VALUES (:n, 'mt5', 'http://127.0.0.1:9', 1000, 'x') RETURNING id"), {"n": f"cm-{uuid.uuid4().hex[:8]}"})
        for login, kind, equity in ((1, "real", "5.4"), (2, "demo", "1000")):
            await s.execute(text(
                "INSERT INTO trading_accounts (server_id, login, user_id, \"group\", leverage, currency, account_type) "
                "VALUES (:s, :l, :u, 'g', 100, 'ISK', :k)"), {"s": server, "l": login, "u": client, "k": kind})
            await s.execute(text(
                "INSERT INTO reconciliation_platform_balances (server_id, login, captured_at, currency, balance, "
                "equity) VALUES (:s, :l, :at, 'ISK', 0, :e)"), {"s": str(server), "l": login, "at": utcnow(), "e": equity})
        return int(server)

    server = await in_transaction(session_factory, accounts)
    await _resource(session_factory, "bank", "ISK", "15", runs.close_date(utcnow()))
    try:
        run, found = await _run(session_factory)
    finally:  # unmirrored logins: a later run's balance section (other tests) must not see them
        async with session_factory() as s, s.begin():
            await s.execute(text("DELETE FROM reconciliation_platform_balances WHERE server_id = :s"),
                            {"s": str(server)})

    line = _line(run, "ISK")
    assert (line["kind"], line["requirement"], line["tradingEquity"], line["clients"]) == ("matched", "15", "5", 1)
    assert [x for x in found if x.currency == "ISK"] == []
