"""Argon2id password hashing off the event loop, rehash on parameter change, and the policy."""

from __future__ import annotations

import asyncio
import contextlib
import re
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.identity.errors import WeakPassword
from domain.shared.settings import Settings

MAX_LENGTH = 256

# The most common passwords from public breach corpora (a short list; the patterns below catch
# the variations). Compared case-insensitively, ignoring trailing digits and symbols.
COMMON = frozenset((
    "password", "passw0rd", "qwerty", "qwertyuiop", "letmein", "welcome", "admin", "administrator", "iloveyou",
    "monkey", "dragon", "football", "baseball", "master", "sunshine", "princess", "shadow", "superman",
    "michael", "trustno1", "abc123", "starwars", "whatever", "freedom", "ninja", "mustang", "access", "batman",
    "login", "hello", "charlie", "donald", "secret", "forex", "trading", "changeme", "default", "summer",
    "winter", "spring", "autumn", "pokemon", "computer", "internet", "mypassword",
))
_SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm")


@lru_cache(maxsize=8)
def hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)


def _hasher(settings: Settings) -> PasswordHasher:
    return hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


def check_policy(password: str, settings: Settings, *, email: str | None = None) -> None:
    """Length and breached-pattern policy; raises WeakPassword with the reason."""
    if len(password) < settings.password_min_length:
        raise WeakPassword(f"use at least {settings.password_min_length} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"use at most {MAX_LENGTH} characters", field="password")
    lowered = password.lower()
    core = re.sub(r"[\d\W_]+$", "", lowered)
    if core in COMMON or lowered in COMMON:
        raise WeakPassword("this password appears in breach lists; choose another", field="password")
    if len(set(lowered)) <= 3:
        raise WeakPassword("too few different characters", field="password")
    if any(lowered in seq or lowered in seq[::-1] for seq in _SEQUENCES):
        raise WeakPassword("a keyboard or alphabet sequence is easy to guess", field="password")
    if email:
        local = email.split("@", 1)[0].lower()
        if len(local) >= 4 and local in lowered:
            raise WeakPassword("the password must not contain your email address", field="password")


async def hash_password(password: str, settings: Settings) -> str:
    return await asyncio.to_thread(_hasher(settings).hash, password)


# Verified against when the account does not exist, so unknown and known emails take equal time.
_DUMMY: dict[tuple[int, int, int], str] = {}


async def verify_password(stored: str | None, password: str, settings: Settings) -> tuple[bool, bool]:
    """(matches, needs_rehash). A missing hash still costs one Argon2 verification."""
    h = _hasher(settings)
    if stored is None:
        key = (settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
        if key not in _DUMMY:
            _DUMMY[key] = await asyncio.to_thread(h.hash, "dummy-password-for-timing")
        stored, password = _DUMMY[key], "not-the-password"
        target = stored

        def _dummy() -> None:
            with contextlib.suppress(VerificationError):
                h.verify(target, password)

        await asyncio.to_thread(_dummy)
        return False, False

    def _verify() -> tuple[bool, bool]:
        try:
            h.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, h.check_needs_rehash(stored)

    return await asyncio.to_thread(_verify)
