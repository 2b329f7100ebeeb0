"""Trading platforms by name (`trading_servers.platform`): each adapter package under
domain/platforms/ registers itself when imported (`register(...)` in its `__init__`), so adding a
platform is adding one package. An unknown name is a typed error (TRADING_UNKNOWN_PLATFORM)."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.platforms.errors import UnknownPlatform
from domain.platforms.port import TradingPlatform


@dataclass(frozen=True)
class Connection:
    """How to reach one configured server (the manager credentials, decrypted)."""

    base_url: str
    manager_login: int
    password: str = field(repr=False)


class PlatformKind(Protocol):
    name: str

    def connect(self, connection: Connection, **options: Any) -> TradingPlatform:
        """An adapter for one server (safe to share between coroutines)."""
        ...

    async def verify(self, connection: Connection, *, timeout_s: float) -> None:
        """Sign in once; raise PlatformAuthFailed / PlatformUnavailable / PlatformProtocolError."""
        ...


_KINDS: dict[str, PlatformKind] = {}
_loaded = False


def register(kind: PlatformKind) -> None:
    _KINDS[kind.name] = kind


def _load() -> None:
    global _loaded
    if _loaded:
        return
    import domain.platforms as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.ispkg:
            importlib.import_module(f"{package.__name__}.{info.name}")
    _loaded = True


def names() -> list[str]:
    _load()
    return sorted(_KINDS)


def platform_kind(name: str, *, field: str | None = "platform") -> PlatformKind:
    _load()
    kind = _KINDS.get(name)
    if kind is None:
        raise UnknownPlatform(f"unknown trading platform {name!r}: one of {', '.join(sorted(_KINDS))}", field=field)
    return kind
