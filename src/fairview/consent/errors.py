"""The one error a TC string or a TC model can raise."""

from __future__ import annotations


class TCStringError(ValueError):
    """A TC string or model the codec refuses.

    ``code`` is stable and machine-readable (``bad_base64``, ``policy_version_too_old``…);
    ``detail`` is a sentence a person can act on. Never carries the input string,
    which is personal data.
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}
