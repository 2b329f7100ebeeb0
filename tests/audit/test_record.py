from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from domain.audit import service
from domain.audit.chain import partition_for
from domain.audit.diff import REDACTED, changed_fields
from domain.audit.errors import InvalidAuditEvent
from domain.audit.models import AuditEvent
from domain.audit.retention import add_years, relationship_retention
from domain.audit.verify import verify
from domain.shared.actor import Actor, ActorKind
from tests.audit.conftest import STAFF


async def _count(session_factory: Any) -> int:
    async with session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


async def test_record_stores_actor_diff_and_retention(session_factory: Any) -> None:
    actor = Actor(ActorKind.API_TOKEN, user_id=3, ip="198.51.100.1", user_agent="curl/8", correlation_id="c-9",
                  token_id=44)
    async with session_factory() as session, session.begin():
        event_id = await service.record(
            session, actor, action="client.leverage_changed", entity_type="trading_account", entity_id=1001,
            before={"leverage": 100, "group": "real", "balance": Decimal("10.50")},
            after={"leverage": 500, "group": "real", "balance": Decimal("10.5")},
            reason="client request", category="leverage_change",
        )
    async with session_factory() as session:
        row = await session.get(AuditEvent, event_id)
    assert row is not None
    assert (row.actor_kind, row.actor_user_id, row.api_token_id, row.ip, row.user_agent, row.correlation_id) == (
        "api_token", 3, 44, "198.51.100.1", "curl/8", "c-9")
    assert (row.action, row.entity_type, row.entity_id, row.category, row.reason) == (
        "client.leverage_changed", "trading_account", "1001", "leverage_change", "client request")
    # Only the changed field; equal decimals with different scale are not a change.
    assert row.before == {"leverage": 100} and row.after == {"leverage": 500}
    assert row.occurred_at.microsecond % 1000 == 0
    assert row.retain_until == add_years(row.occurred_at.date(), 7)
    assert row.partition == partition_for("c-9") and row.seq == 1


async def test_rolled_back_transaction_leaves_no_audit_row(session_factory: Any) -> None:
    with pytest.raises(RuntimeError):
        async with session_factory() as session, session.begin():
            await session.execute(text("INSERT INTO announcements (title, body, severity, posted_by) "
                                       "VALUES ('t', 'b', 'info', 'x')"))
            await service.record(session, STAFF, action="announcement.posted", entity_type="announcement",
                                 entity_id=1, after={"title": "t"})
            raise RuntimeError("the mutation failed after auditing")
    assert await _count(session_factory) == 0
    async with session_factory() as session:
        assert (await verify(session)).ok  # the head did not move either


def test_diff_keeps_changed_fields_and_redacts_secrets() -> None:
    before = {"email": "a@x.io", "password_hash": "old", "name": "A", "api_token": "t1",
              "settings": {"totp_secret": "s", "theme": "dark"}, "recovery_codes": ["1"]}
    after = {"email": "b@x.io", "password_hash": "new", "name": "A", "api_token": "t1",
             "settings": {"totp_secret": "s2", "theme": "dark"}, "recovery_codes": ["1"], "SecretAnswer": "x"}
    old, new = changed_fields(before, after)
    assert old == {"email": "a@x.io", "password_hash": REDACTED, "settings": {"totp_secret": REDACTED, "theme": "dark"}}
    assert new == {"email": "b@x.io", "password_hash": REDACTED, "settings": {"totp_secret": REDACTED, "theme": "dark"},
                   "SecretAnswer": REDACTED}


def test_creation_keeps_all_fields_redacted_and_normalised() -> None:
    old, new = changed_fields(None, {"amount": Decimal("1.10"), "code_hash": b"x", "on": date(2024, 2, 29),
                                     "rate": 1.5})
    assert old is None
    assert new == {"amount": "1.10", "code_hash": REDACTED, "on": "2024-02-29", "rate": "1.5"}


async def test_retention_takes_the_later_of_category_and_relationship(session_factory: Any) -> None:
    far = relationship_retention(date(2040, 6, 30))
    async with session_factory() as session, session.begin():
        late = await service.record(session, STAFF, action="client.closed", entity_type="client", entity_id=1,
                                    retain_until=far)
        early = await service.record(session, STAFF, action="client.closed", entity_type="client", entity_id=2,
                                     retain_until=date(2000, 1, 1))
    async with session_factory() as session:
        late_row, early_row = await session.get(AuditEvent, late), await session.get(AuditEvent, early)
    assert late_row is not None and early_row is not None
    assert late_row.retain_until == date(2045, 6, 30)
    assert early_row.retain_until == add_years(early_row.occurred_at.date(), 7)


async def test_invalid_event_is_refused_and_writes_nothing(session_factory: Any) -> None:
    with pytest.raises(InvalidAuditEvent) as err:
        async with session_factory() as session, session.begin():
            await service.record(session, STAFF, action="Not An Action", entity_type="thing", entity_id=1)
    assert err.value.code == "INVALID_AUDIT_EVENT" and err.value.field == "action"
    assert await _count(session_factory) == 0


async def test_posting_an_announcement_is_audited(session_factory: Any) -> None:
    from domain.announcements.service import Severity, post_announcement

    async with session_factory() as session, session.begin():
        row = await post_announcement(session, STAFF, title="Holiday", body="Closed Monday", severity=Severity.INFO)
    async with session_factory() as session:
        events = (await session.execute(select(AuditEvent).where(AuditEvent.entity_id == str(row.id),
                                                                 AuditEvent.entity_type == "announcement"))).scalars()
        (event,) = list(events)
    assert event.action == "announcement.posted" and event.actor_user_id == 7
    assert event.after == {"title": "Holiday", "body": "Closed Monday", "severity": "info"}


async def test_database_links_the_event_as_the_application_verifies_it(session_factory: Any) -> None:
    """The v2 link is computed in SQL (sha256, int8send); Python must derive the same bytes."""
    import asyncpg

    from domain.audit.chain import GENESIS, link_hash, link_hash_v2
    from domain.shared.db import asyncpg_dsn
    from tests.audit.conftest import content_of

    async with session_factory() as session, session.begin():
        first = await service.record(session, STAFF, action="thing.changed", entity_type="thing", entity_id=1,
                                     before={"n": Decimal("1.5")}, after={"n": Decimal("2"), "note": "é\x00"})
        second = await service.record(session, STAFF, action="thing.changed", entity_type="thing", entity_id=2)
        url = str(session.bind.url.render_as_string(hide_password=False))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT * FROM audit_events WHERE id = ANY($1) ORDER BY seq", [first, second])
    finally:
        await conn.close()
    assert rows[0]["partition"] == rows[1]["partition"] and rows[1]["seq"] == rows[0]["seq"] + 1
    for row in rows:
        content = content_of(row)
        assert bytes(row["hash"]) == link_hash_v2(bytes(row["prev_hash"]), content)
        assert bytes(row["hash"]) != link_hash(bytes(row["prev_hash"]), content)
    assert bytes(rows[1]["prev_hash"]) == bytes(rows[0]["hash"])
    assert rows[0]["seq"] > 1 or bytes(rows[0]["prev_hash"]) == GENESIS
