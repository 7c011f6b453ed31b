"""The attention model: P(billable event | request) from non-biometric delivery features.

One calibrated logistic regression per target: `focused_view` (what a cpfv
campaign pays for) and `viewable` (what a cpm_viewable campaign pays for).
Two heads rather than one model with the target as a feature, because the two
events follow different rules (§7.3 vs §7.4: a 1.5 s creative is often a
focused view and never viewable) and each head gets its own calibration and
its own held-out report. Logistic regression over one-hot groups (duration bins,
duration bin × device class, hour, …) rather than boosting, because serving then
needs no sklearn call: a candidate costs a few microseconds (see docs/ranking.md).

Features are exactly `FEATURE_NAMES`: the creative, where and when it runs, the
content topic (tier 1, never a sensitive topic), the device class, the interest
cohort only when the delivery was personalised, and the campaign's smoothed
historical focus rate. Never a viewer pseudonym, a device identifier, a region
finer than nothing (region is not used at all), or anything biometric.

Trust boundary: `AttentionModel.load` unpickles (joblib), which can run code.
Load only model files fairview itself wrote; never one received from elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import joblib  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score  # type: ignore[import-untyped]

from fairview.audience.taxonomy import Taxonomy, content_taxonomy
from fairview.domain import BillingModel

_FORMAT = "fairview-attention-model"
_FORMAT_VERSION = 1
NO_TOPIC = "none"
PRIOR_STRENGTH = 20.0
"""Pseudo-deliveries of the Beta prior on a campaign's focus rate."""


class Target(StrEnum):
    FOCUSED_VIEW = "focused_view"
    VIEWABLE = "viewable"


def target_for(model: BillingModel) -> Target:
    """The event a billing model pays for."""
    return Target.FOCUSED_VIEW if model is BillingModel.CPFV else Target.VIEWABLE


@dataclass(frozen=True, slots=True)
class Features:
    """Everything the model sees about one (request, creative) pair."""

    creative_duration_s: float
    placement: str
    content_topic: str  # tier-1 IAB id, or "none" (no topic, or only sensitive ones)
    device_class: str
    hour: int  # 0-23, UTC hour of the server issue time
    cohort: str | None  # only when the delivery was personalised
    campaign_focus_rate: float  # Beta-smoothed; a new campaign gets the prior mean


FEATURE_NAMES = tuple(f.name for f in fields(Features))
_CATEGORICAL = ("placement", "content_topic", "device_class", "cohort")


class Record(Protocol):
    """One settled delivery as training reads it (see `fairview.storage.history`)."""

    @property
    def campaign_id(self) -> str: ...
    @property
    def creative_duration_s(self) -> float: ...
    @property
    def placement(self) -> str: ...
    @property
    def content_topics(self) -> Sequence[str]: ...  # ids or "why" labels
    @property
    def device_class(self) -> str: ...
    @property
    def issued_ms(self) -> int: ...
    @property
    def cohort(self) -> str | None: ...
    @property
    def focused_view(self) -> bool: ...
    @property
    def viewable(self) -> bool: ...


def hour_of(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).hour


def content_topic(topics: Iterable[str], taxonomy: Taxonomy | None = None) -> str:
    """The tier-1 id of the first non-sensitive topic; accepts ids or "A > B" labels."""
    tax = taxonomy or content_taxonomy()
    tier1 = _tier1_by_name(tax)
    for topic in topics:
        lineage = tax.lineage(topic)
        root = lineage[-1] if lineage else tier1.get(topic.split(" > ")[0])
        if root is not None and not tax.is_sensitive(root) and root in tier1.values():
            return root
    return NO_TOPIC


def _tier1_by_name(tax: Taxonomy) -> dict[str, str]:
    return {t.name: t.id for t in tax.topics() if t.parent is None and t.sensitive is None}


@dataclass(frozen=True, slots=True)
class CampaignRates:
    """Focused views and deliveries per campaign, read through a Beta prior."""

    counts: Mapping[str, tuple[int, int]]
    prior_mean: float
    strength: float = PRIOR_STRENGTH

    @classmethod
    def from_records(
        cls, records: Sequence[Record], strength: float = PRIOR_STRENGTH
    ) -> CampaignRates:
        counts: dict[str, tuple[int, int]] = {}
        for r in records:
            hits, n = counts.get(r.campaign_id, (0, 0))
            counts[r.campaign_id] = (hits + int(r.focused_view), n + 1)
        total = sum(n for _, n in counts.values())
        mean = sum(h for h, _ in counts.values()) / total if total else 0.5
        return cls(counts, mean, strength)

    def rate(self, campaign_id: str) -> float:
        """Posterior mean of the campaign's focus rate (the prior mean when unseen)."""
        hits, n = self.counts.get(campaign_id, (0, 0))
        a = self.prior_mean * self.strength
        return (hits + a) / (n + self.strength)


