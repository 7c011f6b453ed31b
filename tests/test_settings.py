"""Settings: documented, typed, and refusing placeholder secrets in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fairview.settings import Settings

DOCS = Path(__file__).parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [n for n in Settings.model_fields if f"`FAIRVIEW_{n.upper()}`" not in text]
    assert missing == []
    assert all(f.description for f in Settings.model_fields.values())


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRVIEW_DATABASE_URL", "sqlite:////tmp/x.sqlite3")
    monkeypatch.setenv("FAIRVIEW_SETTLE_WINDOW_S", "60")
    settings = Settings()
    assert settings.database_url == "sqlite:////tmp/x.sqlite3" and settings.settle_window_s == 60


def test_prod_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValidationError, match="FAIRVIEW_TOKEN_SIGNING_KEY"):
        Settings(env="prod")  # type: ignore[arg-type]
    strong = "k" * 40
    with pytest.raises(ValidationError, match="FAIRVIEW_PSEUDONYM_PEPPER"):
        Settings(
            env="prod",
            token_signing_key=strong,
            pseudonym_pepper="change-me",  # type: ignore[arg-type]
            admin_api_key=strong,
        )
    ok = Settings(
        env="prod",
        token_signing_key=strong,
        pseudonym_pepper=strong + "p",  # type: ignore[arg-type]
        admin_api_key=strong + "a",
        viewer_token_key=strong + "v",
    )
    assert ok.env == "prod"
    with pytest.raises(ValidationError, match="FAIRVIEW_VIEWER_TOKEN_KEY"):
        Settings(
            env="prod",
            token_signing_key=strong,
            pseudonym_pepper=strong + "p",  # type: ignore[arg-type]
            admin_api_key=strong + "a",
        )


def test_dev_and_demo_accept_the_development_secrets() -> None:
    assert Settings(env="demo").token_signing_key.get_secret_value()  # type: ignore[arg-type]


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(colour="red")  # type: ignore[call-arg]


def test_sqlite_path() -> None:
    assert Settings(database_url="sqlite:///var/a.sqlite3").sqlite_path() == Path("var/a.sqlite3")
    assert Settings(database_url="sqlite:///:memory:").sqlite_path() is None
    assert Settings(database_url="postgresql+psycopg://h/db").sqlite_path() is None
