"""Emails leave through a real SMTP client to a real SMTP server on loopback."""

from __future__ import annotations

import asyncio

from domain.shared.settings import Settings
from jobs.notifications import send_email
from tests.smtp import smtp_server


async def test_email_job_delivers_over_smtp() -> None:
    with smtp_server() as (inbox, port):
        settings = Settings(smtp_url=f"smtp://127.0.0.1:{port}", mail_from="crm@broker.example")
        await send_email({"settings": settings}, 1, "email.send",
                         {"to": "client@example.com", "subject": "Hello", "body": "Line one\nhttps://x/?token=abc"})
        for _ in range(50):
            if inbox.messages:
                break
            await asyncio.sleep(0.05)
        [message] = inbox.to("client@example.com")
        assert message["Subject"] == "Hello" and message["From"] == "crm@broker.example"
        assert "token=abc" in message.get_payload()
