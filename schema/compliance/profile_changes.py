"""A client's audited profile changes opened for compliance (domain/compliance/profile_changes.py).

A mutation, as documentViewLink: reading personal data sealed in the audit trail is itself audited."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from domain.compliance import profile_changes
from schema.clients.ids import client_key
from schema.context import Context
from schema.errors import UserError, declares_errors, payload_or_errors
from schema.node import AnyId
from schema.permissions import Requires

Ctx = Info[Context, Any]


@strawberry.type(description="One field of the client's identity data a profile change changed.")
class ProfileFieldChange:
    field: str = strawberry.field(description="Its path: first_name, profile.address.city, "
                                              "profile.tax_residencies (a list changes as a whole), ...")
    before: JSON | None = strawberry.field(description="The value before; null when it was not set.")
    after: JSON | None = strawberry.field(description="The value after; null when it was removed.")


@strawberry.type(description="An audited change of a client's profile, opened: who, when, and what changed.")
class ClientProfileChange:
    audit_event_id: strawberry.ID = strawberry.field(description="The audit event's database id.")
    occurred_at: dt.datetime
    actor_kind: str = strawberry.field(description="client (the client themselves), staff or system.")
    actor_user_id: strawberry.ID | None = strawberry.field(description="The user who made it (a database id).")
    actor_name: str | None = strawberry.field(description="Their display name.")
    fields: list[ProfileFieldChange]

    @classmethod
    def of(cls, c: profile_changes.ProfileChange) -> ClientProfileChange:
        return cls(audit_event_id=strawberry.ID(str(c.event_id)), occurred_at=c.occurred_at, actor_kind=c.actor_kind,
                   actor_user_id=strawberry.ID(str(c.actor_user_id)) if c.actor_user_id is not None else None,
                   actor_name=c.actor_name,
                   fields=[ProfileFieldChange(field=f.field, before=cast(JSON, f.before), after=cast(JSON, f.after))
                           for f in c.fields])


@strawberry.type
class ClientProfileChangesPayload:
    changes: list[ClientProfileChange] | None = None
    has_more: bool = strawberry.field(default=False, description="Older changes exist beyond `first`.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProfileChangeMutations:
    @declares_errors("INVALID_ID", "NOT_FOUND", "CLIENT_DATA_ERASED", "VALIDATION_FAILED")
    @strawberry.mutation(permission_classes=[Requires("compliance.read")],
                         description="A client's profile changes newest first (first: 1 to 200), opened from the "
                                     "audit trail where they are sealed under the client's key: who, when, each "
                                     "changed field before and after. The opening is audited. CLIENT_DATA_ERASED "
                                     "once the client's personal data was crypto-shredded; NOT_FOUND for a client "
                                     "you may not see (desk scoping).")
    async def open_client_profile_changes(self, info: Ctx, client_id: AnyId,
                                          first: int = 50) -> ClientProfileChangesPayload:
        ctx = info.context

        async def work() -> ClientProfileChangesPayload:
            key = client_key(client_id, "clientId")

            async def txn(session: AsyncSession) -> ClientProfileChangesPayload:
                found, more = await profile_changes.unseal_profile_changes(session, ctx.settings, ctx.actor, key,
                                                                           first=first)
                return ClientProfileChangesPayload(changes=[ClientProfileChange.of(c) for c in found], has_more=more)

            return await ctx.transaction(txn)

        return await payload_or_errors(work, lambda e: ClientProfileChangesPayload(errors=e))
