"""MT5 Web API challenge-response hashes (manager authentication).

password_hash = MD5(MD5(password as UTF-16LE) + b"WebAPI")
srv_rand_answer = MD5(password_hash + srv_rand bytes)  -- proves we know the password
cli_rand_answer = MD5(password_hash + cli_rand bytes)  -- proves the server knows it too
"""

from __future__ import annotations

import hashlib
import hmac


def password_hash(password: str) -> bytes:
    inner = hashlib.md5(password.encode("utf-16-le"), usedforsecurity=False).digest()
    return hashlib.md5(inner + b"WebAPI", usedforsecurity=False).digest()


def rand_answer(pw_hash: bytes, rand_hex: str) -> str:
    return hashlib.md5(pw_hash + bytes.fromhex(rand_hex), usedforsecurity=False).hexdigest()


def answers_match(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.lower(), received.lower())
