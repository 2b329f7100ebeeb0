"""A delivery whose job was lost is found by the sweep (with its notification from the outbox) and enqueued again;
fresh, sent or dead ones are not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from domain.identity.sessions import notify
from domain.notifications import delivery
from domain.shared.settings import Settings
from tests.notifications.test_devices import _fcm


async def test_sweep_finds_lost_deliveries(session_factory: Any, settings: Settings) -> None:
    async with session_factory() as s, s.begin():
        uid = int(await s.scalar(text("INSERT INTO users (email, email_normalized, is_client) VALUES "
                                      "(:e, :e, true) RETURNING id"), {"e": f"sweep-{id(s)}@example.com"}))
        for n in (20, 21, 22):
            await s.execute(text("INSERT INTO push_devices (user_id, platform, token) VALUES (:u, 'android', :t)"),
                            {"u": uid, "t": _fcm(n) + str(uid)})
        await notify(s, uid, "payment.deposit_credited", "credited", reference="R-1", amount="1.00", currency="USD")
        event_id = int(await s.scalar(text("SELECT max(id) FROM outbox WHERE payload->>'user_id' = :u"),
                                      {"u": str(uid)}))
    planned = await delivery.plan(session_factory, event_id, uid, "payment.deposit_credited")
    assert len(planned) == 3
    assert not {d for d, _ in await delivery.due(session_factory, settings)} & set(planned)  # just planned
    lost, sent, stuck = planned
    async with session_factory() as s, s.begin():
        await s.execute(text("UPDATE push_deliveries SET updated_at = now() - interval '2 minutes' WHERE id = :i"),
                        {"i": lost})
        await s.execute(text("UPDATE push_deliveries SET status = 'sent', updated_at = now() - interval '1 day' "
                             "WHERE id = :i"), {"i": sent})
        await s.execute(text("UPDATE push_deliveries SET status = 'sending', updated_at = now() - interval '1 hour' "
                             "WHERE id = :i"), {"i": stuck})
    found = dict(await delivery.due(session_factory, settings))
    assert set(found) & set(planned) == {lost, stuck}
    payload = found[lost]
    assert (payload if isinstance(payload, dict) else __import__("orjson").loads(payload))["kind"] == \
        "payment.deposit_credited"
