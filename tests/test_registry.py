"""Every stored column is classified: personal data with purpose and basis, or not personal."""

from __future__ import annotations

from fairview.registry import NOT_PERSONAL, REGISTRY, classified_columns
from fairview.storage.schema import Base


def _schema_columns() -> set[tuple[str, str]]:
    return {(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns}


def test_every_column_is_classified() -> None:
    assert _schema_columns() - classified_columns() == set()


def test_registry_names_only_real_columns() -> None:
    assert classified_columns() - _schema_columns() == set()


def test_no_column_is_both_personal_and_not() -> None:
    personal = {(p.table, c) for p in REGISTRY for c in p.columns}
    other = {(t, c) for t, cols in NOT_PERSONAL.items() for c in cols}
    assert personal & other == set()


def test_every_entry_states_purpose_basis_and_retention() -> None:
    for entry in REGISTRY:
        assert entry.purpose and entry.legal_basis.startswith("GDPR Art. 6") and entry.retention


def test_no_raw_identifier_columns() -> None:
    forbidden = ("ip", "user_agent", "user_ref", "email", "ifa", "idfa", "gaid", "latlong")
    assert [c for _, c in _schema_columns() if c in forbidden] == []
