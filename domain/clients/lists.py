"""The staff client list: newest first, filtered by status, country and desk, narrowed by text in
the name or e-mail, keyset-paginated on (created_at, id), desk-scoped (access.py). One statement
straight on asyncpg (a hot read: no SQLAlchemy compilation or result processing).

Every shape is an index walk that stops after a page at any number of clients (migrations 0037,
0038): newest first on (created_at, id); one filter on (status | country | desk, created_at, id);
status and country on (country, status, created_at, id); a desk's clients by status on (desk,
status, created_at, id); other combinations walk one of those and filter, reading about a page
divided by the other filters' selectivity. Text is one condition on one stored column,
`search_text LIKE p` (the lower-cased name and the e-mail, kept by triggers: 0038): the planner walks
an index of (created_at, id) carrying that column and filters without visiting the table when the
text is common, or takes the few matching rows from its trigram index and sorts them when it is
rare, whichever it expects cheaper; only the page's rows are then read. Except where its guess is
blind: a text that none (or one) of the column's histogram bounds (1,000 sampled clients) contains is
estimated at a fixed floor of 0.1% of the clients whether it matches 40 of them or 900, and at 1M
clients that floor makes the walk look cheaper, so it walked all 1M for 40 matches (0.9 s). Such
text is rare by the same sample (fewer than one client in a thousand, at most a few thousand rows
at 1M): its page is taken from the trigram index outright, and text with one hit is walked for a bounded
number of clients before the trigram index is asked (`HITS`, `WALK_BUDGET`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain.clients.access import is_back_office
from domain.clients.config import country_code
from domain.clients.desks import clean_desk
from domain.clients.errors import SearchQueryInvalid
from domain.clients.models import Client
from domain.clients.status import Status
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import Reader, driver, fetch_planned, fetchval_planned
from domain.shared.pagination import COUNT_CAP, Page, PageRequest

MIN_TEXT = 3  # the trigram indexes need a word of three characters; shorter text would walk every client
MAX_TEXT = 100

# What the list shows (schema ClientSummary): no JSON documents loaded for a list.
COLUMNS = (Client.id, Client.user_id, Client.status, Client.kind, Client.first_name, Client.last_name,
           Client.country, Client.desk, Client.risk_level, Client.created_at)
SQL_COLUMNS = ", ".join(c.key for c in COLUMNS)


@dataclass(frozen=True, slots=True)
class ListedClient:
    """A client as lists show them (COLUMNS, in order): a plain row, not an ORM instance, which costs
    about 50 us to build (2.5 ms for a page of 50)."""
    id: int
    user_id: int
    status: str
    kind: str
    first_name: str
    last_name: str
    country: str | None
    desk: str | None
    risk_level: str | None
    created_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class ClientFilter:
    """Validated filters; build with `client_filter`."""
    status: str | None = None
    country: str | None = None
    desk: str | None = None
    text: str | None = None


def _like(fragment: str) -> str:
    return "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def client_filter(*, status: Status | None = None, country: str | None = None, desk: str | None = None,
                  search: str | None = None) -> ClientFilter:
    """Checks each filter value; a bad one is a typed error naming its argument."""
    text = None
    if search is not None:
        text = " ".join(search.split()).lower()
        if len(text) > MAX_TEXT or max(len(word) for word in text.split(" ")) < MIN_TEXT:
            raise SearchQueryInvalid(f"search text is at most {MAX_TEXT} characters with a word of {MIN_TEXT} "
                                     "at least", field="search")
    return ClientFilter(status=status.value if status is not None else None,
                        country=country_code(country) if country is not None else None,
                        desk=clean_desk(desk) if desk is not None else None, text=text)


def conditions(actor: Actor, f: ClientFilter) -> tuple[list[str], list[Any]] | None:
    """The list's WHERE conditions on `clients` with their `$n` parameters; None when the actor may
    see no client at all (as access.visible_filter: back office every client, desk staff their desk's,
    a client themselves)."""
    where: list[str] = []
    params: list[Any] = []

    def add(sql: str, value: Any) -> None:
        params.append(value)
        where.append(sql.format(f"${len(params)}"))

    if not is_back_office(actor):
        if actor.kind is ActorKind.STAFF and actor.desk:
            add("desk = {}", actor.desk)
        elif actor.kind is ActorKind.CLIENT and actor.user_id is not None:
            add("user_id = {}", actor.user_id)
        else:
            return None
    if f.status is not None:
        add("status = {}", f.status)
    if f.country is not None:
        add("country = {}", f.country)
    if f.desk is not None:
        add("desk = {}", f.desk)
    if f.text is not None:
        add("search_text LIKE {}", _like(f.text))
    return where, params


# The wallets of a page's clients, joined to the page in the same statement (as
# domain.ledger.accounts.wallets_of_users reads them: client wallets, balance shard 0, by currency).
# Per page row, through the owner index: OFFSET 0 keeps the planner from flattening the lateral
# subquery into a join it may hash over every client's wallets (1.5 ms at 2,000 clients, growing
# with the ledger; 25 ms with the ledger never analysed), where the page needs 50 index lookups.
WALLETS_SQL = ("LEFT JOIN LATERAL (SELECT a.id, a.currency, b.balance, b.held FROM ledger_accounts a "
               "JOIN ledger_balances b ON b.account_id = a.id AND b.shard = 0 "
               "WHERE a.owner_id = p.user_id AND a.purpose = 'client_wallet' OFFSET 0) w ON true")


@dataclass(frozen=True, slots=True)
class WithWallets:
    """A listed client (a raw row of SQL_COLUMNS) and its wallets: the same rows, each carrying one
    wallet after the client's columns (wallet_id, wallet_currency, balance, held)."""
    client: asyncpg.Record
    wallets: list[asyncpg.Record]