def features_of(r: Record, rates: CampaignRates, *, taxonomy: Taxonomy | None = None) -> Features:
    """The features of a settled delivery, its campaign's rate read from `rates`."""
    return Features(
        creative_duration_s=r.creative_duration_s,
        placement=r.placement,
        content_topic=content_topic(r.content_topics, taxonomy),
        device_class=r.device_class,
        hour=hour_of(r.issued_ms),
        cohort=r.cohort,
        campaign_focus_rate=rates.rate(r.campaign_id),
    )


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    lo: float
    hi: float
    n: int
    mean_predicted: float | None  # None for an empty bin
    observed: float | None


@dataclass(frozen=True, slots=True)
class TargetReport:
    """Held-out quality of one head; `auc` is None when the test split has one class."""

    target: str
    n_fit: int
    n_calibration: int
    n_test: int
    base_rate: float
    auc: float | None
    log_loss: float
    brier: float
    calibration: tuple[CalibrationBin, ...]

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["calibration"] = [
            {f.name: getattr(b, f.name) for f in fields(b)} for b in self.calibration
        ]
        return out


def report(
    y: npt.NDArray[Any], p: npt.NDArray[Any], target: str, sizes: tuple[int, int]
) -> TargetReport:
    """AUC, log loss, Brier and a 10-bin calibration table of predictions `p` for labels `y`."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    bins = []
    edges = np.linspace(0.0, 1.0, 11)
    which = np.minimum((p * 10).astype(int), 9)
    for k in range(10):
        mask = which == k
        n = int(mask.sum())
        mean_p = float(p[mask].mean()) if n else None
        observed = float(y[mask].mean()) if n else None
        bins.append(CalibrationBin(float(edges[k]), float(edges[k + 1]), n, mean_p, observed))
    return TargetReport(
        target=target,
        n_fit=sizes[0],
        n_calibration=sizes[1],
        n_test=len(y),
        base_rate=float(y.mean()) if len(y) else math.nan,
        auc=auc,
        log_loss=float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        brier=float(brier_score_loss(y, p)),
        calibration=tuple(bins),
    )


_DURATION_EDGES = np.array([2.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0])
_N_DURATION = len(_DURATION_EDGES) + 1
_GROUPS = 7  # one-hot groups per row; the last column is logit(campaign_focus_rate)


@dataclass(frozen=True, slots=True)
class _Encoder:
    """The design matrix: one one-hot group per categorical, duration bins, duration bin ×
    device class, hour of day, then logit(campaign_focus_rate). Each categorical keeps
    one extra slot for values unseen in training (and for no cohort): its weight stays 0.
    """

    vocab: Mapping[str, Mapping[str, int]]

    @property
    def width(self) -> int:
        return int(self._offsets()[-1]) + 1

    def _sizes(self) -> tuple[int, ...]:
        n = {name: len(v) + 1 for name, v in self.vocab.items()}
        dev = n["device_class"]
        return (
            _N_DURATION,
            dev,
            _N_DURATION * dev,
            n["placement"],
            n["content_topic"],
            24,
            n["cohort"],
        )

    def _offsets(self) -> npt.NDArray[np.int64]:
        return np.concatenate([[0], np.cumsum(self._sizes())]).astype(np.int64)

    def encode(
        self, rows: Sequence[Features]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(n, 7) active one-hot columns and (n,) logit(rate) values."""
        v = self.vocab
        codes = np.empty((len(rows), 5), dtype=np.int64)
        rate = np.empty(len(rows), dtype=np.float64)
        duration = np.empty(len(rows), dtype=np.float64)
        unknown = {name: len(m) for name, m in v.items()}
        for i, r in enumerate(rows):
            codes[i] = (
                v["device_class"].get(r.device_class, unknown["device_class"]),
                v["placement"].get(r.placement, unknown["placement"]),
                v["content_topic"].get(r.content_topic, unknown["content_topic"]),
                r.hour % 24,
                unknown["cohort"]
                if r.cohort is None
                else v["cohort"].get(r.cohort, unknown["cohort"]),
            )
            duration[i] = r.creative_duration_s
            rate[i] = r.campaign_focus_rate
        dbin = np.searchsorted(_DURATION_EDGES, duration, side="right")
        dev_n = unknown["device_class"] + 1
        local = np.column_stack([dbin, codes[:, 0], dbin * dev_n + codes[:, 0], codes[:, 1:]])
        p = np.clip(rate, 1e-4, 1 - 1e-4)
        return local + self._offsets()[:-1], np.log(p / (1 - p))

    def matrix(self, rows: Sequence[Features]) -> Any:
        """The sparse (CSR) design matrix sklearn fits on."""
        from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

        idx, logit = self.encode(rows)
        n = len(rows)
        indices = np.column_stack([idx, np.full(n, self.width - 1)]).ravel()
        data = np.column_stack([np.ones((n, _GROUPS)), logit]).ravel()
        indptr = np.arange(0, n * (_GROUPS + 1) + 1, _GROUPS + 1)
        return csr_matrix((data, indices, indptr), shape=(n, self.width))


