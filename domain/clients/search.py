"""Staff client search: one query over a client's id, trading logins, e-mail, name and phone,
ranked, keyset-paginated, desk-scoped (access.py).

Each way of matching is its own branch on its own index (migration 0033: pg_trgm GIN indexes on
the lower-cased name, the account's normalised e-mail and the phone's digits; btree on ids and
logins), so `LIKE '%...%'` stays an index scan at any number of clients. A client found several
ways keeps its best score. Scores: an exact id or login 1.0, an exact e-mail 0.95, an exact name
or phone 0.9, an e-mail prefix 0.8, a name prefix 0.75, other substring matches 0.4-0.7 by
trigram similarity. Pages are ordered by (rank, client id) descending; the cursor carries both.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import asyncpg
import orjson

from domain.clients.access import is_back_office
from domain.clients.errors import SearchQueryInvalid
from domain.clients.lists import COLUMNS, ListedClient
from domain.shared.actor import Actor, ActorKind
from domain.shared.db import Reader, driver
from domain.shared.pagination import COUNT_CAP, InvalidPageArguments, Page, PageRequest

MIN_TEXT = 3  # trigram indexes need three characters; shorter text would scan every client
MAX_QUERY = 100
MAX_ID = 10**18


@dataclass(frozen=True)
class Hit:
    client: ListedClient
    email: str
    rank: Decimal
    matched_on: str


def encode_cursor(rank: Decimal, client_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([str(rank), client_id])).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[Decimal, int]:
    try:
        rank_text, client_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        rank = Decimal(rank_text)
        if not isinstance(client_id, int) or not rank.is_finite():
            raise ValueError("bad cursor shape")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError, InvalidOperation) as exc:
        raise InvalidPageArguments("the cursor is not one this API issued", field=field) from exc
    return rank, client_id


def _like(fragment: str) -> str:
    return fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_COLUMNS = tuple(column.key for column in COLUMNS)  # ListedClient's fields, in order
# The parts of the client's search text (migration 0038), whose trigram index finds the candidates.
_NAME_PART = "split_part(c.search_text, E'\\n', 1)"
_EMAIL_PART = "split_part(c.search_text, E'\\n', 2)"
_PHONE = "regexp_replace(coalesce(c.profile->>'phone', ''), '[^0-9]', '', 'g')"


def build(query: str) -> tuple[str, dict[str, object]]:
    """The hits CTE's branches for this query text (SQL and parameters)."""
    q = " ".join(query.split()).lower()
    if not q:
        raise SearchQueryInvalid("type something to search for", field="query")
    if len(q) > MAX_QUERY:
        raise SearchQueryInvalid(f"a search is at most {MAX_QUERY} characters", field="query")
    params: dict[str, object] = {}
    branches: list[str] = []
    bare = q.lstrip("#")
    if bare.isdigit() and len(bare) <= 18:
        params["num"] = int(bare)
        branches.append("SELECT c.id, 1.0::float8 AS score, 'id' AS source FROM clients c WHERE c.id = :num")
        branches.append("SELECT c.id, 1.0::float8, 'login' FROM trading_accounts a JOIN clients c "
                        "ON c.user_id = a.user_id WHERE a.login = :num")
    if len(q) >= MIN_TEXT:
        # E-mail and name in one pass over the clients whose search text (name, line break, e-mail:
        # migration 0038) holds every word, from its trigram index: each client's row is read once
        # and scored for the e-mail (the whole text in it) and the name (every word in it).
        params.update(q=q, q_sub=f"%{_like(q)}%", q_prefix=f"{_like(q)}%")
        email = ("CASE WHEN NOT (t.email LIKE :q_sub) THEN NULL WHEN t.email = :q THEN 0.95 "
                 "WHEN t.email LIKE :q_prefix THEN 0.8 ELSE 0.4 + 0.3 * similarity(t.email, :q) END")
        name, candidates = "NULL::float8", "c.search_text LIKE :q_sub"
        words = [w for w in q.split(" ") if w]
        if all(len(w) >= MIN_TEXT for w in words):
            for i, word in enumerate(words):
                params[f"w{i}"] = f"%{_like(word)}%"
            in_name = " AND ".join(f"t.name LIKE :w{i}" for i in range(len(words)))
            name = (f"CASE WHEN NOT ({in_name}) THEN NULL WHEN t.name = :q THEN 0.9 WHEN t.name LIKE :q_prefix "
                    "THEN 0.75 ELSE 0.4 + 0.3 * similarity(t.name, :q) END")
            candidates = " AND ".join(f"c.search_text LIKE :w{i}" for i in range(len(words)))
        # One row per client, the better of its two scores (the e-mail on a tie); OFFSET 0 keeps each
        # score computed once per row (a flattened subquery would repeat similarity() per mention).
        branches.append(
            "SELECT c.id, greatest(s.e, s.n), CASE WHEN s.n IS NULL OR s.e >= s.n THEN 'email' ELSE 'name' END "  # noqa: S608
            f"FROM clients c CROSS JOIN LATERAL (SELECT {email} AS e, {name} AS n FROM (SELECT {_NAME_PART} "
            f"AS name, {_EMAIL_PART} AS email) t OFFSET 0) s "
            f"WHERE {candidates} AND (s.e IS NOT NULL OR s.n IS NOT NULL)")
    digits = re.sub(r"[^0-9]", "", q)
    if len(digits) >= 6 and re.fullmatch(r"[0-9+()\-. ]+", q):
        params.update(digits=digits, digits_sub=f"%{digits}%")
        branches.append(f"SELECT c.id, CASE WHEN {_PHONE} = :digits THEN 0.9 ELSE 0.6 END, 'phone' "  # noqa: S608
                        f"FROM clients c WHERE {_PHONE} LIKE :digits_sub")
    if not branches:
        raise SearchQueryInvalid(f"search by an id or login, or at least {MIN_TEXT} characters of a name, e-mail "
                                 "or phone", field="query")
    return " UNION ALL ".join(branches), params


