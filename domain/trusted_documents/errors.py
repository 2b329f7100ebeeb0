from __future__ import annotations

from domain.shared.errors import DomainError


class DocumentHashMismatch(DomainError):
    """A manifest entry whose key is not the SHA-256 of its body."""

    code = "DOCUMENT_HASH_MISMATCH"


class DocumentInvalid(DomainError):
    """A body that is not a GraphQL document, or a manifest that is not {hash: body}."""

    code = "DOCUMENT_INVALID"


class DocumentNotFound(DomainError):
    code = "DOCUMENT_NOT_FOUND"