def _page_sql(where: list[str], params: list[Any], f: ClientFilter, page: PageRequest,
              many: bool = False) -> tuple[str, list[Any]]:
    bound, conds = list(params), list(where) or ["true"]
    for op, cursor in (("<", page.after), (">", page.before)):  # rows strictly between the cursors
        if cursor is not None:
            bound.extend(cursor)
            conds.append(f"(created_at, id) {op} (${len(bound) - 1}, ${len(bound)})")
    bound.append(page.fetch)
    order = "ASC" if page.backward else "DESC"
    keyset = f"ORDER BY created_at {order}, id {order}"
    if f.text is None:
        return (f"SELECT {SQL_COLUMNS} FROM clients WHERE {' AND '.join(conds)} {keyset} "  # noqa: S608
                f"LIMIT ${len(bound)}"), bound
    if not many or len(where) > 1:
        # Few clients (`_many`): the planner's way, a statement a third the size to plan. Text with
        # other filters (status, country, desk, a desk's scope) too: the filters' index is walked with
        # a visit to the table per client (no index carries the text with them), and they shrink the
        # floor guess below a page's worth of walking, so the planner takes the trigram index itself.
        return (f"SELECT {SQL_COLUMNS} FROM clients WHERE id IN (SELECT id FROM clients "  # noqa: S608
                f"WHERE {' AND '.join(conds)} {keyset} LIMIT ${len(bound)}) {keyset}"), bound
    # Text alone among many clients: the page's ids first, then only their rows. For text that two or more
    # of the sampled values hold (`HITS`), the planner's way (a walk of (created_at, id) INCLUDE
    # (search_text) that never visits the table, or the trigram index's few matches sorted); for
    # text that none holds, the trigram index (its subquery, kept apart by OFFSET 0, is planned
    # without the order: a bitmap scan); for text that one holds, the newest WALK_BUDGET clients
    # walked, then the trigram index only if they hold no whole page. Each branch not taken is a
    # one-time filter that never runs (nor does the walk it would read).
    text, fetch = _text_param(where, params), f"${len(bound)}"
    where_all = " AND ".join(conds)
    base = " AND ".join(c for i, c in enumerate(conds) if i != len(where) - 1) or "true"
    planned = f"SELECT id FROM clients WHERE {where_all} {keyset} LIMIT {fetch}"  # noqa: S608
    trigram = f"SELECT id FROM (SELECT id, created_at FROM clients WHERE {where_all} OFFSET 0) m {keyset} LIMIT {fetch}"  # noqa: S608
    walk = (f"SELECT id FROM (SELECT id, created_at, search_text FROM clients WHERE {base} {keyset} "  # noqa: S608
            f"LIMIT {WALK_BUDGET}) w WHERE search_text LIKE {text} {keyset} LIMIT {fetch}")
    hits, walked = "(SELECT n FROM hits)", "(SELECT count(*) FROM walk)"
    return (f"WITH hits AS MATERIALIZED (SELECT ({HITS.format(text)}) AS n), walk AS MATERIALIZED ({walk}) "  # noqa: S608
            f"SELECT {SQL_COLUMNS} FROM clients WHERE id IN ("
            f"SELECT id FROM ({planned}) p WHERE {hits} >= 2 "
            f"UNION ALL SELECT id FROM walk WHERE {hits} = 1 AND {walked} = {fetch} "
            f"UNION ALL SELECT id FROM ({trigram}) t WHERE {hits} = 0 OR ({hits} = 1 AND {walked} < {fetch})"
            f") {keyset}"), bound


# How many (0, 1 or 2: counting stops there) of the search text's sampled values (ANALYZE's
# histogram of clients.search_text, statistics target 1000: migration 0038) contain the pattern `{}`.
# With none or one the planner guesses a fixed floor (above) whatever the true number; no
# statistics yet (a table never analysed, small) counts as none.
HITS = ("SELECT count(*) FROM (SELECT 1 FROM pg_stats s, unnest(s.histogram_bounds::text::text[]) b "
        "WHERE s.schemaname = current_schema() AND s.tablename = 'clients' AND s.attname = 'search_text' "
        "AND b LIKE {} LIMIT 2) h")
