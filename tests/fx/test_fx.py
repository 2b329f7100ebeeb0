"""FX rates from the ECB (its stand-in), stored with source and time; quote-then-accept exchange."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from domain.fx import rates
from domain.fx.ecb import parse_daily
from domain.fx.errors import RateSourceUnavailable, RateStale, UnknownRateSource
from domain.fx.port import FxSettings, provider_for
from domain.ledger import wallets
from domain.ledger.accounts import wallet_for
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction, utcnow
from sandbox.fx import ECB_PATH, FxStandIn, fx_standin
from schema.context import Context
from schema.root import build_schema
from tests.ledger.conftest import client, key, snapshot

QUOTE = """mutation($i: QuoteExchangeInput!) { quoteExchange(input: $i) {
  quote { id fromCurrency toCurrency sell buy fee midRate rate markup rateSource rateTime expiresAt }
  errors { code field } } }"""
ACCEPT = """mutation($i: ExchangeInput!) { exchange(input: $i) {
  exchange { sold soldCurrency bought boughtCurrency midRate appliedRate fee } errors { code field } } }"""
REFRESH = "mutation { refreshFxRates { source count time errors { code } } }"
FX_TABLES = ("fx_quotes", "fx_rates")


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)


async def run(schema: Any, runtime: Any, actor: Actor, query: str, **variables: Any) -> Any:
    ctx = Context(services=runtime.services, request=None, response=None, request_id="t",  # type: ignore[arg-type]
                  actor=actor)
    return await schema.execute(query, variable_values=variables, context_value=ctx)


def staff(*permissions: str) -> Actor:
    return Actor(ActorKind.STAFF, user_id=None, permissions=frozenset(permissions))


@pytest.fixture
async def ecb(monkeypatch) -> Any:
    async with fx_standin() as stand_in:
        monkeypatch.setenv("FOREXCRM_FX_SOURCE", "ecb")
        monkeypatch.setenv("FOREXCRM_FX_ECB_URL", stand_in.base_url + ECB_PATH)
        yield stand_in


async def everything(session_factory: Any) -> dict[str, Any]:
    out = await snapshot(session_factory)
    async with session_factory() as s:
        for table in FX_TABLES:
            out[table] = [tuple(r) for r in (await s.execute(text(f"SELECT * FROM {table} ORDER BY 1"))).all()]
    return out


async def funded(session_factory: Any, make_user: Any, amount: str = "1000") -> int:
    uid = await make_user()
    await in_transaction(session_factory, lambda s: wallets.deposit_to_wallet(
        s, client(uid), user_id=uid, currency="USD", amount=Decimal(amount), idempotency_key=key()))
    return int(uid)


def test_the_ecb_document_parses_and_garbage_is_refused() -> None:
    stand_in = FxStandIn()
    parsed = parse_daily(stand_in.document())
    assert parsed.source == "ecb" and parsed.base == "EUR"
    assert parsed.rates["USD"] == Decimal("1.0850") and len(parsed.rates) == len(stand_in.rates)
    for bad in (b"<html>busy</html>", b"not xml", b'<!DOCTYPE x [<!ENTITY a "b">]><x/>',
                stand_in.document().replace(b"rate='1.0850'", b"rate='-1'")):
        with pytest.raises(RateSourceUnavailable) as refused:
            parse_daily(bad)
        assert refused.value.code == "FX_SOURCE_UNAVAILABLE"


def test_the_source_is_chosen_by_configuration() -> None:
    assert provider_for(FxSettings(source="ecb")).name == "ecb"
    with pytest.raises(UnknownRateSource) as refused:
        provider_for(FxSettings(source="bloomberg"))
    assert refused.value.code == "FX_UNKNOWN_SOURCE"


async def test_the_stand_in_streams_moving_rates(ecb) -> None:
    ecb.interval_s = 0.05
    seen: list[bytes] = []
    async with httpx.AsyncClient(timeout=5) as http, http.stream("GET", ecb.base_url + "/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                seen.append(line.encode())
            if len(seen) == 3:
                break
    assert len(set(seen)) == 3  # every update moves


async def test_refresh_stores_rates_with_source_and_time_and_derives_crosses(session_factory, ecb) -> None:
    snap = await rates.refresh(session_factory, system_actor("test"))
    assert snap.source == "ecb" and snap.time <= utcnow()
    async with session_factory() as s:
        stored = (await s.execute(text(
            "SELECT source, base, quote, rate FROM fx_rates WHERE quote = 'USD' ORDER BY rate_time DESC, id DESC "
            "LIMIT 1"))).one()
        assert tuple(stored) == ("ecb", "EUR", "USD", Decimal("1.0850"))
        usd_gbp = await rates.mid_rate(s, "USD", "GBP")
        gbp_usd = await rates.mid_rate(s, "GBP", "USD")
        eur_usd = await rates.mid_rate(s, "EUR", "USD")
        assert usd_gbp.rate == Decimal(ecb.rates["GBP"]) / Decimal(ecb.rates["USD"])
        assert eur_usd.rate == Decimal("1.0850") and abs(gbp_usd.rate * usd_gbp.rate - 1) < Decimal("1e-40")
        with pytest.raises(RateStale) as stale:
            await rates.mid_rate(s, "USD", "GBP", now=utcnow() + timedelta(days=5))
        assert stale.value.code == "FX_RATE_STALE"
        audited = await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'fx.rates_refreshed'"))
        assert audited and audited >= 1


async def test_staff_refresh_on_demand_is_permission_checked(schema, runtime, session_factory, ecb) -> None:
    done = await run(schema, runtime, staff("config.manage"), REFRESH)
    assert done.errors is None and done.data["refreshFxRates"]["source"] == "ecb"
    assert done.data["refreshFxRates"]["count"] == len(ecb.rates)
    before = await everything(session_factory)
    forbidden = await run(schema, runtime, staff("ledger.read"), REFRESH)
    assert forbidden.data is None and forbidden.errors[0].extensions == {"code": "FORBIDDEN"}
    async with httpx.AsyncClient() as http:  # the source answers garbage: a typed error, nothing stored
        await http.post(ecb.base_url + "/sim/rates", json={"USD": "0"})
    broken = await run(schema, runtime, staff("config.manage"), REFRESH)
    assert broken.data["refreshFxRates"]["errors"] == [{"code": "FX_SOURCE_UNAVAILABLE"}]
    assert await everything(session_factory) == before


async def test_quote_then_accept(schema, runtime, session_factory, make_user, ecb) -> None:
    await rates.refresh(session_factory, system_actor("test"))
    uid = await funded(session_factory, make_user)
    quoted = await run(schema, runtime, client(uid), QUOTE, i={"fromCurrency": "USD", "toCurrency": "EUR",
                                                                "amount": "100.00"})
    assert quoted.errors is None, quoted.errors
    q = quoted.data["quoteExchange"]["quote"]
    mid = Decimal(str(round(1 / ecb.rates["USD"], 12)))
    assert (q["fromCurrency"], q["toCurrency"], q["sell"], q["rateSource"]) == ("USD", "EUR", "100.00", "ecb")
    assert Decimal(q["midRate"]) == mid and q["markup"] == "0.005"
    assert Decimal(q["buy"]) == (Decimal(100) * mid * Decimal("0.995")).quantize(Decimal("0.01"))

    k = key()
    accepted = await run(schema, runtime, client(uid), ACCEPT, i={"quoteId": q["id"], "idempotencyKey": k})
    assert accepted.errors is None, accepted.errors
    ex = accepted.data["exchange"]["exchange"]
    assert (ex["sold"], ex["bought"], ex["fee"], ex["appliedRate"]) == ("100.00", q["buy"], q["fee"], q["rate"])
    again = await run(schema, runtime, client(uid), ACCEPT, i={"quoteId": q["id"], "idempotencyKey": k})
    assert again.data["exchange"]["exchange"] == ex  # the same key replays
    async with session_factory() as s:
        details = await s.scalar(text("SELECT details FROM ledger_entries WHERE ref_kind = 'exchange' AND "
                                      "details->>'quote_id' = :q"), {"q": q["id"]})
        assert details["rate_source"] == "ecb" and Decimal(details["mid_rate"]) == mid
        audit_after = await s.scalar(text("SELECT after FROM audit_events WHERE action = 'wallet.exchange' AND "
                                          "after->>'quote_id' = :q"), {"q": q["id"]})
        assert audit_after["rate_source"] == "ecb"
        assert await s.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'fx.quote' AND entity_id = :q"),
                              {"q": q["id"]}) == 1
        eur = await wallet_for(s, uid, "EUR")
    assert (await wallets_balance(session_factory, eur.id)) == Decimal(q["buy"])


async def wallets_balance(session_factory: Any, wallet_id: int) -> Decimal:
    from domain.ledger.accounts import balance_of

    async with session_factory() as s:
        return (await balance_of(s, wallet_id)).balance


async def test_bad_quotes_are_refused_and_change_nothing(schema, runtime, session_factory, make_user, ecb,
                                                         monkeypatch) -> None:
    await rates.refresh(session_factory, system_actor("test"))
    uid, other = await funded(session_factory, make_user), await funded(session_factory, make_user)

    async def quote(who: int, **overrides: str) -> Any:
        return await run(schema, runtime, client(who), QUOTE, i={"fromCurrency": "USD", "toCurrency": "EUR",
                                                                  "amount": "10.00", **overrides})

    mine = (await quote(uid)).data["quoteExchange"]["quote"]["id"]
    used, used_key = (await quote(uid)).data["quoteExchange"]["quote"]["id"], key()
    assert (await run(schema, runtime, client(uid), ACCEPT, i={"quoteId": used, "idempotencyKey": used_key})
            ).data["exchange"]["errors"] == []
    monkeypatch.setenv("FOREXCRM_FX_QUOTE_TTL_S", "0.2")
    expiring = (await quote(uid)).data["quoteExchange"]["quote"]["id"]
    await asyncio.sleep(0.3)
    monkeypatch.delenv("FOREXCRM_FX_QUOTE_TTL_S")

    before = await everything(session_factory)
    cases = [
        (other, {"quoteId": mine}, "FX_QUOTE_NOT_FOUND", "quoteId"),  # foreign
        (uid, {"quoteId": str(uuid.uuid4())}, "FX_QUOTE_NOT_FOUND", "quoteId"),
        (uid, {"quoteId": "not-a-uuid"}, "FX_QUOTE_NOT_FOUND", "quoteId"),
        (uid, {"quoteId": used}, "FX_QUOTE_USED", "quoteId"),
        (uid, {"quoteId": expiring}, "FX_QUOTE_EXPIRED", "quoteId"),
        (uid, {"quoteId": mine, "idempotencyKey": " "}, "VALIDATION_FAILED", "idempotencyKey"),
        (uid, {"quoteId": mine, "idempotencyKey": used_key}, "IDEMPOTENCY_KEY_REUSED", "idempotencyKey"),
    ]
    for who, i, code, field in cases:
        out = await run(schema, runtime, client(who), ACCEPT, i={"idempotencyKey": key(), **i})
        assert out.data["exchange"] == {"exchange": None, "errors": [{"code": code, "field": field}]}, (i, out)
    quote_refusals: list[tuple[dict[str, str], str | None, str | None]] = [
        ({"toCurrency": "USD"}, "CURRENCY_MISMATCH", "toCurrency"),
        ({"amount": "0"}, "INVALID_AMOUNT", "amount"),
        ({"amount": "1.001"}, "AMOUNT_PRECISION", "amount"),
        ({"toCurrency": "XYZ"}, None, None)]
    for overrides, maybe_code, maybe_field in quote_refusals:
        out = await quote(uid, **overrides)
        errors = out.data["quoteExchange"]["errors"]
        assert out.data["quoteExchange"]["quote"] is None and errors
        if maybe_code is not None:
            assert errors == [{"code": maybe_code, "field": maybe_field}]
    monkeypatch.setenv("FOREXCRM_FX_MAX_AGE_S", "0")  # every stored rate is too old now
    stale = await quote(uid)
    assert stale.data["quoteExchange"] == {"quote": None, "errors": [{"code": "FX_RATE_STALE", "field": "toCurrency"}]}
    assert await everything(session_factory) == before
    # none of the refusals consumed the quote
    ok = await run(schema, runtime, client(uid), ACCEPT, i={"quoteId": mine, "idempotencyKey": key()})
    assert ok.data["exchange"]["errors"] == []


async def test_the_refresh_job_stores_the_configured_sources_rates(session_factory, settings, ecb) -> None:
    from jobs import fx as fx_jobs

    assert fx_jobs.refresh_fx_rates in fx_jobs.FUNCTIONS and len(fx_jobs.cron_jobs(settings)) == 1
    done = await fx_jobs.refresh_fx_rates({"session_factory": session_factory})
    assert done["source"] == "ecb" and done["count"] == len(ecb.rates)


async def test_concurrent_quotes_and_accepts_share_group_commits(schema, runtime, session_factory, make_user) -> None:
    """Quote and accept are group-committed: many clients at once all get their exchange, once each."""
    from tests.fx.helpers import seed_rates

    await seed_rates(session_factory)
    uids = [await funded(session_factory, make_user, "100") for _ in range(12)]

    async def exchange_twice(uid: int) -> list[str]:
        bought = []
        for _ in range(2):
            quoted = await run(schema, runtime, client(uid), QUOTE, i={"fromCurrency": "USD", "toCurrency": "EUR",
                                                                        "amount": "1.00"})
            quote = quoted.data["quoteExchange"]["quote"]["id"]
            done = await run(schema, runtime, client(uid), ACCEPT, i={"quoteId": quote, "idempotencyKey": key()})
            assert done.data["exchange"]["errors"] == [], done
            bought.append(done.data["exchange"]["exchange"]["bought"])
        return bought

    results = await asyncio.wait_for(asyncio.gather(*(exchange_twice(u) for u in uids)), timeout=60)
    assert all(len(r) == 2 for r in results)
    async with session_factory() as s:
        used = await s.scalar(text("SELECT count(*) FROM fx_quotes WHERE user_id = ANY(:u) AND used_at IS NOT NULL"),
                              {"u": uids})
    assert used == 24
