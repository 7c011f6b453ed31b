"""Server-signed delivery tokens: the only way an event can be tied to a delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

import jwt
import orjson

from fairview.errors import FairviewError

_ALGORITHM = "HS256"


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HEADER = _b64(b'{"alg":"HS256","typ":"JWT"}')


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
        self._mac = hmac.new(key.encode(), digestmod=hashlib.sha256)

    def sign(self, claims: DeliveryClaims) -> str:
        """A standard HS256 JWS (any JWT library verifies it), built directly: one is
        signed per ad served, and PyJWT's general path costs several times as much."""
        payload = orjson.dumps(
            {
                "d": claims.delivery,
                "c": claims.campaign,
                "cr": claims.creative,
                "dur": claims.duration_ms,
                "ims": claims.issued_ms,
                "m": claims.mode,
            }
        )
        signing_input = _HEADER + b"." + _b64(payload)
        mac = self._mac.copy()
        mac.update(signing_input)
        return (signing_input + b"." + _b64(mac.digest())).decode("ascii")

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


class ViewerTokens:
    """Viewer tokens the platform signs (HS256 JWT: `sub` = its user reference, `exp`).

    They authorise a viewer's own requests ("why this ad", later export and erasure);
    fairview verifies them and keeps nothing of them.
    """

    def __init__(self, key: str) -> None:
        self._key = key

    def sign(self, user_ref: str, expires_ms: int) -> str:
        """For the platform's integration tests and the demo; platforms sign their own."""
        return jwt.encode({"sub": user_ref, "exp": expires_ms // 1000}, self._key, _ALGORITHM)

    def user_ref(self, token: str | None, now_ms: int) -> str:
        if not token:
            raise FairviewError(
                "missing_viewer_token",
                "Send the viewer token the platform issued, as 'Authorization: Bearer <token>'.",
                status=401,
            )
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["sub", "exp"], "verify_exp": False},
            )
        except jwt.PyJWTError:
            raise FairviewError(
                "invalid_viewer_token",
                "The viewer token is not signed by this platform's key or is malformed; "
                "ask the platform for a new one.",
                status=401,
            ) from None
        if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("exp"), int):
            raise FairviewError(
                "invalid_viewer_token",
                "The viewer token needs a text 'sub' and a numeric 'exp'.",
                status=401,
            )
        if claims["exp"] * 1000 <= now_ms:
            raise FairviewError(
                "expired_viewer_token",
                "The viewer token has expired; ask the platform for a new one.",
                status=401,
            )
        return str(claims["sub"])
