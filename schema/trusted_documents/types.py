from __future__ import annotations

from datetime import datetime

import strawberry

from domain.trusted_documents.models import TrustedDocument as TrustedDocumentRow
from schema.errors import UserError


@strawberry.type(description="A GraphQL document a known client may send by its hash alone (`documentId`).")
class TrustedDocument:
    hash: str = strawberry.field(description="SHA-256 of the body, lower-case hex; send `sha256:<hash>` as "
                                             "`documentId` (or Apollo's `extensions.persistedQuery.sha256Hash`).")
    body: str
    client_name: str = strawberry.field(description="The client that registered it (a portal build, a partner).")
    registered_by: str
    registered_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def from_row(cls, row: TrustedDocumentRow) -> TrustedDocument:
        return cls(hash=row.hash, body=row.body, client_name=row.client_name, registered_by=row.registered_by,
                   registered_at=row.registered_at, revoked_at=row.revoked_at, revoked_by=row.revoked_by)


@strawberry.input(description="One entry of a build's manifest: the document's SHA-256 hex and its text.")
class TrustedDocumentInput:
    hash: str
    body: str


@strawberry.input
class RegisterTrustedDocumentsInput:
    client_name: str = strawberry.field(description="Who sends these documents, e.g. `client-portal`.")
    documents: list[TrustedDocumentInput]


@strawberry.type
class RegisterTrustedDocumentsPayload:
    added: list[TrustedDocument] = strawberry.field(default_factory=list)
    reinstated: list[TrustedDocument] = strawberry.field(
        default_factory=list, description="Registered before and revoked: trusted again.")
    unchanged: int = strawberry.field(default=0, description="Already registered and trusted.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RevokeTrustedDocumentPayload:
    document: TrustedDocument | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