# How many of a list's newest clients a text of one sampled hit walks before it asks the trigram
# index: a page found there means at least one client in 400 matches; rarer text has at most that
# share of the clients for the trigram path to read and sort.
WALK_BUDGET = 20_000
# Up to this many clients (the planner's estimate) text takes the planner's way and its total is
# counted: the floor guess is a few dozen clients, a walk of them all costs little, and the sample is
# not worth reading (about 1 ms). Beyond, a text search's total is counted only for rarely sampled
# text (the trigram index's few matches): common text would be counted by reading every client up to
# COUNT_CAP matches (150-400 ms at 1M), so its total is null, as the schema allows for a list that
# cannot be counted cheaply.
FEW_CLIENTS = 50_000
_SIZE_TTL_S = 60.0
_size = [float("-inf"), 0.0]  # when the estimate was read (monotonic seconds), the estimate


async def _many(conn: asyncpg.Connection) -> bool:
    """More than FEW_CLIENTS clients by the planner's estimate, read at most once a minute per process
    (a table grows by far less than that between two reads)."""
    now = time.monotonic()
    if now - _size[0] > _SIZE_TTL_S:
        _size[:] = [now, float(await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'clients'::regclass"))]
    return _size[1] > FEW_CLIENTS


def _text_param(where: list[str], params: list[Any]) -> str:
    """The `$n` of the text pattern among the list's conditions (conditions() adds it last)."""
    assert where and where[-1].startswith("search_text LIKE $"), where
    return where[-1].removeprefix("search_text LIKE ")


async def _count(conn: asyncpg.Connection, where: list[str], params: list[Any], f: ClientFilter,
                 many: bool) -> int | None:
    capped = (f"SELECT count(*) FROM (SELECT 1 FROM clients WHERE {' AND '.join(where) or 'true'} "  # noqa: S608
              f"LIMIT {COUNT_CAP + 1}) x")
    if f.text is None:
        return int(await conn.fetchval(capped, *params))
    if not many:
        return int(await fetchval_planned(conn, capped, *params))
    # Text among many clients: counted when cheap (text of at most one sampled hit), else null.
    total = await conn.fetchval(
        f"SELECT CASE WHEN ({HITS.format(_text_param(where, params))}) < 2 THEN ({capped}) END", *params)
    return None if total is None else int(total)


async def newest(session: Reader, actor: Actor, f: ClientFilter, page: PageRequest) -> Page[asyncpg.Record]:
    """A page of the clients the actor may see, newest first: raw rows of SQL_COLUMNS (ListedClient's
    fields, in order). One statement (two with the total)."""
    found = conditions(actor, f)
    if found is None:
        return Page([], False, total=0 if page.count_total else None)
    where, params = found
    conn = await driver(session)
    many = f.text is not None and await _many(conn)
    sql, bound = _page_sql(where, params, f, page, many)
    rows = await _fetch(conn, sql, bound, by_value=_by_value(where, f, many))
    return page.finish(rows, _row, await _count(conn, where, params, f, many) if page.count_total else None)


async def newest_with_wallets(session: Reader, actor: Actor, f: ClientFilter,
                              page: PageRequest) -> Page[WithWallets]:
    """As `newest`, each client with its wallets, still one statement: the page joined to its wallets."""
    found = conditions(actor, f)
    if found is None:
        return Page([], False, total=0 if page.count_total else None)
    where, params = found
    conn = await driver(session)
    many = f.text is not None and await _many(conn)
    sql, bound = _page_sql(where, params, f, page, many)
    order = "ASC" if page.backward else "DESC"
    rows = await _fetch(
        conn, f"SELECT p.*, w.id AS wallet_id, w.currency AS wallet_currency, w.balance, w.held FROM ({sql}) p "  # noqa: S608
        f"{WALLETS_SQL} ORDER BY p.created_at {order}, p.id {order}, w.currency", bound,
        by_value=_by_value(where, f, many))
    listed: list[WithWallets] = []
    for r in rows:
        if not listed or listed[-1].client[0] != r[0]:  # id
            listed.append(WithWallets(r, []))
        if r[10] is not None:  # wallet_id
            listed[-1].wallets.append(r)
    return page.finish(listed, _same, await _count(conn, where, params, f, many) if page.count_total else None)


def _by_value(where: list[str], f: ClientFilter, many: bool) -> bool:
    """Whether the page's statement is the planner's way with text (`_page_sql`: few clients, or text
    with other filters), whose plan must see the pattern: a cached statement's generic plan, made
    without it after five runs on a connection, walks the newest-first index for every pattern and
    reads every client for a rare one (10k clients: p95 51 ms a page under load). The statement for
    text alone among many clients chooses its way inside itself and stays cached."""
    return f.text is not None and (not many or len(where) > 1)


async def _fetch(conn: asyncpg.Connection, sql: str, bound: list[Any], *, by_value: bool) -> list[asyncpg.Record]:
    if by_value:
        return await fetch_planned(conn, sql, *bound)
    rows: list[asyncpg.Record] = await conn.fetch(sql, *bound)
    return rows


def _row(row: asyncpg.Record) -> asyncpg.Record:
    return row


def _same(item: WithWallets) -> WithWallets:
    return item
