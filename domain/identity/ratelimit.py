"""Rate limits in Redis.

Two kinds:

* `hit`: a fixed window counting every request (API tokens, reset e-mails).
* `reserve` / `forgive` / `refund`: guesses of a secret (passwords, TOTP codes). Each attempt is
  reserved atomically *before* it is evaluated, so aliases, batching or parallel requests cannot
  multiply the guesses; a success then takes its reservation back, so only failures count and a
  known account cannot be locked out by signing in to it. Past `free` failures every further one
  is answered, and then the subject is slowed down: refused for an exponentially growing delay
  (1 s, 2 s, 4 s ... up to `max_delay_s`), never locked for good. Subjects are narrow on purpose
  (account *and* IP, one session) so one attacker's failures slow that attacker, not the owner.
"""

from __future__ import annotations

import hashlib
import math

from redis.asyncio import Redis

from domain.shared.errors import RateLimited

# KEYS: failures counter, delay lock. ARGV: window (s), free failures, base delay (ms), max delay (ms).
# Returns the failure count (this attempt included), or minus the lock's remaining milliseconds when
# the subject is being slowed down (the attempt is refused and not counted).
_RESERVE = """
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return -left end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local free = tonumber(ARGV[2])
if n > free then
  local delay = math.min(tonumber(ARGV[3]) * 2 ^ math.min(n - free - 1, 40), tonumber(ARGV[4]))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(delay))
end
return n
"""

# A success: one reservation back, never below zero (the counter is shared by other accounts).
_REFUND = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return n
"""


def _digest(subject: str) -> str:
    return hashlib.sha256(subject.lower().encode()).hexdigest()[:32]


def _key(namespace: str, scope: str, subject: str, window_s: int, now_s: int) -> str:
    return f"{namespace}:rl:{scope}:{_digest(subject)}:{now_s // window_s}"


def _failure_keys(namespace: str, scope: str, subject: str) -> list[str]:
    base = f"{namespace}:rlf:{scope}:{_digest(subject)}"
    return [base, base + ":slow"]


def too_many(retry_after_s: int) -> RateLimited:
    return RateLimited(f"too many attempts; try again in {retry_after_s} seconds", retry_after_s=retry_after_s)


async def hit(redis: Redis, namespace: str, scope: str, subject: str, *, limit: int, window_s: int, now_s: int) -> int:
    """Count one request; raises RateLimited once the window's limit is exceeded."""
    key = _key(namespace, scope, subject, window_s, now_s)
    pipe = redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window_s + 5)
    count, _ = await pipe.execute()
    if int(count) > limit:
        raise too_many(window_s - now_s % window_s)
    return int(count)


async def reserve(redis: Redis, namespace: str, scope: str, subject: str, *, free: int, window_s: int,
                  base_delay_s: float = 1.0, max_delay_s: float | None = None) -> int:
    """Reserve one guess for `subject`; raises RateLimited (with retry-after) while it is slowed down.

    Failures are forgotten `window_s` after the last one; the delay never exceeds `max_delay_s`
    (default: the window)."""
    cap = window_s if max_delay_s is None else max_delay_s
    result = int(await redis.eval(_RESERVE, 2, *_failure_keys(namespace, scope, subject), str(window_s), str(free),
                                  str(int(base_delay_s * 1000)), str(int(cap * 1000))))  # type: ignore[misc]
    if result < 0:
        raise too_many(max(1, math.ceil(-result / 1000)))
    return result


async def reserve_all(redis: Redis, namespace: str, subjects: list[tuple[str, str, int]], *, window_s: int) -> None:
    """Reserve one guess against each (scope, subject, free), or none: when one refuses, those
    already reserved are taken back, so a refused attempt costs no other budget."""
    reserved: list[tuple[str, str]] = []
    try:
        for scope, subject, free in subjects:
            await reserve(redis, namespace, scope, subject, free=free, window_s=window_s)
            reserved.append((scope, subject))
    except RateLimited:
        for scope, subject in reserved:
            await refund(redis, namespace, scope, subject)
        raise


async def forgive(redis: Redis, namespace: str, scope: str, subject: str) -> None:
    """The subject proved the secret: its failures and delay are forgotten."""
    await redis.delete(*_failure_keys(namespace, scope, subject))


async def refund(redis: Redis, namespace: str, scope: str, subject: str) -> None:
    """Take back one reservation of a shared subject (an IP) after a success."""
    await redis.eval(_REFUND, 1, _failure_keys(namespace, scope, subject)[0])  # type: ignore[misc]
