"""The staff client list: newest first, filtered by status, country and desk, narrowed by word-prefix
search, keyset-paginated on (created_at, id), desk-scoped (access.py). Straight on asyncpg (a hot
read: no SQLAlchemy compilation or result processing).

Without search every shape is an index walk that stops after a page at any number of clients
(migrations 0037, 0038): newest first on (created_at, id); one filter on (status | country | desk,
created_at, id); status and country on (country, status, created_at, id); a desk's clients by status
on (desk, status, created_at, id); other combinations walk one of those and filter.

Search is by word prefix (migration 0070): every word of the query starts some word of the client
(name, e-mail, its domain and local-part pieces, phone digits, client number), lower-cased and
accent-folded. One statement first reads the query's words and how many token rows each word's prefix
range holds, up to a bound (`ALONE`, `CHECKED`): an index range scan that stops there (kept per
process for a minute: the next pages and the same search again are one statement). Then, by that
count, the page is read one of three ways, each bounded:
- one word, no other filter, at most ALONE tokens: those tokens' clients, newest first, from the token
  index alone (created_at rides in it); its total is exact;
- with filters or several words, the rarest word at most CHECKED tokens: its clients sorted newest
  first from the token index, each then checked on its row (the other words, filters, scope) until a
  page matches; its total is exact;
- otherwise every word is common: the newest clients (through the filters' index, or the
  (created_at, id) INCLUDE (search_tokens) index without visiting the table) walked until a page
  matches. Without filters a common word is in about one client in a hundred or more at a million, so
  the walk is short. With filters that the word's clients seldom meet the walk reads every client the
  filters keep (1M clients, a desk's 18,000 active ones without "anna": 230 ms): no index holds a
  word with the filters. Its total would read up to every client: null, as the connection's
  description allows.
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
from domain.shared.db import Reader, driver, fetch_planned
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


def _like_word(word: str) -> str:
    """`search_tokens LIKE` this: a word of the client's starting with `word` (wildcards literal)."""
    return "% " + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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
    return where, params


# The wallets of a page's clients, joined to the page in the same statement (as
# domain.ledger.accounts.wallets_of_users reads them: client wallets, balance shard 0, by currency).
# Per page row, through the owner index: OFFSET 0 keeps the planner from flattening the lateral
# subquery into a join it may hash over every client's wallets (1.5 ms at 2,000 clients, growing
# with the ledger; 25 ms with the ledger never analysed), where the page needs 50 index lookups.
WALLETS_SQL = ("LEFT JOIN LATERAL (SELECT a.id, a.currency, b.balance, b.held FROM ledger_accounts a "
               "JOIN ledger_balances b ON b.account_id = a.id AND b.shard = 0 "
               "WHERE a.owner_id = p.user_id AND a.purpose = 'client_wallet' OFFSET 0) w ON true")



# Token rows a word's prefix range may hold for its clients to be the page's candidates: alone (one
# word, no other filter) they are sorted from the token index only (about 0.1 us a row); checked
# (filters, scope or more words) each candidate's row is read in turn (3-10 us at 1M clients; 827
# candidates of which none met a desk and status: 2.8 ms, where the walk of that desk's clients took
# 360 ms for a word of 5,000 tokens). Beyond, a walk of the newest clients finds a page sooner.
ALONE = 20_000
CHECKED = 10_000
MORE = 2**62  # a word's count past its cap
_TOP = "\U0010ffff"  # above every character: [word, word + _TOP) is every token starting with word (C collation)

# The query's words (normalised in SQL as the tokens are: migration 0070) and how many token rows each
# word's prefix range holds, counted up to $2 (one word) or $3 (several).
WORDS_SQL = ("WITH q AS (SELECT client_search_words($1) AS ws) SELECT w, (SELECT count(*) FROM (SELECT 1 "
             "FROM client_search_tokens WHERE token >= w COLLATE \"C\" AND token < (w || $4) COLLATE \"C\" "
             "LIMIT CASE WHEN cardinality(q.ws) = 1 THEN $2::int ELSE $3::int END) x) AS n FROM q, unnest(q.ws) w")


@dataclass(frozen=True, slots=True)
class Words:
    """The query's words (none implied by another) with their token counts (capped), rarest first."""
    words: list[tuple[str, int]]

    @property
    def rarest(self) -> tuple[str, int]:
        return self.words[0]


