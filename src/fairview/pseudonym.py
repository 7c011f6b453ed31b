"""The only viewer key fairview stores: HMAC(pepper, user_ref) (ARCHITECTURE §4)."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymiser:
    def __init__(self, pepper: str) -> None:
        self._pepper = pepper.encode()

    def viewer_key(self, user_ref: str) -> str:
        """A stable 64-hex-digit pseudonym; the raw reference is never kept."""
        return hmac.new(self._pepper, user_ref.encode(), hashlib.sha256).hexdigest()
