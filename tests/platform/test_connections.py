"""Relay connections over every list that grows: paging forward (first/after) and backward
(last/before) yields every item exactly once, in the list's order, with no cap (more rows than the
old silent caps for the review queue and an IB list); pageInfo says where each page sits; bad paging
arguments are one typed error (INVALID_PAGE_ARGUMENTS) naming the argument; totalCount counts the
whole list, only when selected, and stops at 10,001 ("more than 10,000")."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text

from domain.ledger import wallets
from domain.payments import repo as payments
from domain.shared.actor import Actor, ActorKind
from domain.shared.pagination import COUNT_CAP, encode_cursor
from schema.node import decode
from schema.root import build_schema
from tests.graphql_exec import run_as

CONN = ("{name}({args}first: $first, after: $after, last: $last, before: $before) {{ totalCount "
        "edges {{ cursor node {{ {key} }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }}")


@pytest.fixture(scope="module")
def schema(settings: Any) -> Any:
    return build_schema(settings)



@dataclass(frozen=True)
class Listing:
    """One connection as a caller reaches it: `outer` wraps the connection field (`{conn}`)."""
    name: str
    key: str  # the node fields that identify an item, in order
    actor: Actor
    args: str = ""
    outer: str = "{conn}"
    path: tuple[str, ...] = ()  # the fields `outer` opens around the connection
    declare: str = ""
    variables: dict[str, Any] | None = None

    def query(self) -> str:
        conn = CONN.format(name=self.name, args=self.args, key=self.key)
        return (f"query($first: Int, $after: String, $last: Int, $before: String{self.declare}) "
                f"{{ {self.outer.format(conn=conn)} }}")

    def connection(self, data: dict[str, Any]) -> dict[str, Any]:
        for step in self.path:
            data = data[step]
        return data[self.name]  # type: ignore[no-any-return]


def _ident(node: dict[str, Any]) -> tuple[Any, ...]:
    """The node's identifying leaf values, nested objects flattened; a global id read as its database key."""
    return tuple(str(found[1]) if key == "id" and (found := decode(str(leaf))) else leaf for key, value in node.items()
                 for leaf in (_ident(value) if isinstance(value, dict) else (value,)))


async def page(schema: Any, runtime: Any, listing: Listing, **paging: Any) -> dict[str, Any]:
    result = await run_as(schema, runtime, listing.actor, listing.query(), **paging, **(listing.variables or {}))
    assert result.errors is None, result.errors
    return listing.connection(result.data)


