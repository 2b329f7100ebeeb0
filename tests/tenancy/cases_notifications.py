"""Cross-tenant cases for push devices (imported by cases.py): only their owner lists or removes them."""

from __future__ import annotations

from sqlalchemy import text

from tests.tenancy.cases import Env, Probe, case


@case("Mutation.removeMyDevice")
async def remove_device(env: Env) -> Probe:
    import uuid

    from schema.node import global_id

    token = f"secret-push-token-{uuid.uuid4().hex}"
    async with env.session_factory() as s, s.begin():
        device = int(await s.scalar(text("INSERT INTO push_devices (user_id, platform, token) VALUES "
                                         "(:u, 'android', :t) RETURNING id"), {"u": env.owner_id, "t": token}))
    return Probe("mutation($i: ID!) { removeMyDevice(id: $i) { removed errors { code } } }",
                 {"i": str(global_id("Device", device))}, secrets=[token[-12:]])


@case("Mutation.markNotificationRead")
async def mark_notification_read(env: Env) -> Probe:
    message = "secret-notification-text"
    async with env.session_factory() as s, s.begin():
        nid = int(await s.scalar(text("INSERT INTO notifications (user_id, kind, message) VALUES "
                                      "(:u, 'payments.deposit_credited', :m) RETURNING id"),
                                 {"u": env.owner_id, "m": message}))
    from schema.node import global_id

    return Probe("mutation($i: ID!) { markNotificationRead(id: $i) { notification { message } unreadCount "
                 "errors { code } } }", {"i": str(global_id("Notification", nid))}, secrets=[message])
