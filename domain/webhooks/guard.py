"""The SSRF guard: webhooks go to public addresses only (unless `webhook_private_networks_allowed`).

The URL's host is resolved and every address checked at registration, and again at connect time by the
HTTP client's network backend, which connects to the very address it checked (a DNS answer that changes
between the check and the connection cannot point the request into the broker's network)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
import httpx

from domain.shared.settings import Settings
from domain.webhooks.errors import WebhookUrlRefused

MAX_URL = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not ip.is_private and not ip.is_loopback \
        and not ip.is_link_local and not ip.is_reserved and not ip.is_unspecified


def parse_url(url: str) -> tuple[str, int]:
    """(host, port) of an acceptable webhook URL, or WebhookUrlRefused."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise WebhookUrlRefused(f"the URL must be 1 to {MAX_URL} characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused(f"not a valid URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("the URL must be http(s)://host/...", field="url")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused("the URL must not carry credentials", field="url")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def checked_addresses(settings: Settings, host: str, port: int) -> list[IPAddress]:
    """The host's addresses, all public (or anything when private networks are allowed)."""
    addresses = await resolve(host, port)
    if not addresses:
        raise WebhookUrlRefused(f"{host} does not resolve", field="url")
    if not settings.webhook_private_networks_allowed:
        refused = [a for a in addresses if not public(a)]
        if refused:
            hint = "" if settings.is_production else (
                "; a developer's own receiver: set FOREXCRM_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true and restart")
            raise WebhookUrlRefused(f"{host} resolves to a non-public address ({refused[0]}){hint}", field="url")
    return addresses


async def check_url(settings: Settings, url: str) -> str:
    host, port = parse_url(url)
    await checked_addresses(settings, host, port)
    return url.strip()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to the checked address (the TLS handshake still names the host)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await checked_addresses(self.settings, host, port)
        except WebhookUrlRefused as exc:
            raise httpcore.ConnectError(f"refused by the SSRF guard: {exc}") from None
        return await self.inner.connect_tcp(str(addresses[0]), port, timeout=timeout, local_address=local_address,
                                            socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(settings: Settings, *, max_connections: int = 100) -> httpx.AsyncClient:
    """The client deliveries use: guarded connects, connect and total timeouts, no proxies from the environment,
    no redirects followed."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    transport._pool = httpcore.AsyncConnectionPool(  # the guard sits under httpx's own pool
        ssl_context=httpx.create_ssl_context(), max_connections=max_connections,
        max_keepalive_connections=max_connections, keepalive_expiry=30.0, network_backend=GuardedBackend(settings))
    timeout = httpx.Timeout(settings.webhook_timeout_s, connect=settings.webhook_connect_timeout_s)
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False, follow_redirects=False)
