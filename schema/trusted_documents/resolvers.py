from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from domain.trusted_documents import service
from domain.trusted_documents.models import TrustedDocument as TrustedDocumentRow
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.pagination import Connection, page_request, to_connection
from schema.permissions import Requires
from schema.trusted_documents.types import (
    RegisterTrustedDocumentsInput,
    RegisterTrustedDocumentsPayload,
    RevokeTrustedDocumentPayload,
    TrustedDocument,
)


def _key(row: TrustedDocumentRow) -> tuple[datetime, int]:
    return row.registered_at, row.id


@strawberry.type
class TrustedDocumentQueries:
    @strawberry.field(permission_classes=[Requires("trusted_documents.read")],
                      description="Trusted documents, newest first (revoked ones only when asked).")
    async def trusted_documents(
        self, info: Info[Context, Any], first: int | None = None,
        after: str | None = None, last: int | None = None, before: str | None = None,
        client_name: str | None = None, include_revoked: bool = False,
    ) -> Connection[TrustedDocument]:
        req = page_request(info, first, after, last, before)
        async with info.context.session() as session:
            page = await service.list_documents(session, page=req, client_name=client_name,
                                                include_revoked=include_revoked)
        return to_connection(page, TrustedDocument.from_row, _key)


@strawberry.type
class TrustedDocumentMutations:
    @declares_errors("DOCUMENT_HASH_MISMATCH", "DOCUMENT_INVALID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("trusted_documents.manage")],
                         description="Register a build's or a partner's documents ({hash: body}); "
                                     "all or nothing: one faulty entry registers none.")
    async def register_trusted_documents(
        self, info: Info[Context, Any], input: RegisterTrustedDocumentsInput
    ) -> RegisterTrustedDocumentsPayload:
        ctx = info.context
        documents = {d.hash: d.body for d in input.documents}
        if len(documents) != len(input.documents):
            return RegisterTrustedDocumentsPayload(errors=[UserError(
                field="input.documents", message="a hash is listed twice", code="DOCUMENT_INVALID")])

        async def work() -> RegisterTrustedDocumentsPayload:
            async def txn(session: AsyncSession) -> service.Registration:
                return await service.register(session, ctx.actor, client_name=input.client_name,
                                              documents=documents)

            done = await ctx.transaction(txn)
            return RegisterTrustedDocumentsPayload(
                added=[TrustedDocument.from_row(r) for r in done.added],
                reinstated=[TrustedDocument.from_row(r) for r in done.reinstated], unchanged=done.unchanged)

        def failed(errors: list[UserError]) -> RegisterTrustedDocumentsPayload:
            return RegisterTrustedDocumentsPayload(errors=errors)

        return await payload_or_errors(work, failed)

    @declares_errors("DOCUMENT_NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires("trusted_documents.manage")],
                         description="Stop trusting a document: requests naming it get PersistedQueryNotFound.")
    async def revoke_trusted_document(self, info: Info[Context, Any], hash: str) -> RevokeTrustedDocumentPayload:
        ctx = info.context

        async def work() -> RevokeTrustedDocumentPayload:
            async def txn(session: AsyncSession) -> TrustedDocumentRow:
                return await service.revoke(session, ctx.actor, hash)

            row = await ctx.transaction(txn)
            ctx.services.trusted_documents.forget(row.hash)
            return RevokeTrustedDocumentPayload(document=TrustedDocument.from_row(row))

        def failed(errors: list[UserError]) -> RevokeTrustedDocumentPayload:
            return RevokeTrustedDocumentPayload(errors=errors)

        return await payload_or_errors(work, failed)


QUERIES = (TrustedDocumentQueries,)
MUTATIONS = (TrustedDocumentMutations,)
