"""Email checks beyond syntax (disposable providers), and system emails that are also recorded
in the client's communication history."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from domain.clients.errors import DisposableEmail
from domain.clients.models import Client, Communication
from domain.identity.emails import normalise
from domain.identity.links import send_email

# A short list of the commonest throw-away providers; a feed can replace it without code changes.
DISPOSABLE_DOMAINS = frozenset({
    "mailinator.com", "guerrillamail.com", "guerrillamail.net", "sharklasers.com", "10minutemail.com",
    "tempmail.com", "temp-mail.org", "yopmail.com", "trashmail.com", "getnada.com", "throwawaymail.com",
    "maildrop.cc", "dispostable.com", "fakeinbox.com", "mintemail.com", "emailondeck.com", "mohmal.com",
    "tempail.com", "burnermail.io", "mailnesia.com",
})


def check_email(email: str, field: str = "email") -> tuple[str, str]:
    """(cleaned, normalised key); refuses malformed and disposable addresses."""
    cleaned, key = normalise(email, field=field)
    domain = key.rsplit("@", 1)[1]
    if domain in DISPOSABLE_DOMAINS or any(domain.endswith("." + d) for d in DISPOSABLE_DOMAINS):
        raise DisposableEmail("disposable email addresses are not accepted", field=field)
    return cleaned, key


async def email_client(session: AsyncSession, client: Client, *, to: str, subject: str, body: str,
                       record_body: str | None = None) -> None:
    """Queue the email through the outbox and log it in the client's communications.

    `record_body` replaces the body in the log when the email carries a secret (a verification link).
    """
    await send_email(session, to=to, subject=subject, body=body, user_id=client.user_id)
    session.add(Communication(client_id=client.id, kind="email", direction="out", subject=subject[:200],
                              body=record_body if record_body is not None else body, author_user_id=None))
