"""The attention model: its features, calibration, prior, persistence and commands."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import joblib
import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from fairview.attention.verdict import Verdict
from fairview.domain import BillingModel, DeliveryRecord
from fairview.serve.model import (
    FEATURE_NAMES,
    NO_TOPIC,
    AttentionModel,
    Features,
    Target,
    content_topic,
    target_for,
    train,
)
from fairview.serve.model_cli import app
from fairview.storage import Store
from fairview.storage.history import History, HistoryRow
from fairview.storage.settlement import DueDelivery

from factories import T0, campaign

ALLOWED = {
    "creative_duration_s",
    "placement",
    "content_topic",
    "device_class",
    "hour",
    "cohort",
    "campaign_focus_rate",
}
NEVER = ("viewer", "user", "device_id", "ip", "region", "face", "gaze", "emotion", "heart", "bio")


def _rows(n: int, seed: int = 1, campaigns: int = 4) -> list[HistoryRow]:
    """Short (1.5 s) creatives are focused views with P 0.8, long (20 s) ones with P 0.3."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        short = bool(rng.random() < 0.5)
        focused = bool(rng.random() < (0.8 if short else 0.3))
        rows.append(
            HistoryRow(
                f"d{i}", f"c{i % campaigns}", BillingModel.CPFV, 10, 1.5 if short else 20.0,
                "feed", ("Sports > Soccer",), "mobile", T0 + i * 1000, None,
                focused, focused and not short,
            )
        )  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def model() -> AttentionModel:
    return train(_rows(4000))


def _features(model: AttentionModel, duration_ms: int, campaign_id: str = "c0") -> Features:
    return model.features(
        campaign_id=campaign_id,
        creative_duration_ms=duration_ms,
        placement="feed",
        topics=("483",),
        device_class="mobile",
        cohort=None,
        now_ms=T0,
    )


def test_features_are_the_allowlist_and_nothing_personal() -> None:
    assert set(FEATURE_NAMES) == ALLOWED
    history_fields = {f.name for f in dataclasses.fields(HistoryRow)}
    for name in set(FEATURE_NAMES) | history_fields:
        assert not any(word in name for word in NEVER), name


def test_content_topic_is_tier1_and_never_sensitive() -> None:
    assert content_topic(["Sports > Soccer"]) == "483"
    assert content_topic(["483"]) == "483"
    assert content_topic(["Politics", "Sports"]) == "483"
    assert content_topic(["386"]) == NO_TOPIC  # Politics: special-category context
    assert content_topic([]) == NO_TOPIC


def test_target_follows_billing_model() -> None:
    assert target_for(BillingModel.CPFV) is Target.FOCUSED_VIEW
    assert target_for(BillingModel.CPM_VIEWABLE) is Target.VIEWABLE


def test_calibrated_on_a_known_probability(model: AttentionModel) -> None:
    p = model.predict([_features(model, 1500), _features(model, 20_000)], Target.FOCUSED_VIEW)
    assert p[0] == pytest.approx(0.8, abs=0.06)
    assert p[1] == pytest.approx(0.3, abs=0.06)
    report = model.reports[Target.FOCUSED_VIEW]
    assert report.auc is not None and report.auc > 0.7
    assert report.n_fit + report.n_calibration + report.n_test == 4000
    for b in report.calibration:
        if b.n >= 100:
            assert b.mean_predicted == pytest.approx(b.observed, abs=0.08)


def test_viewable_head_learns_its_own_rule(model: AttentionModel) -> None:
    p = model.predict([_features(model, 1500)], Target.VIEWABLE)
    assert p[0] < 0.05


def test_unseen_campaign_gets_the_prior(model: AttentionModel) -> None:
    new = _features(model, 20_000, campaign_id="never-seen")
    assert new.campaign_focus_rate == pytest.approx(model.rates.prior_mean)
    assert 0.5 < model.rates.prior_mean < 0.6
    assert model.predict([new], Target.FOCUSED_VIEW)[0] == pytest.approx(0.3, abs=0.08)


