"""Short-lived access tokens: ES256 JWTs (joserfc) with key ids, several keys accepted for rotation.

Claims are always validated: issuer, audience, expiry, and the algorithm is pinned (so `alg: none`
or an HMAC token forged with the public key is refused).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from domain.identity.errors import TokenExpired, TokenInvalid
from domain.shared.settings import Settings

ALGORITHM = "ES256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: int
    expires_at: int
    issued_at: int


def _derived_key(secret: str) -> ECKey:
    """A P-256 key derived from the secret key: development only, identical in every process."""
    material = HKDF(algorithm=SHA256(), length=32, salt=b"forexcrm-jwt", info=b"es256-signing").derive(secret.encode())
    order = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
    private = ec.derive_private_key(int.from_bytes(material, "big") % (order - 1) + 1, ec.SECP256R1())
    kid = "derived-" + hashlib.sha256(material).hexdigest()[:8]
    return ECKey.import_key(private, parameters={"kid": kid})


@lru_cache(maxsize=4)
def _keyset(jwks_json: str | None, secret: str) -> tuple[KeySet, ECKey]:
    if jwks_json:
        data = orjson.loads(jwks_json)
        keys = [ECKey.import_key(k) for k in data["keys"]]
        if not keys or any(k.kid is None for k in keys):
            raise ValueError("FOREXCRM_JWT_PRIVATE_JWKS needs at least one key, each with a kid")
        return KeySet(list(keys)), keys[0]
    key = _derived_key(secret)
    return KeySet([key]), key


def keys(settings: Settings) -> tuple[KeySet, ECKey]:
    jwks = settings.jwt_private_jwks.get_secret_value() if settings.jwt_private_jwks else None
    return _keyset(jwks, settings.secret_key.get_secret_value())


def issue_access_token(settings: Settings, user_id: int, session_id: int, *, now: float | None = None) -> str:
    key_set, signing = keys(settings)
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": settings.public_base_url, "aud": settings.jwt_audience, "sub": str(user_id), "sid": session_id,
        "iat": issued, "nbf": issued - 5, "exp": issued + settings.access_token_ttl_s, "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": ALGORITHM, "kid": signing.kid, "typ": "JWT"}, claims, key_set)


# Tokens whose signature and claims were verified, by (key set, token): a client sends the same
# access token with every request, and the ES256 check plus claim parsing is a large share of a
# small request's CPU. A hit still re-checks expiry; revocation is the session row's business.
_VERIFIED: OrderedDict[tuple[str, str], AccessClaims] = OrderedDict()
VERIFIED_CACHE_SIZE = 10_000


def verify_access_token(settings: Settings, token: str) -> AccessClaims:
    key_set, signing = keys(settings)
    cache_key = (str(signing.kid), token)  # another signing key (rotation, other settings) misses
    cached = _VERIFIED.get(cache_key)
    if cached is not None:
        if cached.expires_at <= time.time():
            raise TokenExpired("the access token has expired; refresh it")
        _VERIFIED.move_to_end(cache_key)
        return cached
    claims = _verify(key_set, settings, token)
    _VERIFIED[cache_key] = claims
    if len(_VERIFIED) > VERIFIED_CACHE_SIZE:
        _VERIFIED.popitem(last=False)
    return claims


def _verify(key_set: KeySet, settings: Settings, token: str) -> AccessClaims:
    try:
        decoded = jwt.decode(token, key_set, algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenInvalid("the access token is not valid") from exc
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.public_base_url},
        aud={"essential": True, "value": settings.jwt_audience},
        exp={"essential": True}, sub={"essential": True}, sid={"essential": True},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        if exc.__class__.__name__ == "ExpiredTokenError":
            raise TokenExpired("the access token has expired; refresh it") from exc
        raise TokenInvalid("the access token is not valid") from exc
    claims = decoded.claims
    try:
        return AccessClaims(int(claims["sub"]), int(claims["sid"]), int(claims["exp"]), int(claims["iat"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid("the access token is not valid") from exc