async def walk(schema: Any, runtime: Any, listing: Listing, size: int) -> list[tuple[Any, ...]]:
    """Every item forward, then backward; both ways give the same items once each; the flags fit."""
    forward: list[tuple[Any, ...]] = []
    after = None
    pages = 0
    while True:
        conn = await page(schema, runtime, listing, first=size, after=after)
        info, edges = conn["pageInfo"], conn["edges"]
        assert info["hasPreviousPage"] is (after is not None)
        assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
        assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
        forward += [_ident(e["node"]) for e in edges]
        pages += 1
        if not info["hasNextPage"]:
            break
        assert len(edges) == size
        after = info["endCursor"]
    backward: list[tuple[Any, ...]] = []
    before = None
    while True:
        conn = await page(schema, runtime, listing, last=size, before=before)
        info, edges = conn["pageInfo"], conn["edges"]
        assert info["hasNextPage"] is (before is not None)
        backward = [_ident(e["node"]) for e in edges] + backward
        if not info["hasPreviousPage"]:
            break
        assert len(edges) == size
        before = info["startCursor"]
    assert backward == forward
    assert len(set(forward)) == len(forward)
    assert pages == max(1, -(-len(forward) // size))
    return forward


# --- the rows behind each list -------------------------------------------------------------------------

async def sql(session_factory: Any, statement: str, **params: Any) -> list[Any]:
    async with session_factory() as s, s.begin():
        result = await s.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def user(session_factory: Any, *, staff: bool = False) -> int:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    [(uid,)] = await sql(session_factory, "INSERT INTO users (email, email_normalized, is_client, is_staff) "
                                          "VALUES (:e, :e, :c, :s) RETURNING id", e=email, c=not staff, s=staff)
    return int(uid)


async def clients(session_factory: Any, n: int, status: str) -> list[int]:
    """n clients, two by two created at the same instant (the id breaks the tie)."""
    tag = uuid.uuid4().hex[:10]
    rows = await sql(session_factory, """
        WITH u AS (INSERT INTO users (email, email_normalized, is_client, created_at)
                   SELECT :t || g || '@example.com', :t || g || '@example.com', true,
                          timestamptz '2021-01-01' + (g / 2) * interval '1 second' FROM generate_series(1, :n) g
                   RETURNING id, created_at)
        INSERT INTO clients (user_id, status, first_name, last_name, created_at)
        SELECT id, :st, 'Conn', 'Test', created_at FROM u RETURNING id""", t=tag, n=n, st=status)
    return [int(r[0]) for r in rows]


async def ib_partner(session_factory: Any) -> int:
    uid = await user(session_factory)
    await sql(session_factory, "INSERT INTO ib_partners (user_id, status) VALUES (:u, 'approved')", u=uid)
    return uid


async def trading_server(session_factory: Any) -> int:
    [(sid,)] = await sql(session_factory, "INSERT INTO trading_servers (name, platform, base_url, manager_login, "
                                          "password_enc) VALUES (:n, 'mt5', 'http://127.0.0.1:1', 1, 'x') RETURNING id",
                         n=f"conn-{uuid.uuid4().hex[:8]}")
    return int(sid)


async def accounts(session_factory: Any, server: int, n: int, owner: int | None) -> list[int]:
    rows = await sql(session_factory, """
        INSERT INTO trading_accounts (server_id, login, "group", leverage, currency, user_id, created_at)
        SELECT :s, 7000000 + g, 'demo', 100, 'USD', :u, timestamptz '2021-01-01' + (g / 2) * interval '1 second'
        FROM generate_series(1, :n) g RETURNING id""", s=server, n=n, u=owner)
    return [int(r[0]) for r in rows]


def _ids(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [(str(r[0]),) for r in rows]


Case = Callable[[Any, Any], Awaitable[tuple[Listing, list[tuple[Any, ...]]]]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn
    return register


def staff_actor(*permissions: str) -> Actor:
    return Actor(ActorKind.STAFF, user_id=1, permissions=frozenset(permissions))


@case("reviewQueue")
async def _review_queue(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    await clients(session_factory, 205, "under_review")  # the old silent cap was 200
    expected = _ids(await sql(session_factory, "SELECT id FROM clients WHERE status = 'under_review' "
                                               "ORDER BY created_at, id"))
    return Listing("reviewQueue", "id", staff_actor("kyc.approve")), expected


@case("screeningHits")
async def _screening_hits(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    [client] = await clients(session_factory, 1, "under_review")
    await sql(session_factory, """
        INSERT INTO screening_results (client_id, list_name, list_version, matcher_version, threshold, score,
                                       status, created_at)
        SELECT :c, 'l', 'v', 'm', 0.9, 0.95, 'confirmed', timestamptz '2021-01-01' + (g / 2) * interval '1 second'
        FROM generate_series(1, 5) g""", c=client)
    expected = _ids(await sql(session_factory, "SELECT id FROM screening_results WHERE status = 'confirmed' "
                                               "ORDER BY created_at, id"))
    return Listing("screeningHits", "id", staff_actor("kyc.review"), args='status: "confirmed", '), expected


@case("myIbPayouts")
async def _ib_payouts(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    ib = await ib_partner(session_factory)
    rows = await sql(session_factory, """
        INSERT INTO ib_payouts (ib_id, currency, period_key, amount, status, created_at)
        SELECT :ib, 'USD', 'p' || g, 1, 'held', timestamptz '2021-01-01' + (g / 2) * interval '1 second'
        FROM generate_series(1, 105) g RETURNING id, created_at""", ib=ib)  # the old silent cap was 100
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]
    return Listing("myIbPayouts", "databaseId", Actor(ActorKind.IB, user_id=ib)), expected


@case("myIbReferralLinks")
async def _ib_links(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    ib = await ib_partner(session_factory)
    rows = await sql(session_factory, """
        INSERT INTO ib_referral_links (ib_id, code, created_at)
        SELECT :ib, :t || g, timestamptz '2021-01-01' + (g / 2) * interval '1 second' FROM generate_series(1, 5) g
        RETURNING id, created_at""", ib=ib, t=uuid.uuid4().hex[:8])
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]))]
    return Listing("myIbReferralLinks", "databaseId", Actor(ActorKind.IB, user_id=ib)), expected


@case("myIbManagedLinks")
async def _ib_managed_links(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    listing, expected = await _ib_links(session_factory, settings)
    return Listing("myIbManagedLinks", "databaseId", listing.actor), expected


async def _disputes(session_factory: Any, ib: int) -> list[Any]:
    return await sql(session_factory, """
        INSERT INTO ib_disputes (ib_id, reason, explanation, period_from, period_to, created_at)
        SELECT :ib, 'why', '{}'::jsonb, date '2021-01-01', date '2021-02-01', timestamptz '2021-01-01' + (g / 2) * interval '1 second'
        FROM generate_series(1, 5) g RETURNING id, created_at""", ib=ib)


@case("myIbDisputes")
async def _my_ib_disputes(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    ib = await ib_partner(session_factory)
    rows = await _disputes(session_factory, ib)
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]
    return Listing("myIbDisputes", "databaseId", Actor(ActorKind.IB, user_id=ib)), expected


@case("ibDisputes")
async def _ib_disputes(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    ib = await ib_partner(session_factory)
    await _disputes(session_factory, ib)
    expected = _ids(await sql(session_factory, "SELECT id FROM ib_disputes ORDER BY created_at DESC, id DESC"))
    return Listing("ibDisputes", "databaseId", staff_actor("ib.read")), expected


@case("myIbApplications")
async def _ib_applications(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    uid = await user(session_factory)
    rows = await sql(session_factory, """
        INSERT INTO ib_applications (user_id, expected_clients, status, created_at)
        SELECT :u, 1, 'rejected', timestamptz '2021-01-01' + (g / 2) * interval '1 second'
        FROM generate_series(1, 25) g RETURNING id, created_at""", u=uid)  # the old silent cap was 20
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]
    return Listing("myIbApplications", "databaseId", Actor(ActorKind.CLIENT, user_id=uid)), expected


@case("mySessions")
async def _sessions(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    uid = await user(session_factory)
    rows = await sql(session_factory, """
        INSERT INTO auth_sessions (user_id, created_at)
        SELECT :u, timestamptz '2021-01-01' + (g / 2) * interval '1 second' FROM generate_series(1, 5) g
        RETURNING id, created_at""", u=uid)
    await sql(session_factory, "INSERT INTO auth_sessions (user_id, revoked_at) VALUES (:u, now())", u=uid)
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]
    return Listing("mySessions", "databaseId", Actor(ActorKind.CLIENT, user_id=uid)), expected


@case("myApiTokens")
async def _tokens(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    uid = await user(session_factory)
    rows = await sql(session_factory, """
        INSERT INTO api_tokens (user_id, name, token_hash, last_four, scopes, expires_at, created_at)
        SELECT :u, 't' || g, decode(md5(:t || g), 'hex'), 'abcd', '{}', now() + interval '1 day',
               timestamptz '2021-01-01' + (g / 2) * interval '1 second'
        FROM generate_series(1, 5) g RETURNING id, created_at""", u=uid, t=uuid.uuid4().hex)
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]))]
    return Listing("myApiTokens", "databaseId", Actor(ActorKind.CLIENT, user_id=uid)), expected


@case("staffUsers")
async def _staff(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    for _ in range(3):
        await user(session_factory, staff=True)
    expected = _ids(await sql(session_factory, "SELECT id FROM users WHERE is_staff ORDER BY created_at, id"))
    return Listing("staffUsers", "databaseId", staff_actor("staff.manage")), expected


@case("myDisputes")
async def _payment_disputes(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    uid = await user(session_factory)
    async with session_factory() as s, s.begin():
        await wallets.deposit_to_wallet(s, Actor(ActorKind.CLIENT, user_id=uid), user_id=uid, currency="EUR",
                                        amount=Decimal("25"), idempotency_key=uuid.uuid4().hex)
        payment = await payments.insert(s, user_id=uid, direction="deposit", method_code="card", method_kind="card",
                                        provider="stripe", currency="EUR", amount=Decimal("10"), fee=Decimal("0"),
                                        country=None)
    rows = await sql(session_factory, """
        INSERT INTO payment_disputes (payment_id, user_id, kind, case_id, amount, currency, reason, entry_id,
                                      created_at)
        SELECT :p, :u, 'chargeback', 'c' || g, 1, 'EUR', 'test', (SELECT max(id) FROM ledger_entries),
               timestamptz '2021-01-01' + (g / 2) * interval '1 second' FROM generate_series(1, 5) g
        RETURNING id, created_at""", p=payment.id, u=uid)
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]
    return Listing("myDisputes", "databaseId", Actor(ActorKind.CLIENT, user_id=uid)), expected


@case("riskAlerts")
async def _risk_alerts(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    tag = uuid.uuid4().hex[:8]
    await sql(session_factory, """
        WITH l AS (INSERT INTO risk_limits (scope, key, max_net_lots) SELECT 'symbol', :t || g, 1 FROM generate_series(1, 5) g
                   RETURNING id)
        INSERT INTO risk_alerts (limit_id, measure, observed, threshold, opened_at)
        SELECT id, 'net', 2, 1, timestamptz '2021-01-01' + (id / 2) * interval '1 second' FROM l""", t=tag)
    expected = _ids(await sql(session_factory, "SELECT id FROM risk_alerts WHERE cleared_at IS NULL "
                                               "ORDER BY opened_at DESC, id DESC"))
    return Listing("riskAlerts", "databaseId", staff_actor("risk.read")), expected


@case("riskAccountLinks")
async def _risk_links(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    server = await trading_server(session_factory)
    first, *others = await accounts(session_factory, server, 4, None)
    for kind in ("ip", "device"):  # the same instant for all: the key's other parts order them
        await sql(session_factory, "INSERT INTO risk_account_links (account_a, account_b, kind, created_at) "
                                   "SELECT :a, b, :k, timestamptz '2021-01-01' FROM unnest(CAST(:bs AS bigint[])) b",
                  a=first, bs=others, k=kind)
    # Newest first on (created_at, account_a, account_b, kind), every part descending.
    expected = [(str(first), str(b), name) for b in sorted(others, reverse=True)
                for name in ("SAME_IP", "SAME_DEVICE")]
    listing = Listing("riskAccountLinks", "accountA accountB kind", staff_actor("risk.read"),
                      args="accountId: $a, ", declare=", $a: ID", variables={"a": str(first)})
    return listing, expected


@case("myTradingAccounts")
async def _my_accounts(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    uid = await user(session_factory)
    made = await accounts(session_factory, await trading_server(session_factory), 5, uid)
    return Listing("myTradingAccounts", "databaseId", Actor(ActorKind.CLIENT, user_id=uid)), [(str(a),) for a in made]


@case("positions")
async def _positions(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    uid = await user(session_factory)
    server = await trading_server(session_factory)
    [account] = await accounts(session_factory, server, 1, uid)
    await sql(session_factory, """
        INSERT INTO trading_positions (server_id, position_id, login, account_id, symbol, side, volume, in_volume,
                                       in_value, last_deal_ms)
        SELECT :s, 900 - g, 7000001, :a, 'EURUSD', 'BUY', 1, 1, 1, 0 FROM generate_series(1, 5) g""",
              s=server, a=account)
    listing = Listing("positions", "positionId", Actor(ActorKind.CLIENT, user_id=uid), args="accountId: $a, ",
                      declare=", $a: ID!", variables={"a": str(account)})
    return listing, [(str(p),) for p in range(895, 900)]


@case("deals")
async def _deals(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    """Newest first on (time, deal_id), raw rows: deals share timestamps, another symbol and another
    login's deals are left out."""
    uid = await user(session_factory)
    server = await trading_server(session_factory)
    [account] = await accounts(session_factory, server, 1, uid)
    rows = await sql(session_factory, """
        INSERT INTO trading_deals (server_id, deal_id, time, time_ms, login, order_id, position_id, action, entry,
            symbol, price, volume, profit, commission, storage, fee, reason, contract_size, rate_profit,
            rate_margin, comment, batch_id)
        SELECT :s, 5000 + g, timestamptz '2021-01-01' + (g / 3) * interval '1 second', 0,
               CASE WHEN g % 7 = 0 THEN 7000099 ELSE 7000001 END, g, g, 0, 0,
               CASE WHEN g % 5 = 0 THEN 'GBPUSD' ELSE 'EURUSD' END, 1.1, 0.1, 0, 0, 0, 0, 0, 100000, 1, 1,
               '', gen_random_uuid()
        FROM generate_series(1, 40) g RETURNING deal_id, time, login, symbol""", s=server)
    kept = [r for r in rows if r[2] == 7000001 and r[3] == "EURUSD"]
    expected = [(str(r[0]),) for r in sorted(kept, key=lambda r: (r[1], r[0]), reverse=True)]
    listing = Listing("deals", "dealId", Actor(ActorKind.CLIENT, user_id=uid),
                      args='accountId: $a, filter: {symbol: "EURUSD"}, ', declare=", $a: ID!",
                      variables={"a": str(account)})
    return listing, expected


@case("Client360.communications")
async def _communications(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    [client] = await clients(session_factory, 1, "active")
    rows = await sql(session_factory, """
        INSERT INTO client_communications (client_id, kind, body, created_at)
        SELECT :c, 'note', 'n' || g, timestamptz '2021-01-01' + (g / 2) * interval '1 second'
        FROM generate_series(1, 105) g RETURNING id, created_at""", c=client)  # the old silent cap was 100
    expected = [(str(r[0]),) for r in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]
    listing = Listing("communications", "id", staff_actor("clients.read", "kyc.review"),
                      outer="client(id: $c) {{ {conn} }}", path=("client",), declare=", $c: ID!", variables={"c": str(client)})
    return listing, expected


async def _client_360(session_factory: Any, name: str, key: str, rows: list[Any],
                      client: int) -> tuple[Listing, list[tuple[Any, ...]]]:
    listing = Listing(name, key, staff_actor("clients.read", "kyc.review"), outer="client(id: $c) {{ {conn} }}",
                      path=("client",), declare=", $c: ID!", variables={"c": str(client)})
    return listing, [(str(r[0]),) for r in rows]


@case("Client360.statusHistory")
async def _status_history(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    [client] = await clients(session_factory, 1, "active")
    rows = await sql(session_factory, "INSERT INTO client_status_history (client_id, to_status, actor_kind, reason) "
                                      "SELECT :c, 'active', 'staff', 'r' || g FROM generate_series(1, 5) g "
                                      "RETURNING id, reason", c=client)
    listing, _ = await _client_360(session_factory, "statusHistory", "reason", [], client)
    return listing, [(r[1],) for r in sorted(rows)]


@case("Client360.documents")
async def _documents(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    [client] = await clients(session_factory, 1, "active")
    rows = await sql(session_factory, """
        INSERT INTO client_documents (client_id, kind, filename, content_type, size_bytes, sha256, storage_key)
        SELECT :c, 'proof_of_address', 'a.pdf', 'application/pdf', 1, repeat('0', 64), :t || g
        FROM generate_series(1, 5) g RETURNING id""", c=client, t=uuid.uuid4().hex)
    return await _client_360(session_factory, "documents", "id", sorted(rows), client)


@case("Client360.screening")
async def _client_screening(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    [client] = await clients(session_factory, 1, "active")
    rows = await sql(session_factory, """
        INSERT INTO screening_results (client_id, list_name, list_version, matcher_version, threshold, score, status)
        SELECT :c, 'l', 'v', 'm', 0.9, 0.95, 'clear' FROM generate_series(1, 5) RETURNING id""", c=client)
    return await _client_360(session_factory, "screening", "id", sorted(rows), client)


@case("Client360.accounts")
async def _client_accounts(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    [client] = await clients(session_factory, 1, "active")
    [(owner,)] = await sql(session_factory, "SELECT user_id FROM clients WHERE id = :c", c=client)
    made = await accounts(session_factory, await trading_server(session_factory), 5, int(owner))
    return await _client_360(session_factory, "accounts", "id", [(a,) for a in made], client)


@case("IbTree.members")
async def _ib_tree(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    master = await ib_partner(session_factory)
    subs = [await ib_partner(session_factory) for _ in range(5)]
    depths = [1, 2, 1, 2, 1]
    await sql(session_factory, "INSERT INTO ib_closure (ancestor_id, descendant_id, depth, valid_from) "
                               "SELECT :m, d, depth, now() FROM unnest(CAST(:ds AS bigint[]), CAST(:ns AS int[])) "
                               "AS x(d, depth)", m=master, ds=subs, ns=depths)
    expected = [(str(ib),) for _, ib in sorted(zip(depths, subs, strict=True))]
    listing = Listing("members", "ibId", Actor(ActorKind.IB, user_id=master), outer="myIbTree {{ {conn} }}",
                      path=("myIbTree",))
    return listing, expected


async def _named_clients(session_factory: Any, n: int, country: str) -> tuple[str, list[int]]:
    """n clients named after a fresh tag in one country, two by two created at the same instant."""
    tag = "zq" + uuid.uuid4().hex[:8]
    made = await clients(session_factory, n, "active")
    await sql(session_factory, "UPDATE clients SET first_name = :t, country = :c WHERE id = ANY(:ids)",
              t=tag, c=country, ids=made)
    return tag, made


@case("clients(country:)")
async def _clients_by_country(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    await _named_clients(session_factory, 7, "TV")
    expected = _ids(await sql(session_factory, "SELECT id FROM clients WHERE country = 'TV' "
                                               "ORDER BY created_at DESC, id DESC"))
    return Listing("clients", "id", staff_actor("clients.read", "kyc.review"), args='country: "TV", '), expected


@case("clients(search:)")
async def _clients_by_text(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    tag, made = await _named_clients(session_factory, 7, "MT")
    expected = _ids(await sql(session_factory, "SELECT id FROM clients WHERE id = ANY(:ids) "
                                               "ORDER BY created_at DESC, id DESC", ids=made))
    listing = Listing("clients", "id", staff_actor("clients.read", "kyc.review"), args="search: $q, ",
                      declare=", $q: String", variables={"q": tag})
    return listing, expected


@case("searchClients")
async def _search_clients(session_factory: Any, settings: Any) -> tuple[Listing, list[tuple[Any, ...]]]:
    tag, made = await _named_clients(session_factory, 7, "MT")
    expected = _ids(await sql(session_factory, "SELECT id FROM clients WHERE id = ANY(:ids) ORDER BY id DESC",
                              ids=made))  # every hit ranks the same: the id breaks the tie, highest first
    listing = Listing("searchClients", "client { id }", staff_actor("clients.read", "kyc.review"),
                      args="query: $q, ", declare=", $q: String!", variables={"q": tag})
    return listing, expected


@pytest.mark.parametrize("name", sorted(CASES))
async def test_every_list_pages_both_ways_without_caps(
    schema: Any, runtime: Any, session_factory: Any, settings: Any, name: str
) -> None:
    listing, expected = await CASES[name](session_factory, settings)
    size = 50 if len(expected) > 100 else 2
    assert await walk(schema, runtime, listing, size) == expected
    conn = await page(schema, runtime, listing, first=size)
    assert conn["totalCount"] == len(expected)


async def test_an_empty_list_has_no_cursors_and_no_pages(schema: Any, runtime: Any, session_factory: Any) -> None:
    uid = await user(session_factory)
    conn = await page(schema, runtime, Listing("myApiTokens", "id", Actor(ActorKind.CLIENT, user_id=uid)), first=5)
    assert conn["edges"] == [] and conn["totalCount"] == 0
    assert conn["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None,
                                "endCursor": None}


BAD = [
    ({"first": 2, "last": 2}, "last"),
    ({"first": 0}, "first"),
    ({"first": -1}, "first"),
    ({"last": 0}, "last"),
    ({"first": 101}, "first"),
    ({"last": 101}, "last"),
    ({"after": "not-a-cursor"}, "after"),
    ({"before": "bm90LWpzb24"}, "before"),
    ({"after": encode_cursor(7)}, "after"),  # a positions cursor is not a (time, id) cursor
]


@pytest.mark.parametrize(("paging", "field"), BAD)
async def test_bad_paging_arguments_are_one_typed_error(
    schema: Any, runtime: Any, session_factory: Any, paging: dict[str, Any], field: str
) -> None:
    uid = await user(session_factory)
    listing = Listing("mySessions", "databaseId", Actor(ActorKind.CLIENT, user_id=uid))
    result = await run_as(schema, runtime, listing.actor, listing.query(), **paging)
    assert result.data is None
    [error] = result.errors
    assert (error.original_error.code, error.original_error.field) == ("INVALID_PAGE_ARGUMENTS", field)


async def test_positions_refuse_a_time_and_id_cursor(schema: Any, runtime: Any, session_factory: Any,
                                                      settings: Any) -> None:
    listing, _ = await _positions(session_factory, settings)
    result = await run_as(schema, runtime, listing.actor, listing.query(), after=encode_cursor(datetime.now(UTC), 1),
                       **(listing.variables or {}))
    assert result.data is None and result.errors[0].original_error.code == "INVALID_PAGE_ARGUMENTS"


async def test_total_count_is_counted_only_when_selected_and_capped(
    schema: Any, runtime: Any, session_factory: Any
) -> None:
    await sql(session_factory, """
        INSERT INTO announcements (title, body, severity, posted_by)
        SELECT 'a' || g, 'b', 'info', 'test' FROM generate_series(1, :n) g""", n=COUNT_CAP + 50)
    reader = Actor(ActorKind.CLIENT, user_id=await user(session_factory))
    statements: list[str] = []
    engine = runtime.engine.sync_engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        counted = await run_as(schema, runtime, reader, "{ announcements(first: 1) { totalCount nodes { id } } }")
        counting = len(statements)
        statements.clear()
        plain = await run_as(schema, runtime, reader, "{ announcements(first: 1) { nodes { id } } }")
        plain_statements = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert counted.errors is None and plain.errors is None
    assert counted.data["announcements"]["totalCount"] == COUNT_CAP + 1  # "more than 10,000"
    assert plain_statements == counting - 1  # the count is one more statement, and only when asked
    described = await run_as(schema, runtime, reader, """{ __type(name: "AnnouncementConnection") {
        fields { name description } } }""")
    total = next(f for f in described.data["__type"]["fields"] if f["name"] == "totalCount")
    assert "10,001 means more than 10,000" in total["description"]
