"""Development-only demo data: trading-server simulators registered as servers, and demo users.

Idempotent: a restart on the same data folder reuses everything. Credentials are generated once
and kept in the data folder (never in the repository).
"""

from __future__ import annotations

import secrets
from pathlib import Path

import orjson

from domain.identity import roles
from domain.identity.models import User
from domain.identity.sessions import create_user
from domain.shared.actor import system_actor
from domain.shared.db import create_engine, create_session_factory
from domain.shared.settings import Settings
from sandbox.launcher import SimulatorProcess, register_dev_servers

DEMO_USERS = (("admin@demo.example.com", "administrator"), ("client@demo.example.com", None))


def credentials_path(data_dir: Path) -> Path:
    return data_dir / "demo-credentials.json"


def _credentials(data_dir: Path) -> dict[str, str]:
    path = credentials_path(data_dir)
    if path.exists():
        stored: dict[str, str] = orjson.loads(path.read_bytes())
        return stored
    creds = {email: f"demo {secrets.token_urlsafe(9)} pass" for email, _ in DEMO_USERS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(orjson.dumps(creds, option=orjson.OPT_INDENT_2))
    return creds


async def ensure_demo_data(settings: Settings, database_url: str, simulators: list[SimulatorProcess]) -> dict[str, str]:
    """Register the simulators and create the demo users; returns email -> password."""
    from sqlalchemy import select

    creds = _credentials(settings.data_dir)
    engine = create_engine(database_url, settings, pool_size=2)
    factory = create_session_factory(engine)
    try:
        if simulators:
            await register_dev_servers(factory, simulators, settings)
        actor = system_actor("demo-data")
        async with factory() as session, session.begin():
            for email, role in DEMO_USERS:
                if await session.scalar(select(User.id).where(User.email_normalized == email)) is not None:
                    continue
                user = await create_user(session, settings, actor, email=email, password=creds[email],
                                         display_name="Demo " + ("Admin" if role else "Client"),
                                         is_staff=role is not None, is_client=role is None)
                if role:
                    await roles.assign(session, actor, user.id, role)
    finally:
        await engine.dispose()
    return creds
