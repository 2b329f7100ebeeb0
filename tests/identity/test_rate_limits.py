"""Guessing limits (issue 15, item 4): failures count, successes do not; one attacker is slowed down
without locking the owner out; stepUp is limited per user and per session; forwarded headers are
believed only from configured proxies.

Different client addresses are real: the test binds its sockets to 127.0.0.2, 127.0.0.3 ... (all of
127/8 is loopback on Linux), so the server sees a different peer, not a header."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from domain.identity import ratelimit
from domain.shared.errors import RateLimited
from tests.conftest import GraphQLClient, LiveServer, serve
from tests.identity.helpers import code_at, enrol_totp, login, register

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { accessToken errors { code retryAfterSeconds } } }"""
STEP_UP = "mutation($c: String!) { stepUp(code: $c) { ok errors { code retryAfterSeconds } } }"


def _peer() -> str:
    """A loopback address of its own, so tests (and runs: Redis outlives them) do not share an IP."""
    return f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"


@pytest.fixture
async def client_from() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(base_url: str, ip: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=base_url, timeout=10,
                                   transport=httpx.AsyncHTTPTransport(local_address=ip))
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.aclose()


async def _audited_ips(session_factory: Any, email: str) -> list[str]:
    async with session_factory() as s:
        rows = await s.scalars(text(
            "SELECT a.ip FROM audit_events a JOIN users u ON u.id = a.actor_user_id "
            "WHERE u.email = :e AND a.action = 'auth.login_failed' ORDER BY a.id"), {"e": email})
        return [str(r) for r in rows]


async def test_successes_do_not_count_and_the_attacker_does_not_lock_out_the_owner(
        live_server: LiveServer, client_from: Any, session_factory: Any) -> None:
    owner_ip, attacker_ip = _peer(), _peer()
    owner = GraphQLClient(client_from(live_server.base_url, owner_ip))
    attacker = GraphQLClient(client_from(live_server.base_url, attacker_ip))
    reg = await register(owner)
    free = live_server.settings.login_attempts_per_account

    # The owner signing in many times is never limited: successes are not attempts to guess.
    for _ in range(free + 5):
        assert (await login(owner, reg["email"]))["accessToken"]

    # The attacker's guesses: answered until the free budget is spent, then slowed down, with a retry-after.
    guess = {"i": {"email": reg["email"], "password": "wrong guess number x"}}
    codes = [(await attacker(LOGIN, guess))["data"]["login"]["errors"][0] for _ in range(free + 3)]
    assert [c["code"] for c in codes[:free + 1]] == ["INVALID_CREDENTIALS"] * (free + 1)
    slowed = codes[free + 1]
    assert slowed["code"] == "RATE_LIMITED" and slowed["retryAfterSeconds"] >= 1
    # ... even with the right password, from the attacker's address.
    assert (await login(attacker, reg["email"]))["errors"][0]["code"] == "RATE_LIMITED"

    # The owner, from their own address, signs in as before.
    assert (await login(owner, reg["email"]))["accessToken"]
    assert set(await _audited_ips(session_factory, reg["email"])) == {attacker_ip}


async def test_slowdown_grows_and_ends(live_server: LiveServer, client_from: Any) -> None:
    """Past the free failures each further one is heard only after a delay that doubles."""
    assert live_server.settings.redis_url
    redis = Redis.from_url(live_server.settings.redis_url)
    subject = f"someone-{secrets.token_hex(4)}"
    try:
        for _ in range(3):
            await ratelimit.reserve(redis, "forexcrm-test", "test", subject, free=3, window_s=60)
        await ratelimit.reserve(redis, "forexcrm-test", "test", subject, free=3, window_s=60)  # 4th: heard, then 1 s delay
        with pytest.raises(RateLimited) as first:
            await ratelimit.reserve(redis, "forexcrm-test", "test", subject, free=3, window_s=60)
        assert first.value.retry_after_s == 1
        await redis.delete(ratelimit._failure_keys("forexcrm-test", "test", subject)[1])  # the delay passes
        await ratelimit.reserve(redis, "forexcrm-test", "test", subject, free=3, window_s=60)  # 5th: heard, then 2 s
        with pytest.raises(RateLimited) as second:
            await ratelimit.reserve(redis, "forexcrm-test", "test", subject, free=3, window_s=60)
        assert second.value.retry_after_s == 2
        await ratelimit.forgive(redis, "forexcrm-test", "test", subject)
        assert await ratelimit.reserve(redis, "forexcrm-test", "test", subject, free=3, window_s=60) == 1
    finally:
        await ratelimit.forgive(redis, "forexcrm-test", "test", subject)
        await redis.aclose()


