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

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.access import is_back_office
from domain.clients.errors import SearchQueryInvalid
from domain.clients.lists import COLUMNS, ListedClient
from domain.shared.actor import Actor, ActorKind
from domain.shared.pagination import InvalidPageArguments, Page, PageRequest, sql_page

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
_NAME = "lower(c.first_name || ' ' || c.last_name)"
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
        params.update(q=q, q_sub=f"%{_like(q)}%", q_prefix=f"{_like(q)}%")
        branches.append(
            "SELECT c.id, CASE WHEN u.email_normalized = :q THEN 0.95 WHEN u.email_normalized LIKE :q_prefix "
            "THEN 0.8 ELSE 0.4 + 0.3 * similarity(u.email_normalized, :q) END, 'email' "
            "FROM users u JOIN clients c ON c.user_id = u.id WHERE u.email_normalized LIKE :q_sub")
        words = [w for w in q.split(" ") if w]
        if all(len(w) >= MIN_TEXT for w in words):
            conditions = []
            for i, word in enumerate(words):
                params[f"w{i}"] = f"%{_like(word)}%"
                conditions.append(f"{_NAME} LIKE :w{i}")
            branches.append(
                f"SELECT c.id, CASE WHEN {_NAME} = :q THEN 0.9 WHEN {_NAME} LIKE :q_prefix THEN 0.75 "  # noqa: S608
                f"ELSE 0.4 + 0.3 * similarity({_NAME}, :q) END, 'name' FROM clients c WHERE {' AND '.join(conditions)}")
    digits = re.sub(r"[^0-9]", "", q)
    if len(digits) >= 6 and re.fullmatch(r"[0-9+()\-. ]+", q):
        params.update(digits=digits, digits_sub=f"%{digits}%")
        branches.append(f"SELECT c.id, CASE WHEN {_PHONE} = :digits THEN 0.9 ELSE 0.6 END, 'phone' "  # noqa: S608
                        f"FROM clients c WHERE {_PHONE} LIKE :digits_sub")
    if not branches:
        raise SearchQueryInvalid(f"search by an id or login, or at least {MIN_TEXT} characters of a name, e-mail "
                                 "or phone", field="query")
    return " UNION ALL ".join(branches), params


async def search(session: AsyncSession, actor: Actor, query: str, page: PageRequest) -> Page[Hit]:
    """Best match first (keyset on rank, id; the page request's cursors are this module's)."""
    hits_sql, params = build(query)
    if actor.kind is not ActorKind.STAFF and actor.kind is not ActorKind.SYSTEM:
        return Page([], False, total=0 if page.count_total else None)
    scope = "true"
    if actor.kind is ActorKind.STAFF and not is_back_office(actor):
        if not actor.desk:
            return Page([], False, total=0 if page.count_total else None)
        scope = "c.desk = :desk"
        params["desk"] = actor.desk
    # Built from constants above; every value is a bound parameter. One statement: the page with the
    # columns a staff list shows.
    source = (f"(WITH hits (id, score, source) AS ({hits_sql}), "  # noqa: S608
              "ranked AS (SELECT id, round(max(score)::numeric, 4) AS rank, "
              "(array_agg(source ORDER BY score DESC))[1] AS source FROM hits GROUP BY id) "
              f"SELECT r.rank, r.source, u.email, {', '.join('c.' + col for col in _COLUMNS)} "
              f"FROM ranked r JOIN clients c ON c.id = r.id JOIN users u ON u.id = c.user_id WHERE {scope}) h")
    return await sql_page(session, page, columns="*", source=source, where=[], params=params, key=("h.rank", "h.id"),
                          descending=True, convert=lambda r: Hit(ListedClient(*(getattr(r, col) for col in _COLUMNS)),
                                                                 r.email, Decimal(r.rank), r.source))
