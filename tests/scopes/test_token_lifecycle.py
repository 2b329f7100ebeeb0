"""API tokens: what the issue's probes did, which scopes a caller may mint, and when tokens die."""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import text

from domain.ib import network
from domain.identity import api_tokens
from domain.identity.secrets import new_token, token_hash
from domain.ledger import wallets
from domain.shared.actor import Actor, ActorKind, system_actor
from domain.shared.db import in_transaction
from tests.conftest import GraphQLClient
from tests.fx.helpers import new_quote
from tests.identity.helpers import code_at, enrol_totp, login, outbox_for, register
from tests.identity.staff import make_staff
from tests.scopes.helpers import table_state

STEP_UP = "mutation($c: String!) { stepUp(code: $c) { ok errors { code } } }"
CREATE = """mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) {
  token apiToken { scopes } errors { field code } } }"""
EXCHANGE = """mutation($i: ExchangeInput!) { exchange(input: $i) { exchange { bought } errors { code } } }"""
WALLETS = "{ myWallets { currency balance } }"
TREE = "{ myIbTree { depth } }"


def key() -> str:
    return uuid.uuid4().hex


async def _ib_client(http: httpx.AsyncClient, session_factory: Any) -> dict[str, Any]:
    """A registered client approved as an IB, with 100 USD in its wallet."""
    reg = await register(GraphQLClient(http))
    uid = int(reg["viewer"]["id"])

    async def approve(s: Any) -> None:
        await network.apply(s, system_actor("test"), uid)
        await network.approve(s, system_actor("test"), uid)
        await wallets.deposit_to_wallet(s, system_actor("test"), user_id=uid, currency="USD", amount=Decimal(100),
                                        idempotency_key=key())

    await in_transaction(session_factory, approve)
    reg["id"] = uid
    return reg


async def _mint(session_factory: Any, settings: Any, owner: int, kind: ActorKind, scopes: list[str]) -> str:
    actor = Actor(kind, user_id=owner, stepped_up_at=time.time())
    async with session_factory() as s, s.begin():
        return (await api_tokens.create(s, settings, actor, name="feed", scopes=scopes, expires_in_days=5)).plaintext


async def test_read_tokens_cannot_move_money_or_change_leverage(http: httpx.AsyncClient, session_factory,
                                                               settings) -> None:
    owner = await _ib_client(http, session_factory)
    quote = await new_quote(session_factory, int(owner["id"]), amount="50")
    probes: list[tuple[str, dict[str, Any]]] = [
        (EXCHANGE, {"i": {"quoteId": quote, "idempotencyKey": key()}}),
        ("""mutation($i: QuoteExchangeInput!) { quoteExchange(input: $i) { errors { code } } }""",
         {"i": {"fromCurrency": "USD", "toCurrency": "EUR", "amount": "50"}}),
        ("""mutation($i: TransferToTradingAccountInput!) { transferToTradingAccount(input: $i) { errors { code } } }""",
         {"i": {"walletId": "1", "tradingAccountId": "1", "amount": "1", "idempotencyKey": key()}}),
        ("""mutation($i: TransferFromTradingAccountInput!) { transferFromTradingAccount(input: $i) {
           errors { code } } }""",
         {"i": {"walletId": "1", "tradingAccountId": "1", "amount": "1", "idempotencyKey": key()}}),
        ("""mutation($i: CreateDepositInput!) { createDeposit(input: $i) { errors { code } } }""",
         {"i": {"methodCode": "card", "currency": "USD", "amount": "10"}}),
        ("mutation { requestLeverageChange(accountId: \"1\", leverage: 500) { errors { code } } }", {}),
        ("mutation { logoutEverywhere { ok } }", {}),
    ]
    tokens = [GraphQLClient(http, await _mint(session_factory, settings, owner["id"], ActorKind.IB, [scope]))
              for scope in ("profile.read", "ib.tree.read")]
    before = await table_state(session_factory)
    for scope, token in zip(("profile.read", "ib.tree.read"), tokens, strict=True):
        for query, variables in probes:
            body = await token(query, variables)
            assert body["data"] is None, (scope, query, body)
            assert [e["extensions"]["code"] for e in body["errors"]] == ["INSUFFICIENT_SCOPE"], (scope, body)
    assert await table_state(session_factory) == before
    # The same exchange from the owner's own session goes through: the refusal was the scope's.
    done = await GraphQLClient(http, owner["accessToken"])(*probes[0])
    assert done["data"]["exchange"]["errors"] == [] and Decimal(done["data"]["exchange"]["exchange"]["bought"]) > 0


async def _stepped_up(client: GraphQLClient, secret: str, offset: int) -> None:
    stepped = await client(STEP_UP, {"c": code_at(secret, offset)})
    assert stepped["data"]["stepUp"]["ok"] is True, stepped


async def _counts(session_factory: Any) -> tuple[int, int]:
    async with session_factory() as s:
        tokens = await s.scalar(text("SELECT count(*) FROM api_tokens"))
        audit = await s.scalar(text("SELECT count(*) FROM audit_events WHERE action LIKE 'api_token.%'"))
    return int(tokens or 0), int(audit or 0)