# Per process: a search's words and counts by its text, for WORDS_TTL_S (paging through the results, and
# the same search again, is then one statement). The counts only choose the way to the page (and
# whether the total is counted); the page reads the tokens and clients as they are.
WORDS_TTL_S = 60.0
_WORDS_KEPT = 4096
_words_seen: dict[str, tuple[float, Words]] = {}


async def _words(conn: asyncpg.Connection, text: str) -> Words:
    now = time.monotonic()
    seen = _words_seen.get(text)
    if seen is not None and now - seen[0] < WORDS_TTL_S:
        return seen[1]
    alone = max(ALONE, CHECKED) + 1
    rows = await conn.fetch(WORDS_SQL, text, alone, CHECKED + 1, _TOP)
    cap = alone if len(rows) == 1 else CHECKED + 1
    # A count that reached its cap says only "more" (a word left alone below may have been counted
    # with the lower cap of several words).
    counts = {r[0]: int(r[1]) if int(r[1]) < cap else MORE for r in rows}
    # A word that starts another one adds nothing (whatever starts the longer starts it too).
    kept = [(w, n) for w, n in counts.items() if not any(o != w and o.startswith(w) for o in counts)]
    words = Words(sorted(kept, key=lambda wn: (wn[1], wn[0])))
    if len(_words_seen) >= _WORDS_KEPT:
        _words_seen.clear()
    _words_seen[text] = (now, words)
    return words


def _way(where: list[str], words: Words | None) -> str:
    """How the page is read: `plain` without search; with it `alone`, `checked` or `walk` (module doc)."""
    if words is None:
        return "plain"
    n = words.rarest[1]
    if not where and len(words.words) == 1 and n <= ALONE:
        return "alone"
    return "checked" if n <= CHECKED else "walk"


def _checked(span: str, where_sql: str, order: str = "") -> str:
    """The clients of the rarest word's tokens (`span`) that meet `where_sql`, each read by its key: the
    lateral subquery (OFFSET 0: not flattened) keeps the planner from hashing a scan of every client
    for the other conditions (at 10k clients it did: 4.3 ms of 4.9). With `order` (the keyset's, on
    the tokens' created_at and client_id) the candidates are sorted from the token index first and
    checked in that order, so a page stops the checks."""
    return (f"(SELECT DISTINCT created_at, client_id FROM client_search_tokens WHERE {span} {order}) t "  # noqa: S608
            f"CROSS JOIN LATERAL (SELECT id, created_at FROM clients WHERE id = t.client_id AND {where_sql} "
            "OFFSET 0) c")


def _page_sql(where: list[str], params: list[Any], words: Words | None, page: PageRequest,
              way: str) -> tuple[str, list[Any]]:
    bound, conds = list(params), list(where)

    def bind(value: Any) -> str:
        bound.append(value)
        return f"${len(bound)}"

    order = "ASC" if page.backward else "DESC"
    keyset = f"ORDER BY created_at {order}, id {order}"
    if words is not None:
        conds += [f"search_tokens LIKE {bind(_like_word(w))}" for w, _ in words.words[0 if way == "walk" else 1:]]
    span = ""
    if way in ("alone", "checked"):
        assert words is not None
        span = f"token >= {bind(words.rarest[0])} AND token < {bind(words.rarest[0] + _TOP)}"
    on_tokens = ""
    for op, cursor in (("<", page.after), (">", page.before)):  # rows strictly between the cursors
        if cursor is not None:
            a, b = bind(cursor[0]), bind(cursor[1])
            conds.append(f"(created_at, id) {op} ({a}, {b})")
            on_tokens += f" AND (created_at, client_id) {op} ({a}, {b})"
    fetch = bind(page.fetch)
    where_sql = " AND ".join(conds) or "true"
    tokens_order = f"ORDER BY created_at {order}, client_id {order}"
    if way == "plain":
        return f"SELECT {SQL_COLUMNS} FROM clients WHERE {where_sql} {keyset} LIMIT {fetch}", bound  # noqa: S608
    if way == "alone":
        # The clients of at most ALONE tokens, newest first, from the token index only (created_at is
        # in it); then the page's rows.
        ids = (f"SELECT client_id FROM (SELECT DISTINCT created_at, client_id FROM client_search_tokens "  # noqa: S608
               f"WHERE {span}{on_tokens}) t ORDER BY created_at {order}, client_id {order} LIMIT {fetch}")
    elif way == "checked":
        # The rarest word's few clients, each checked on its row: the other words, the filters, the scope.
        ids = (f"SELECT c.id FROM {_checked(span + on_tokens, where_sql, tokens_order)} "  # noqa: S608
               f"ORDER BY t.created_at {order}, t.client_id {order} LIMIT {fetch}")
    else:
        # Every word common: the newest clients walked until a page matches (without filters through
        # (created_at, id) INCLUDE (search_tokens), not visiting the table).
        ids = f"SELECT id FROM clients WHERE {where_sql} {keyset} LIMIT {fetch}"  # noqa: S608
    return f"SELECT {SQL_COLUMNS} FROM clients WHERE id IN ({ids}) {keyset}", bound  # noqa: S608


