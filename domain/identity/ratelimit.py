"""Fixed-window rate limits in Redis, per account and per IP.

Every attempt counts (success or not), so aliases, batching or parallel requests cannot multiply
the number of guesses: the counter is incremented atomically before the attempt is evaluated.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from domain.shared.errors import RateLimited


def _key(scope: str, subject: str, window_s: int, now_s: int) -> str:
    digest = hashlib.sha256(subject.lower().encode()).hexdigest()[:32]
    return f"forexcrm:rl:{scope}:{digest}:{now_s // window_s}"


async def hit(redis: Redis, scope: str, subject: str, *, limit: int, window_s: int, now_s: int) -> int:
    """Count one attempt; raises RateLimited once the window's limit is exceeded."""
    key = _key(scope, subject, window_s, now_s)
    pipe = redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_s + 5)
    count, _ = await pipe.execute()
    if int(count) > limit:
        retry_in = window_s - now_s % window_s
        raise RateLimited(f"too many attempts; try again in {retry_in} seconds")
    return int(count)