async def test_a_caller_mints_only_scopes_that_apply_to_it(http: httpx.AsyncClient, session_factory,
                                                          settings) -> None:
    client = GraphQLClient(http, (await register(GraphQLClient(http)))["accessToken"])
    secret, _ = await enrol_totp(client)
    await _stepped_up(client, secret, 0)
    sales = await make_staff(http, session_factory, settings, ["sales"])
    await _stepped_up(sales.client, sales.secret, 1)
    refusals = [
        (client, ["ib.tree.read"], "SCOPE_NOT_ALLOWED"),  # a client who is not an IB
        (client, ["profile.read", "ledger.adjust"], "SCOPE_NOT_ALLOWED"),  # a staff permission
        (client, ["profile.read", "root.everything"], "INVALID_SCOPE"),  # unknown
        (client, [], "INVALID_SCOPE"),
        (sales.client, ["profile.read"], "SCOPE_NOT_ALLOWED"),  # staff have no client profile
        (sales.client, ["clients.read", "ledger.adjust"], "SCOPE_NOT_ALLOWED"),  # a permission sales lacks
    ]
    before = await _counts(session_factory)
    for caller, scopes, code in refusals:
        body = await caller(CREATE, {"i": {"name": "x", "scopes": scopes}})
        assert body["data"]["createApiToken"] == {"token": None, "apiToken": None,
                                                  "errors": [{"field": "scopes", "code": code}]}, scopes
    assert await _counts(session_factory) == before
    for caller, scopes in ((client, ["profile.read"]), (sales.client, ["clients.read", "clients.notes"])):
        made = (await caller(CREATE, {"i": {"name": "x", "scopes": scopes}}))["data"]["createApiToken"]
        assert made["errors"] == [] and made["apiToken"]["scopes"] == sorted(scopes)


async def test_a_token_keeps_only_scopes_its_owner_still_may_hold(http: httpx.AsyncClient, session_factory) -> None:
    # A token minted before scopes were checked (a plain client holding ib.tree.read), stored as it was.
    reg = await register(GraphQLClient(http))
    plaintext = new_token(api_tokens.PREFIX)
    async with session_factory() as s, s.begin():
        await s.execute(text(
            "INSERT INTO api_tokens (user_id, created_by, name, token_hash, last_four, scopes, expires_at) "
            "VALUES (:u, :u, 'old', :h, :l, ARRAY['ib.tree.read', 'profile.read'], now() + interval '1 day')"),
            {"u": int(reg["viewer"]["id"]), "h": token_hash(plaintext), "l": plaintext[-4:]})
    token = GraphQLClient(http, plaintext)
    refused = await token(TREE)
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
    assert (await token(WALLETS))["data"] == {"myWallets": []}


async def test_tokens_survive_logout_and_die_with_logout_everywhere_and_password_reset(
        http: httpx.AsyncClient, session_factory, settings) -> None:
    owner = await _ib_client(http, session_factory)
    session = GraphQLClient(http, owner["accessToken"])
    feed = GraphQLClient(http, await _mint(session_factory, settings, owner["id"], ActorKind.IB,
                                           ["profile.read", "ib.tree.read"]))
    assert (await session("mutation { logout { ok } }"))["data"]["logout"]["ok"] is True
    assert (await feed(WALLETS))["data"]["myWallets"][0]["balance"] == "100.00"

    again = GraphQLClient(http, (await login(GraphQLClient(http), owner["email"]))["accessToken"])
    assert (await again("mutation { logoutEverywhere { ok } }"))["data"]["logoutEverywhere"]["ok"] is True
    for query in (WALLETS, TREE):
        body = await feed(query)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    feed = GraphQLClient(http, await _mint(session_factory, settings, owner["id"], ActorKind.IB, ["ib.tree.read"]))
    assert (await feed(TREE))["data"]["myIbTree"] is not None
    anon = GraphQLClient(http)
    await anon("mutation($e: String!) { requestPasswordReset(email: $e) { ok } }", {"e": owner["email"]})
    mails = [m for m in await outbox_for(session_factory, "email.send") if m["to"] == owner["email"]]
    reset = re.search(r"token=([\w-]+)", mails[-1]["body"]).group(1)  # type: ignore[union-attr]
    done = await anon("mutation($t: String!) { resetPassword(token: $t, newPassword: \"a brand new passphrase 9\") "
                      "{ ok } }", {"t": reset})
    assert done["data"]["resetPassword"]["ok"] is True
    body = await feed(TREE)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with session_factory() as s:
        live = await s.scalar(text("SELECT count(*) FROM api_tokens WHERE user_id = :u AND revoked_at IS NULL"),
                              {"u": owner["id"]})
        reasons = (await s.execute(text(
            "SELECT after->>'reason' FROM audit_events WHERE action = 'api_token.revoked_all' "
            "AND entity_id = :u ORDER BY id"), {"u": str(owner["id"])})).scalars().all()
    assert live == 0 and reasons == ["logout_everywhere", "password_reset"]