async def _count(conn: asyncpg.Connection, where: list[str], params: list[Any], words: Words | None,
                 way: str) -> int | None:
    """The total, up to COUNT_CAP (+1 for more): without search the filters' index up to that many;
    with it the rarest word's few clients (exact, bounded by ALONE or CHECKED tokens); null for a walk."""
    if way == "walk":
        return None
    bound, conds = list(params), list(where)
    if words is None:
        sql = (f"SELECT count(*) FROM (SELECT 1 FROM clients WHERE {' AND '.join(conds) or 'true'} "  # noqa: S608
               f"LIMIT {COUNT_CAP + 1}) x")
        return int(await conn.fetchval(sql, *bound))
    word = words.rarest[0]
    bound += [word, word + _TOP]
    span = f"token >= ${len(bound) - 1} AND token < ${len(bound)}"
    if way == "alone":
        sql = f"SELECT count(DISTINCT client_id) FROM client_search_tokens WHERE {span}"  # noqa: S608
    else:
        for w, _ in words.words[1:]:
            bound.append(_like_word(w))
            conds.append(f"search_tokens LIKE ${len(bound)}")
        sql = f"SELECT count(*) FROM {_checked(span, ' AND '.join(conds) or 'true')}"  # noqa: S608
    return min(int((await fetch_planned(conn, sql, *bound))[0][0]), COUNT_CAP + 1)


async def _read(conn: asyncpg.Connection, actor: Actor, f: ClientFilter, page: PageRequest,
                wrap: str | None = None) -> tuple[list[asyncpg.Record], int | None] | None:
    """The page's rows (the statement wrapped by `wrap`, `{}` standing for it, when given) and its
    total when asked; None when the actor may see no client."""
    found = conditions(actor, f)
    if found is None:
        return None
    where, params = found
    words = await _words(conn, f.text) if f.text is not None else None
    if words is not None and not words.words:
        return [], 0 if page.count_total else None
    way = _way(where, words)
    sql, bound = _page_sql(where, params, words, page, way)
    if wrap is not None:
        sql = wrap.format(sql)
    # With search, planned for its values on every run: a cached statement's generic plan would not
    # see how many clients the words or filters keep.
    rows = await fetch_planned(conn, sql, *bound) if words is not None else await conn.fetch(sql, *bound)
    return rows, await _count(conn, where, params, words, way) if page.count_total else None


async def newest(session: Reader, actor: Actor, f: ClientFilter, page: PageRequest) -> Page[asyncpg.Record]:
    """A page of the clients the actor may see, newest first: raw rows of SQL_COLUMNS (ListedClient's
    fields, in order)."""
    read = await _read(await driver(session), actor, f, page)
    if read is None:
        return Page([], False, total=0 if page.count_total else None)
    return page.finish(read[0], _row, read[1])


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


async def newest_with_wallets(session: Reader, actor: Actor, f: ClientFilter,
                              page: PageRequest) -> Page[WithWallets]:
    """As `newest`, each client with its wallets: the page joined to its wallets in the same statement."""
    order = "ASC" if page.backward else "DESC"
    read = await _read(await driver(session), actor, f, page, wrap=(
        "SELECT p.*, w.id AS wallet_id, w.currency AS wallet_currency, w.balance, w.held FROM ({}) p "  # noqa: S608
        f"{WALLETS_SQL} ORDER BY p.created_at {order}, p.id {order}, w.currency"))
    if read is None:
        return Page([], False, total=0 if page.count_total else None)
    listed: list[WithWallets] = []
    for r in read[0]:
        if not listed or listed[-1].client[0] != r[0]:  # id
            listed.append(WithWallets(r, []))
        if r[10] is not None:  # wallet_id
            listed[-1].wallets.append(r)
    return page.finish(listed, _same, read[1])


def _row(row: asyncpg.Record) -> asyncpg.Record:
    return row


def _same(item: WithWallets) -> WithWallets:
    return item
