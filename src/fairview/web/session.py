"""Signed-in sessions for the advertiser console and the staff pages, and CSRF tokens.

The one cookie fairview sets (`fv_session`, strictly necessary): HttpOnly,
SameSite=Strict, Secure outside dev/demo/test, path `/`, 8 hours. Its value is
`<payload>.<HMAC-SHA256>` with a key derived from the token-signing key; the payload
names the realm (`advertiser` or `staff`), the account, the public prefix of the
key that signed in, an expiry and, for the DPO, the stated purpose. The key itself
is never in the cookie. Every request checks that the key is still active, so
revoking a key ends its sessions at once.

Forms of signed-in pages carry a CSRF token bound to the session (`csrf_token`),
checked on every POST besides SameSite=Strict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import orjson
from fastapi import Request, Response

from fairview.accountability.roles import BOOTSTRAP_OPERATOR, Role, StaffMember
from fairview.api.deps import Services
from fairview.domain import AdvertiserRecord
from fairview.errors import FairviewError
from fairview.settings import Environment

COOKIE = "fv_session"
SESSION_S = 8 * 3600
Realm = Literal["advertiser", "staff"]


class SignInRequired(FairviewError):
    """No valid session for a signed-in page: answered with a redirect to its sign-in."""

    def __init__(self, sign_in: str, next_path: str) -> None:
        super().__init__("sign_in_required", "Sign in to see this page.", status=303)
        self.location = f"{sign_in}?next={quote(next_path, safe='/')}"


@dataclass(frozen=True)
class Session:
    realm: Realm
    subject: str
    """The advertiser id, or the staff key's prefix ("bootstrap" for the admin key)."""
    key_prefix: str
    expires_s: int
    purpose: str = ""
    nonce: str = ""


def _key(services: Services) -> bytes:
    """Derived from the token-signing key and the admin key: changing either ends sessions."""
    root = services.settings.token_signing_key.get_secret_value().encode()
    admin = hashlib.sha256(services.settings.admin_api_key.get_secret_value().encode()).digest()
    return hmac.new(root, b"fairview web session v1" + admin, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(services: Services, session: Session) -> str:
    payload = _b64(orjson.dumps(session.__dict__))
    mac = hmac.new(_key(services), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def decode(services: Services, value: str | None) -> Session | None:
    """The session in a cookie value, or None when it is missing, forged or expired."""
    if not value or value.count(".") != 1:
        return None
    payload, mac = value.split(".")
    expected = hmac.new(_key(services), payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        fields: dict[str, Any] = orjson.loads(_unb64(payload))
        session = Session(**fields)
    except (ValueError, TypeError):
        return None
    if session.expires_s < services.clock.now_ms() // 1000:
        return None
    return session


def start(
    services: Services,
    response: Response,
    realm: Realm,
    subject: str,
    key_prefix: str,
    purpose: str = "",
) -> Session:
    """Set the session cookie on `response` (a new nonce, so a new CSRF token)."""
    session = Session(
        realm,
        subject,
        key_prefix,
        services.clock.now_ms() // 1000 + SESSION_S,
        purpose,
        secrets.token_urlsafe(12),
    )
    secure = services.settings.env not in (Environment.DEV, Environment.DEMO, Environment.TEST)
    response.set_cookie(
        COOKIE,
        encode(services, session),
        max_age=SESSION_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return session


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def csrf_token(services: Services, session: Session) -> str:
    mac = hmac.new(_key(services), f"csrf:{session.nonce}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def check_csrf(services: Services, session: Session, sent: object) -> None:
    expected = csrf_token(services, session).encode()
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected):
        raise FairviewError(
            "csrf_failed",
            "This form has expired or did not come from this site. Reload the page and "
            "submit it again.",
            status=403,
        )


def _current(request: Request, realm: Realm, sign_in: str) -> Session:
    services: Services = request.app.state.services
    session = decode(services, request.cookies.get(COOKIE))
    if session is None or session.realm != realm:
        raise SignInRequired(sign_in, request.url.path)
    return session


def advertiser(
    request: Request, sign_in: str = "/console/sign-in"
) -> tuple[AdvertiserRecord, Session]:
    """The signed-in advertiser, while the key it signed in with is still active."""
    services: Services = request.app.state.services
    session = _current(request, "advertiser", sign_in)
    record = services.store.catalog.get_advertiser(session.subject)
    active = {
        p for p, _, revoked in services.store.catalog.keys(session.subject) if revoked is None
    }
    if record is None or session.key_prefix not in active:
        raise SignInRequired(sign_in, request.url.path)
    return record, session


def staff(request: Request, sign_in: str = "/audit/sign-in") -> tuple[StaffMember, Session]:
    """The signed-in staff member, while the staff key is still active."""
    services: Services = request.app.state.services
    session = _current(request, "staff", sign_in)
    if session.key_prefix == BOOTSTRAP_OPERATOR.key_prefix:
        return BOOTSTRAP_OPERATOR, session
    record = services.store.staff.get(session.key_prefix)
    if record is None or record.revoked_ms is not None:
        raise SignInRequired(sign_in, request.url.path)
    return StaffMember(Role(record.role), record.prefix, record.name), session


def safe_next(value: object, default: str) -> str:
    """A redirect target after sign-in: a local path only (never another site)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return default