def _positional(sql: str, params: dict[str, object]) -> tuple[str, list[object]]:
    """`:name` parameters as asyncpg's `$n` (each name one number)."""
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    out = re.sub(r"(?<![:\w]):([a-z_0-9]+)", number, sql)
    return out, [params[n] for n in names]


async def search(session: Reader, actor: Actor, query: str, page: PageRequest) -> Page[Hit]:
    """Best match first (keyset on rank, id; the page request's cursors are this module's). One
    statement straight on asyncpg: every branch reads the client row (the e-mail is copied onto it,
    migration 0038) and keeps the desk scope, so the page is cut from the ranked ids first and only
    its rows are joined to their clients and e-mails."""
    hits_sql, params = build(query)
    if actor.kind is not ActorKind.STAFF and actor.kind is not ActorKind.SYSTEM:
        return Page([], False, total=0 if page.count_total else None)
    if actor.kind is ActorKind.STAFF and not is_back_office(actor):
        if not actor.desk:
            return Page([], False, total=0 if page.count_total else None)
        params["desk"] = actor.desk
        hits_sql = " UNION ALL ".join(f"{branch} AND c.desk = :desk" for branch in hits_sql.split(" UNION ALL "))
    # Built from constants above; every value is a bound parameter.
    ranked = (f"WITH hits (id, score, source) AS ({hits_sql}), "  # noqa: S608
              "ranked AS (SELECT id, round(max(score)::numeric, 4) AS rank, "
              "(array_agg(source ORDER BY score DESC))[1] AS source FROM hits GROUP BY id) ")
    conds = ["true"]
    for op, cursor in (("<", page.after), (">", page.before)):  # rows strictly between the cursors
        if cursor is not None:
            n = len(conds)
            params[f"r{n}"], params[f"i{n}"] = cursor
            conds.append(f"(rank, id) {op} (:r{n}, :i{n})")
    down = not page.backward
    params["fetch"] = page.fetch
    order = "DESC" if down else "ASC"
    sql, args = _positional(
        ranked + f", cut AS (SELECT id, rank, source FROM ranked WHERE {' AND '.join(conds)} "  # noqa: S608
        f"ORDER BY rank {order}, id {order} LIMIT :fetch) "
        f"SELECT p.rank, p.source, u.email, {', '.join('c.' + col for col in _COLUMNS)} FROM cut p "
        f"JOIN clients c ON c.id = p.id JOIN users u ON u.id = c.user_id ORDER BY p.rank {order}, p.id {order}",
        params)
    conn = await driver(session)
    rows = await conn.fetch(sql, *args)
    total = None
    if page.count_total:
        count_sql, count_args = _positional(
            ranked + f"SELECT count(*) FROM (SELECT 1 FROM ranked LIMIT {COUNT_CAP + 1}) x", params)  # noqa: S608
        total = int(await conn.fetchval(count_sql, *count_args))
    return page.finish(rows, _hit, total)


def _hit(r: asyncpg.Record) -> Hit:
    return Hit(ListedClient(*(r[col] for col in _COLUMNS)), r["email"], r["rank"], r["source"])
