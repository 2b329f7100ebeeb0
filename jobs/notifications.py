"""Outbound messages relayed from the outbox: emails (SMTP, or the log sink in development) and
user notifications (already live over subscriptions; emailed when they are security alerts)."""

from __future__ import annotations

import secrets
import time
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import orjson
import structlog
from arq import cron
from sqlalchemy import select

from domain.identity.models import User
from domain.notifications import delivery
from domain.notifications.push import providers
from domain.notifications.push.port import PushPort
from domain.shared.settings import Settings
from infra.logging import mask_email
from infra.metrics import JOBS

log = structlog.get_logger(__name__)


async def deliver_email(settings: Settings, *, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if not settings.smtp_url:
        # The body carries single-use links (password reset, verification): it never reaches a log.
        if settings.mail_disabled or settings.is_production:
            log.info("email.dropped", reason="mail disabled", to=mask_email(to), subject=subject)
        else:
            log.info("email.log_sink", to=mask_email(to), subject=subject, file=_to_dev_mailbox(settings, message),
                     note="not delivered: set FOREXCRM_SMTP_URL to send email")
        return
    url = urlsplit(settings.smtp_url)
    await aiosmtplib.send(
        message, hostname=url.hostname or "localhost", port=url.port or (465 if url.scheme == "smtps" else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=url.scheme == "smtps", start_tls=True if url.scheme == "smtp+starttls" else None, timeout=20,
    )


def _to_dev_mailbox(settings: Settings, message: EmailMessage) -> str:
    """Development only: the message as an .eml file under <data_dir>/mail (owner-only), so a developer
    can follow a link without the link ever being logged."""
    folder = settings.data_dir / "mail"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.eml"
    path.touch(mode=0o600)
    path.write_bytes(bytes(message))
    return str(path)


async def send_email(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> None:
    """arq job; at-least-once: the SMTP server may see a duplicate after a crash, never a loss."""
    settings: Settings = ctx["settings"]
    await deliver_email(settings, to=str(payload["to"]), subject=str(payload["subject"]), body=str(payload["body"]))
    JOBS.labels("send_email", "ok").inc()


async def deliver_notification(ctx: dict[str, Any], event_id: int, topic: str, payload: dict[str, Any]) -> None:
    """Push to the user's devices (one job per device); security notifications are also emailed."""
    queue = ctx["settings"].queue_name
    for delivery_id in await delivery.plan(ctx["session_factory"], event_id, int(payload["user_id"]),
                                           str(payload["kind"])):
        await ctx["redis"].enqueue_job("send_push", delivery_id, _push_fields(payload), _queue_name=queue,
                                       _job_id=f"push:{queue}:{delivery_id}:1")
    if not str(payload.get("kind", "")).startswith("security."):
        return
    async with ctx["session_factory"]() as session:
        email = await session.scalar(select(User.email).where(User.id == int(payload["user_id"])))
    if email:
        await deliver_email(ctx["settings"], to=email, subject="Security notice", body=str(payload["message"]))
    JOBS.labels("deliver_notification", "ok").inc()


def _push_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """What a push may carry: the notification's own kind, text and details (the user's own data)."""
    return {k: payload[k] for k in ("kind", "message", "details", "notification_id") if k in payload}


def _ports(ctx: dict[str, Any]) -> dict[str, PushPort]:
    found = ctx.get("push_ports")
    if found is None:
        found = ctx["push_ports"] = providers.configured(ctx["settings"])
    return dict(found)


async def send_push(ctx: dict[str, Any], delivery_id: int, notification: dict[str, Any]) -> str:
    """arq job: one delivery to one device; a 429/5xx answer schedules the next attempt after the backoff."""
    settings: Settings = ctx["settings"]
    attempt = await delivery.send(ctx["session_factory"], settings, _ports(ctx), delivery_id, notification)
    if attempt.retry_in_s is not None:
        await ctx["redis"].enqueue_job("send_push", delivery_id, notification, _queue_name=settings.queue_name,
                                       _defer_by=attempt.retry_in_s,
                                       _job_id=f"push:{settings.queue_name}:{delivery_id}:{time.time_ns()}")
    JOBS.labels("send_push", attempt.status or "claimed_elsewhere").inc()
    return attempt.status


async def push_sweep(ctx: dict[str, Any]) -> int:
    """Deliveries whose job was lost are enqueued again (the deferred job is a convenience, the sweep the
    guarantee); the claim in `delivery.send` keeps a duplicate job from sending twice."""
    settings: Settings = ctx["settings"]
    found = await delivery.due(ctx["session_factory"], settings)
    for delivery_id, payload in found:
        fields = _push_fields(orjson.loads(payload) if isinstance(payload, str) else payload)
        await ctx["redis"].enqueue_job("send_push", delivery_id, fields, _queue_name=settings.queue_name,
                                       _job_id=f"push:{settings.queue_name}:{delivery_id}:sweep:{int(time.time())}")
    return len(found)


def cron_jobs(settings: Settings) -> list[Any]:
    return [cron(push_sweep, second={15}, unique=True)]


FUNCTIONS = [send_email, deliver_notification, send_push, push_sweep]