@dataclass(frozen=True, slots=True)
class _Head:
    """A logistic regression's weights and a Platt map fitted on a held-out split.

    Serving reads plain arrays (no sklearn call): a gather, a sum, one sigmoid.
    """

    coef: npt.NDArray[np.float64]
    intercept: float
    scale: float = 1.0  # Platt: p = sigmoid(scale · z + shift)
    shift: float = 0.0

    def logit(self, enc: _Encoder, rows: Sequence[Features]) -> npt.NDArray[np.float64]:
        idx, logit = enc.encode(rows)
        return np.asarray(self.intercept + self.coef[idx].sum(axis=1) + self.coef[-1] * logit)

    def predict(self, enc: _Encoder, rows: Sequence[Features]) -> npt.NDArray[np.float64]:
        z = self.scale * self.logit(enc, rows) + self.shift
        return np.asarray(1 / (1 + np.exp(-z)), dtype=np.float64)


class AttentionModel:
    """Calibrated P(focused view) and P(viewable) for candidate deliveries."""

    def __init__(
        self,
        heads: Mapping[Target, _Head],
        vocab: Mapping[str, Mapping[str, int]],
        rates: CampaignRates,
        reports: Mapping[Target, TargetReport],
    ) -> None:
        self._heads = dict(heads)
        self._encoder = _Encoder({k: dict(v) for k, v in vocab.items()})
        self.rates = rates
        self.reports = dict(reports)

    def features(
        self,
        *,
        campaign_id: str,
        creative_duration_ms: int,
        placement: str,
        topics: Sequence[str],
        device_class: str,
        cohort: str | None,
        now_ms: int,
    ) -> Features:
        """The features of a candidate at serving time; an unseen campaign gets the prior."""
        return Features(
            creative_duration_ms / 1000,
            placement,
            content_topic(topics),
            device_class,
            hour_of(now_ms),
            cohort,
            self.rates.rate(campaign_id),
        )

    def predict(self, batch: Sequence[Features], target: Target) -> npt.NDArray[np.float64]:
        """Calibrated probabilities, one per row, in one vectorised call."""
        if not batch:
            return np.zeros(0)
        return self._heads[target].predict(self._encoder, batch)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"format": _FORMAT, "version": _FORMAT_VERSION, "model": self}, path)

    @classmethod
    def load(cls, path: Path) -> AttentionModel:
        """Read a model file fairview wrote. Unpickling runs code: never load foreign files."""
        data = joblib.load(path)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a fairview attention model")
        if data.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{path} has model format {data.get('version')}, need {_FORMAT_VERSION}"
            )
        model = data["model"]
        if not isinstance(model, cls):
            raise ValueError(f"{path} does not hold an AttentionModel")
        return model


