"""The staff client list: newest first, filtered by status, country and desk, narrowed by text in
the name or e-mail, keyset-paginated on (created_at, id), desk-scoped (access.py).

Every shape is an index walk that stops after a page at any number of clients (migration 0035):
newest first on (created_at, id); one filter on (status | country | desk, created_at, id); a desk's
clients by status on (desk, status, created_at, id); other combinations walk one of those and
filter, reading about a page divided by the other filters' selectivity. Text narrows with two
branches, the name (trigram index on clients) and the e-mail (trigram index on users), each cut to
a page before the union: the first page of a union is within the first pages of its branches, and
each branch is either a walk down the newest-first index that stops early (common text) or a
trigram lookup of the few matching rows (rare text), whichever the planner expects cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, CompoundSelect, Select, and_, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.access import visible_filter
from domain.clients.config import country_code
from domain.clients.desks import clean_desk
from domain.clients.errors import SearchQueryInvalid
from domain.clients.models import Client
from domain.clients.status import Status
from domain.identity.models import User
from domain.shared.actor import Actor
from domain.shared.pagination import COUNT_CAP, Page, PageRequest

_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])
MIN_TEXT = 3  # the trigram indexes need a word of three characters; shorter text would walk every client
MAX_TEXT = 100

# What the list shows (schema ClientSummary): no JSON documents loaded for a list.
COLUMNS = (Client.id, Client.user_id, Client.status, Client.kind, Client.first_name, Client.last_name,
           Client.country, Client.desk, Client.risk_level, Client.created_at)
_NAME = func.lower(Client.first_name + " " + Client.last_name)  # as indexed by ix_clients_name_trgm


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


def _conditions(actor: Actor, f: ClientFilter, page: PageRequest | None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [visible_filter(actor)]
    if f.status is not None:
        out.append(Client.status == f.status)
    if f.country is not None:
        out.append(Client.country == f.country)
    if f.desk is not None:
        out.append(Client.desk == f.desk)
    key = tuple_(Client.created_at, Client.id)
    if page is not None and page.after is not None:
        out.append(key < tuple_(*page.after))
    if page is not None and page.before is not None:
        out.append(key > tuple_(*page.before))
    return out


def _newest(stmt: _S, page: PageRequest) -> _S:
    """Newest first, or oldest first when scanning backward from `before` (the page is reversed)."""
    if page.backward:
        return stmt.order_by(Client.created_at, Client.id).limit(page.fetch)
    return stmt.order_by(Client.created_at.desc(), Client.id.desc()).limit(page.fetch)


async def newest(session: AsyncSession, actor: Actor, f: ClientFilter, page: PageRequest) -> Page[ListedClient]:
    """A page of the clients the actor may see, newest first."""
    where = _conditions(actor, f, page)
    if f.text is None:
        stmt = _newest(select(*COLUMNS).where(*where), page)
    else:
        pattern = _like(f.text)
        by_name = _newest(select(Client.id, Client.created_at).where(*where, _NAME.like(pattern)), page)
        by_email = _newest(select(Client.id, Client.created_at).join(User, User.id == Client.user_id)
                           .where(*where, User.email_normalized.like(pattern)), page)
        hits = by_name.union(by_email).subquery("hits")
        stmt = _newest(select(*COLUMNS).join(hits, and_(hits.c.id == Client.id)), page)
    rows = (await session.execute(stmt)).all()
    total = await _count(session, actor, f) if page.count_total else None
    return page.finish(rows, lambda row: ListedClient(**row._mapping), total)


async def _count(session: AsyncSession, actor: Actor, f: ClientFilter) -> int:
    """The whole list's size, counted up to COUNT_CAP + 1 rows."""
    where = _conditions(actor, f, None)
    ids: Select[int] | CompoundSelect[int]
    if f.text is None:
        ids = select(Client.id).where(*where)
    else:
        pattern = _like(f.text)
        ids = select(Client.id).where(*where, _NAME.like(pattern)).union(
            select(Client.id).join(User, User.id == Client.user_id).where(*where, User.email_normalized.like(pattern)))
    return int(await session.scalar(select(func.count()).select_from(ids.limit(COUNT_CAP + 1).subquery())) or 0)
