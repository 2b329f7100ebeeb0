"""Staff tools on clients: search, desk assignment, and short-lived links to view a KYC document."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.clients import desks, document_links, search
from domain.clients.access import client_for
from schema.clients.ids import client_key
from schema.clients.types import ClientPayload, ClientSummary
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import AnyId, key_of
from schema.pagination import Connection, keyed_connection, page_request
from schema.permissions import Requires

Ctx = Info[Context, Any]


@strawberry.type(description="A client found by a staff search, with how well and by what it matched.")
class ClientSearchHit:
    client: ClientSummary
    email: str
    rank: float = strawberry.field(description="1.0 for an exact id or login, lower for looser matches.")
    matched_on: str = strawberry.field(description="id, login, email, name or phone: the best of the matches.")


@strawberry.type(description="A signed link to one document, valid about a minute; opening it is audited.")
class DocumentViewLink:
    url: str
    expires_at: dt.datetime


@strawberry.type
class DocumentViewLinkPayload:
    link: DocumentViewLink | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ClientStaffQueries:
    @strawberry.field(permission_classes=[Requires("clients.read")],
                      description="Find clients you may see by client id, trading login, e-mail, name or phone "
                                  "(3 characters at least, or an id/login), best match first.")
    async def search_clients(self, info: Ctx, query: str, first: int | None = None,
                             after: str | None = None,
                             last: int | None = None, before: str | None = None) -> Connection[ClientSearchHit]:
        req = page_request(info, first, after, last, before, decode=search.decode_cursor)
        async with info.context.raw_read() as conn:  # a DomainError is shown with its code
            found = await search.search(conn, info.context.actor, query, page=req)
        return keyed_connection(found, lambda h: ClientSearchHit(client=ClientSummary.from_row(h.client),
                                                                 email=h.email, rank=float(h.rank),
                                                                 matched_on=h.matched_on),
                                lambda h: search.encode_cursor(h.rank, h.client.id))


@strawberry.type
class ClientStaffMutations:
    @declares_errors("DESK_INVALID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires("clients.assign_desk")],
                         description="Put a client on a desk (null: no desk); staff scoped to that desk see them.")
    async def assign_client_desk(self, info: Ctx, client_id: AnyId, desk: str | None,
                                 reason: str = "") -> ClientPayload:
        ctx = info.context

        async def work() -> ClientPayload:
            async def txn(session: AsyncSession) -> ClientPayload:
                client = await client_for(session, ctx.actor, client_key(client_id, "clientId"), lock=True)
                await desks.assign_desk(session, ctx.actor, client, desk, reason=reason)
                return ClientPayload(client=ClientSummary.from_row(client))

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: ClientPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires("kyc.review")],
                         description="A link (GET, about 60 s, this session only) that shows one KYC document; "
                                     "issuing and every opening are audited.")
    async def document_view_link(self, info: Ctx, document_id: AnyId) -> DocumentViewLinkPayload:
        ctx = info.context

        async def work() -> DocumentViewLinkPayload:
            async def txn(session: AsyncSession) -> document_links.IssuedLink:
                return await document_links.issue(session, ctx.settings, ctx.actor,
                                                  key_of(document_id, "ClientDocument", field="documentId"))

            issued = await ctx.transaction(txn)
            return DocumentViewLinkPayload(link=DocumentViewLink(
                url=issued.url, expires_at=dt.datetime.fromtimestamp(issued.expires_at, dt.UTC)))

        return await payload_or_errors(work, lambda e: DocumentViewLinkPayload(errors=e))