def train(
    records: Sequence[Record], *, seed: int = 0, strength: float = PRIOR_STRENGTH
) -> AttentionModel:
    """Fit both heads on settled deliveries; the latest 20 % (by issue time) is held out.

    Of the earlier 80 %, a random quarter calibrates (Platt) and the rest fits the
    model. Campaign focus rates come from the fit split only, out of fold for its own
    rows (5 folds; leave-one-out would leak each label inversely into its own
    feature); the saved model then reads rates from all records. Refuses fewer than 50 records.
    """
    if len(records) < 50:
        raise ValueError(f"need at least 50 settled deliveries to train, got {len(records)}")
    ordered = sorted(records, key=lambda r: r.issued_ms)
    cut = int(len(ordered) * 0.8)
    earlier, test = ordered[:cut], ordered[cut:]
    rng = np.random.default_rng(seed)
    is_cal = rng.random(len(earlier)) < 0.25
    fit = [r for r, c in zip(earlier, is_cal, strict=True) if not c]
    cal = [r for r, c in zip(earlier, is_cal, strict=True) if c]
    fit_rates = CampaignRates.from_records(fit, strength)
    tax = content_taxonomy()
    rows = {
        "fit": _out_of_fold(fit, rng, strength, tax),
        "cal": [features_of(r, fit_rates, taxonomy=tax) for r in cal],
        "test": [features_of(r, fit_rates, taxonomy=tax) for r in test],
    }
    vocab = _vocabulary(rows["fit"])
    enc = _Encoder(vocab)
    heads, reports = {}, {}
    for target in Target:
        y = {k: _labels(v, target) for k, v in (("fit", fit), ("cal", cal), ("test", test))}
        head = _fit_head(enc, rows["fit"], y["fit"], rows["cal"], y["cal"])
        heads[target] = head
        reports[target] = report(
            y["test"], head.predict(enc, rows["test"]), target.value, (len(fit), len(cal))
        )
    return AttentionModel(heads, vocab, CampaignRates.from_records(records, strength), reports)


def _out_of_fold(
    fit: Sequence[Record], rng: np.random.Generator, strength: float, tax: Taxonomy
) -> list[Features]:
    """Features of the fit rows, each campaign rate counted on the other four folds."""
    folds = rng.integers(5, size=len(fit))
    out: list[Features | None] = [None] * len(fit)
    for k in range(5):
        rest = [r for r, f in zip(fit, folds, strict=True) if f != k]
        rates = CampaignRates.from_records(rest, strength)
        for i in np.flatnonzero(folds == k):
            out[int(i)] = features_of(fit[int(i)], rates, taxonomy=tax)
    return [f for f in out if f is not None]


def _labels(records: Sequence[Record], target: Target) -> npt.NDArray[np.int64]:
    name = target.value
    return np.fromiter(
        (bool(getattr(r, name)) for r in records), dtype=np.int64, count=len(records)
    )


def _fit_head(
    enc: _Encoder,
    fit: Sequence[Features],
    y_fit: npt.NDArray[np.int64],
    cal: Sequence[Features],
    y_cal: npt.NDArray[np.int64],
) -> _Head:
    """L2 logistic regression on the fit split, Platt calibration on the held-out one."""
    coef = np.zeros(enc.width)
    if 0 < y_fit.sum() < len(y_fit):
        lr = LogisticRegression(C=1.0, max_iter=2000)
        lr.fit(enc.matrix(fit), y_fit)
        coef, intercept = np.asarray(lr.coef_[0], dtype=np.float64), float(lr.intercept_[0])
    else:  # a single class: a constant
        p = float(np.clip(y_fit.mean() if len(y_fit) else 0.5, 1e-4, 1 - 1e-4))
        intercept = math.log(p / (1 - p))
    uncalibrated = _Head(coef, intercept)
    if not 0 < y_cal.sum() < len(y_cal):  # nothing to calibrate against
        return uncalibrated
    platt = LogisticRegression(C=1e4, max_iter=1000)
    platt.fit(uncalibrated.logit(enc, cal).reshape(-1, 1), y_cal)
    return _Head(coef, intercept, float(platt.coef_[0][0]), float(platt.intercept_[0]))


def _vocabulary(rows: Sequence[Features]) -> dict[str, dict[str, int]]:
    """Category codes per categorical feature: the 250 most frequent, most frequent first."""
    vocab: dict[str, dict[str, int]] = {}
    for name in _CATEGORICAL:
        seen: dict[str, int] = {}
        for row in rows:
            value = getattr(row, name)
            if value is not None:
                seen[value] = seen.get(value, 0) + 1
        common = sorted(seen, key=lambda v: (-seen[v], v))[:250]
        vocab[name] = {v: i for i, v in enumerate(common)}
    return vocab