async def test_deployments_sharing_a_redis_keep_their_own_budgets(live_server: LiveServer) -> None:
    """One deployment slowed down (here: another namespace) leaves the next one's budget whole."""
    assert live_server.settings.redis_url
    redis = Redis.from_url(live_server.settings.redis_url)
    subject, other = f"ip-{secrets.token_hex(4)}", f"other-{secrets.token_hex(4)}"
    try:
        await ratelimit.reserve(redis, other, "login:ip", subject, free=0, window_s=60)  # heard, then slowed
        with pytest.raises(RateLimited):
            await ratelimit.reserve(redis, other, "login:ip", subject, free=0, window_s=60)
        assert await ratelimit.reserve(redis, "forexcrm-test", "login:ip", subject, free=0, window_s=60) == 1
    finally:
        for namespace in (other, "forexcrm-test"):
            await ratelimit.forgive(redis, namespace, "login:ip", subject)
        await redis.aclose()


async def test_step_up_cannot_be_brute_forced(live_server: LiveServer, http: httpx.AsyncClient,
                                              session_factory: Any) -> None:
    anon = GraphQLClient(http)
    reg = await register(anon)
    client = GraphQLClient(http, reg["accessToken"])
    secret, _ = await enrol_totp(client)
    free = live_server.settings.totp_attempts_free
    stepped = "SELECT max(stepped_up_at)::text FROM auth_sessions WHERE user_id = :u"
    uid = int(reg["viewer"]["id"])
    async with session_factory() as s:
        stepped_before = await s.scalar(text(stepped), {"u": uid})
    wrong = "000000" if code_at(secret, 0) != "000000" else "111111"
    answers = [(await client(STEP_UP, {"c": wrong}))["data"]["stepUp"] for _ in range(free + 3)]
    assert [a["errors"][0]["code"] for a in answers[:free + 1]] == ["TOTP_INVALID"] * (free + 1)
    limited = answers[free + 1]
    assert not limited["ok"] and limited["errors"][0]["code"] == "RATE_LIMITED"
    assert limited["errors"][0]["retryAfterSeconds"] >= 1
    # The right code is not heard while slowed down either, and the session is not stepped up.
    right = (await client(STEP_UP, {"c": code_at(secret, 0)}))["data"]["stepUp"]
    assert right["errors"][0]["code"] == "RATE_LIMITED"
    async with session_factory() as s:
        assert await s.scalar(text(stepped), {"u": uid}) == stepped_before
    # Another session of the same user meets the per-user limit too (a new sign-in is no way around it).
    fresh = await login(anon, reg["email"], code=code_at(secret, 1))
    assert fresh["errors"][0]["code"] == "RATE_LIMITED"


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(live_server: LiveServer, client_from: Any,
                                                               session_factory: Any) -> None:
    # 127.0.0.1: the address uvicorn's own proxy-header handling trusted by default (any local
    # process, or every client behind a proxy on the same host, could pick its address).
    ip = "127.0.0.1"
    anon = GraphQLClient(client_from(live_server.base_url, ip))
    reg = await register(anon)
    spoofed = await anon.http.post("/graphql", headers={"X-Forwarded-For": "203.0.113.77"}, json={
        "query": "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }",
        "variables": {"i": {"email": reg["email"], "password": "not it at all, no"}}})
    assert spoofed.json()["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert await _audited_ips(session_factory, reg["email"]) == [ip]


async def test_forwarded_for_from_a_configured_proxy_is_believed(live_server: LiveServer, client_from: Any,
                                                                 session_factory: Any) -> None:
    proxy_ip = _peer()
    settings = live_server.settings.model_copy(update={"trusted_proxies": [f"{proxy_ip}/32"]})
    async with serve(settings) as behind_proxy:
        proxy = client_from(behind_proxy.base_url, proxy_ip)
        reg = await register(GraphQLClient(proxy))
        r = await proxy.post("/graphql", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.78"}, json={
            "query": "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }",
            "variables": {"i": {"email": reg["email"], "password": "not it at all, no"}}})
        assert r.json()["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
        # The nearest address the proxy did not add itself; anyone else's header is still ignored.
        other_ip = _peer()
        other = client_from(behind_proxy.base_url, other_ip)
        await other.post("/graphql", headers={"X-Forwarded-For": "203.0.113.79"}, json={
            "query": "mutation($i: LoginInput!) { login(input: $i) { errors { code } } }",
            "variables": {"i": {"email": reg["email"], "password": "not it at all, no"}}})
    assert await _audited_ips(session_factory, reg["email"]) == ["203.0.113.78", other_ip]


async def test_a_refused_attempt_costs_no_other_budget(live_server: LiveServer) -> None:
    assert live_server.settings.redis_url
    redis = Redis.from_url(live_server.settings.redis_url)
    wide, narrow = f"wide-{secrets.token_hex(4)}", f"narrow-{secrets.token_hex(4)}"
    try:
        await ratelimit.reserve_all(redis, "forexcrm-test", [("test", wide, 100), ("test", narrow, 0)], window_s=60)  # heard
        for _ in range(3):
            with pytest.raises(RateLimited):  # the narrow subject is slowed down
                await ratelimit.reserve_all(redis, "forexcrm-test", [("test", wide, 100), ("test", narrow, 0)], window_s=60)
        assert int(await redis.get(ratelimit._failure_keys("forexcrm-test", "test", wide)[0]) or 0) == 1
    finally:
        for subject in (wide, narrow):
            await ratelimit.forgive(redis, "forexcrm-test", "test", subject)
        await redis.aclose()
