"""Server-signed delivery tokens: the only way an event can be tied to a delivery."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jwt

from fairview.errors import FairviewError

_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class DeliveryClaims:
    """What the token proves: delivery, campaign, creative, duration, issue time, mode."""

    delivery: str
    campaign: str
    creative: str
    duration_ms: int
    issued_ms: int
    mode: str


class TokenSigner:
    """Signs and verifies delivery tokens with an HMAC key.

    Verification checks the signature (cached per token string, as players send the
    same token with every batch) and then the expiry against the caller's clock.
    """

    def __init__(self, key: str, ttl_ms: int) -> None:
        self._key = key
        self._ttl_ms = ttl_ms
        self._decode = lru_cache(maxsize=65536)(self._decode_uncached)

    def sign(self, claims: DeliveryClaims) -> str:
        payload = {
            "d": claims.delivery,
            "c": claims.campaign,
            "cr": claims.creative,
            "dur": claims.duration_ms,
            "ims": claims.issued_ms,
            "m": claims.mode,
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str, now_ms: int) -> DeliveryClaims:
        """The claims of a genuine, unexpired token; raises `invalid_token` otherwise."""
        claims = self._decode(token)
        if claims is None:
            raise FairviewError(
                "invalid_token",
                "The delivery token is not one fairview signed (forged, truncated or for "
                "another deployment); send the token exactly as the decision returned it.",
            )
        if now_ms > claims.issued_ms + self._ttl_ms:
            raise FairviewError(
                "invalid_token",
                "The delivery token has expired: events are accepted until the settlement "
                "window closes. Flush queued events sooner.",
            )
        if now_ms < claims.issued_ms - 60_000:
            raise FairviewError("invalid_token", "The delivery token is not valid yet.")
        return claims

    def _decode_uncached(self, token: str) -> DeliveryClaims | None:
        if not isinstance(token, str) or len(token) > 2048:
            return None
        try:
            p = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["d", "c", "cr", "dur", "ims", "m"]},
            )
            return DeliveryClaims(
                str(p["d"]), str(p["c"]), str(p["cr"]), int(p["dur"]), int(p["ims"]), str(p["m"])
            )
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            return None
