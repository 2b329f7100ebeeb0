"""Process-wide services the API, the schema and the workers share (pools, not connections)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from domain.events.hub import EventHub
from domain.identity.principal_cache import PrincipalCache
from domain.shared.db import SessionFactory
from domain.shared.group_commit import GroupCommit
from domain.shared.replica import ReadReplica
from domain.shared.settings import Settings
from domain.trusted_documents.lookup import DocumentLookup


@dataclass(frozen=True)
class AppServices:
    """Process-wide services shared by all requests (pools, not connections)."""

    settings: Settings
    session_factory: SessionFactory
    redis: Redis
    hub: EventHub
    group_commit: GroupCommit  # mutations' transactions, committed together under load
    trusted_documents: DocumentLookup  # documents sent by hash (api/graphql_view.py)
    principals: PrincipalCache | None = None  # sessions' principals between requests (API processes)
    replica: ReadReplica | None = None  # heavy reads' streaming replica (FOREXCRM_READ_REPLICA_URL)
