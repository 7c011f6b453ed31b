"""The records of processing, and the registry rules export, erasure and retention run on."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fairview.cli import app
from fairview.registry import (
    REGISTRY,
    RETAINED,
    RETENTION,
    Erasure,
    Link,
    retention_days,
    tables,
)
from fairview.rights.mirrors import MIRROR_FIELDS
from fairview.rights.ropa import TO_FILL, markdown, records
from fairview.storage.schema import Base

PRIVACY_DOC = Path(__file__).parents[1] / "docs" / "privacy.md"
BEGIN, END = "<!-- ropa:begin -->\n", "<!-- ropa:end -->"


def _columns(table: str) -> set[str]:
    return {c.name for c in Base.metadata.tables[table].columns}


def test_the_ropa_command_prints_markdown_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIRVIEW_RETENTION_DAYS", '{"raw_events": 14}')
    runner = CliRunner()
    md = runner.invoke(app, ["ropa"])
    assert md.exit_code == 0, md.output
    assert md.output.startswith("### Records of processing activities (GDPR Art. 30(1))")
    assert "| `raw_events` | 14 | 35 |" in md.output and TO_FILL in md.output
    js = runner.invoke(app, ["ropa", "--format", "json", "--controller", "Example Video AB"])
    found = orjson.loads(js.output)
    assert found["controller"] == "Example Video AB"
    assert len(found["processing"]) == len(REGISTRY)
    events = next(a for a in found["processing"] if a["table"] == "events")
    assert (events["retention_days"], events["on_erasure"], events["found_by"]) == (
        14,
        "delete",
        "delivery_id",
    )


def test_the_privacy_page_embeds_the_current_records() -> None:
    text = PRIVACY_DOC.read_text(encoding="utf-8")
    embedded = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert embedded == markdown(records(retention_days())), (
        "docs/privacy.md is out of date: regenerate its records of processing with "
        "`fairview ropa` (see the comment above them)"
    )


def test_the_registry_groups_into_consistent_tables() -> None:
    rules = tables()  # raises on entries of one table that disagree
    assert {r.table for r in rules} == {e.table for e in REGISTRY}


@pytest.mark.parametrize("column", [link.value for link in Link])
def test_every_table_that_can_reach_a_viewer_is_declared_with_its_link(column: str) -> None:
    """A new table with a viewer_key, delivery_id or subject column needs a registry entry."""
    linked = {r.table: r.link for r in tables()}
    holders = {t.name for t in Base.metadata.tables.values() if column in t.columns}
    holders -= {"deliveries"} if column == Link.DELIVERY.value else set()  # its own id
    missing = [t for t in sorted(holders) if t not in linked]
    assert missing == [], f"tables with `{column}` but no registry entry"
    if column == Link.VIEWER.value:
        assert all(linked[t] is Link.VIEWER for t in holders)


def test_every_rule_names_real_columns_and_periods() -> None:
    for rules in tables():
        columns = _columns(rules.table)
        assert rules.link.value in columns, rules.table
        assert rules.clock is None or rules.clock in columns, rules.table
        assert (rules.period is None) == (rules.clock is None), rules.table
        assert rules.period is None or rules.period in RETENTION, rules.table
        assert rules.json_columns <= columns, rules.table
        if rules.mirror is not None:
            assert set(MIRROR_FIELDS[rules.mirror]) <= columns
    for kept in RETAINED:
        assert kept.period in RETENTION and kept.table in Base.metadata.tables
    used = {r.period for r in tables()} | {r.period for r in RETAINED}
    assert set(RETENTION) <= used, "a retention category nothing uses"


def test_what_erasure_keeps_or_does_not_export_says_why() -> None:
    for entry in REGISTRY:
        if entry.erasure is Erasure.KEEP:
            assert entry.kept_because, entry
        if not entry.exported:
            assert entry.not_exported_because, entry


def test_what_erasure_clears_can_be_cleared() -> None:
    for rules in tables():
        for name in rules.cleared:
            column = Base.metadata.tables[rules.table].c[name]
            assert column.nullable or column.server_default is not None, (rules.table, name)


def test_erasure_removes_every_viewer_key_it_does_not_keep() -> None:
    """The pseudonym column of every table is deleted or cleared, unless kept with a reason."""
    for rules in tables():
        if "viewer_key" in _columns(rules.table):
            entry = next(e for e in rules.entries if "viewer_key" in e.columns)
            assert entry.erasure is not Erasure.KEEP or entry.table == "objections"