def test_save_load_round_trip(model: AttentionModel, tmp_path: Path) -> None:
    path = tmp_path / "m" / "model.joblib"
    model.save(path)
    loaded = AttentionModel.load(path)
    batch = [_features(model, d) for d in (1500, 4000, 9000, 20_000)]
    np.testing.assert_array_equal(
        loaded.predict(batch, Target.FOCUSED_VIEW), model.predict(batch, Target.FOCUSED_VIEW)
    )
    assert loaded.reports == model.reports


def test_load_refuses_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "other.joblib"
    joblib.dump({"weights": [1, 2]}, path)
    with pytest.raises(ValueError, match="not a fairview attention model"):
        AttentionModel.load(path)


def test_train_refuses_tiny_history() -> None:
    with pytest.raises(ValueError, match="at least 50"):
        train(_rows(10))


def test_predict_empty_batch(model: AttentionModel) -> None:
    assert model.predict([], Target.FOCUSED_VIEW).shape == (0,)


def _settled_store(store: Store, n: int) -> None:
    """`n` deliveries of two creatives, settled with the real storage."""
    rng = np.random.default_rng(3)
    camp, creative = campaign(store, duration_ms=20_000)
    short = store.catalog.add_creative(camp.id, dataclasses.replace(_spec(), duration_ms=1500), T0)
    due, verdicts = [], []
    for i in range(n):
        cr = short if i % 2 else creative
        why = {"content_topics": ["Sports > Soccer"], "personalised": False, "cohort": None}
        d = DeliveryRecord(
            f"dl_{i}", camp.id, cr.id, "feed", None, "EU-DE", "mobile", "contextual",
            cr.duration_ms, T0 + i * 1000, why,
        )  # fmt: skip
        store.deliveries.record(d)
        focused = bool(rng.random() < (0.8 if i % 2 else 0.3))
        due.append(
            DueDelivery(d.id, camp.id, BillingModel.CPFV, cr.duration_ms, d.issued_ms, False)
        )
        verdicts.append(_verdict(d.id, focused))
    store.settlement.post(list(zip(due, verdicts, strict=True)), T0 + 2 * 86_400_000)


def _spec() -> object:
    from fairview.storage.catalog import CreativeSpec

    return CreativeSpec("short", 1500, "https://cdn.example/b.mp4")


def _verdict(delivery: str, focused: bool) -> Verdict:
    return Verdict(
        delivery, focused, "watch" if focused else None, 6.0 if focused else None,
        6.0 if focused else 1.0, 0.0, "viewable", False, None,
    )  # fmt: skip


def test_history_reads_settled_rows(sqlite_store: Store) -> None:
    _settled_store(sqlite_store, 60)
    rows = History(sqlite_store.engine).settled()
    assert len(rows) == 60
    assert rows[0].content_topics == ("Sports > Soccer",)
    assert {r.creative_duration_s for r in rows} == {1.5, 20.0}
    assert all(r.cohort is None and r.viewable for r in rows)


def test_cli_train_then_report(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settled_store(sqlite_store, 400)
    monkeypatch.setenv("FAIRVIEW_DATABASE_URL", str(sqlite_store.engine.url))
    path = tmp_path / "attention-model.joblib"
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--path", str(path), "--json"])
    assert trained.exit_code == 0, trained.output
    assert path.is_file()
    shown = runner.invoke(app, ["report", "--path", str(path), "--json"])
    assert shown.exit_code == 0, shown.output
    data = orjson.loads(shown.stdout)
    assert set(data) == {"focused_view", "viewable"}
    assert data["focused_view"]["n_test"] == 80
    assert len(data["focused_view"]["calibration"]) == 10
    table = runner.invoke(app, ["report", "--path", str(path)])
    assert table.exit_code == 0 and "AUC" in table.stdout


def test_cli_report_without_a_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--path", str(tmp_path / "none.joblib")])
    assert result.exit_code == 2
