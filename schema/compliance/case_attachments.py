"""Files on an AML case (domain/compliance/aml/attachments.py): attached through a GraphQL multipart
request like KYC documents, viewed through a signed link like them (`DocumentViewLink`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload
from strawberry.types import Info

from domain.clients import document_links, documents
from domain.clients.storage import default_store
from domain.compliance.aml import attachments, scope
from domain.shared.errors import NotFound
from schema.clients.staff import DocumentViewLink, DocumentViewLinkPayload
from schema.compliance.aml import READ, REVIEW, _loader, _run
from schema.context import Context
from schema.errors import UserError, declares_errors
from schema.node import DATABASE_ID_DOC, AnyId, Node, global_id, key_of, node_type
from schema.permissions import Requires

Ctx = Info[Context, Any]


@strawberry.type(description="A file attached to a case (a bank statement, a screenshot, an e-mail as PDF); "
                             "view it through amlCaseAttachmentLink.")
class AmlCaseAttachment(Node):
    database_id: strawberry.ID = strawberry.field(description=DATABASE_ID_DOC)
    case_id: strawberry.ID
    filename: str
    content_type: str = strawberry.field(description="As found in the content (magic bytes), not as declared.")
    size_bytes: int
    sha256: str = strawberry.field(description="Hex SHA-256 of the file as uploaded; a download is checked against it.")
    description: str
    uploaded_by_id: strawberry.ID = strawberry.field(description="Who attached it (StaffUser.id).")
    created_at: dt.datetime
    erased_at: dt.datetime | None = strawberry.field(
        description="When the file was deleted under the retention schedule (aml_records); its name and "
                    "description were blanked with it, its checksum kept. Null while it is kept.")

    @classmethod
    def of(cls, a: attachments.Attachment) -> AmlCaseAttachment:
        return cls(id=global_id("AmlCaseAttachment", a.id), database_id=strawberry.ID(str(a.id)),
                   case_id=global_id("AmlCase", a.case_id), filename=a.filename, content_type=a.content_type,
                   size_bytes=a.size_bytes, sha256=a.sha256, description=a.description,
                   uploaded_by_id=global_id("StaffUser", a.uploaded_by), created_at=a.created_at,
                   erased_at=a.erased_at)


async def case_attachments(info: Ctx, case_id: int) -> list[AmlCaseAttachment]:
    async with info.context.session() as session:
        return [AmlCaseAttachment.of(a) for a in await attachments.for_case(session, case_id)]


node_type("AmlCaseAttachment")(_loader(attachments.by_ids, AmlCaseAttachment.of, owner="case_id"))


@strawberry.type
class AmlCaseAttachmentPayload:
    attachment: AmlCaseAttachment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AmlCaseAttachmentMutations:
    @declares_errors("CASE_CLOSED", "CASE_NOT_FOUND", "DOCUMENT_EMPTY", "DOCUMENT_TOO_LARGE", "DOCUMENT_TYPE_REFUSED",
                     "INVALID_ID", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires(REVIEW)],
                         description="Attach a file to an open case (GraphQL multipart request): PDF, JPEG, PNG, "
                                     "WebP or HEIC, checked by content, up to 8 MiB.")
    async def add_aml_case_attachment(self, info: Ctx, case_id: AnyId, file: Upload,
                                      description: str = "") -> AmlCaseAttachmentPayload:
        ctx = info.context
        # One byte over the limit is enough to refuse it without reading a huge body into memory.
        data: bytes = await file.read(documents.MAX_BYTES + 1)  # type: ignore[attr-defined]
        filename = str(getattr(file, "filename", "") or "")

        async def txn(session: AsyncSession) -> attachments.Attachment:
            key = key_of(case_id, "AmlCase", field="caseId")
            await scope.require_case(session, ctx.actor, key)
            return await attachments.add(session, ctx.settings, default_store(ctx.settings), ctx.actor, key,
                                         filename=filename, data=data, description=description)

        return await _run(info, txn, lambda a: AmlCaseAttachmentPayload(attachment=AmlCaseAttachment.of(a)),
                          lambda e: AmlCaseAttachmentPayload(errors=e))

    @declares_errors("INVALID_ID", "NOT_FOUND")
    @strawberry.mutation(permission_classes=[Requires(READ)],
                         description="A link (GET, about 60 s, this session only) that shows one case file; issuing "
                                     "and every opening are audited.")
    async def aml_case_attachment_link(self, info: Ctx, attachment_id: AnyId) -> DocumentViewLinkPayload:
        ctx = info.context

        async def txn(session: AsyncSession) -> document_links.IssuedLink:
            key = key_of(attachment_id, "AmlCaseAttachment", field="attachmentId")
            await scope.require_attachment(session, ctx.actor, key, NotFound("attachment not found",
                                                                             field="attachmentId"))
            return await attachments.issue_link(session, ctx.settings, ctx.actor, key)

        return await _run(info, txn, lambda issued: DocumentViewLinkPayload(link=DocumentViewLink(
            url=issued.url, expires_at=dt.datetime.fromtimestamp(issued.expires_at, dt.UTC))),
            lambda e: DocumentViewLinkPayload(errors=e))
