"""The privacy budget ledger: how much ε and δ each advertiser's reports may spend.

Charges compose by basic composition (they add up). The period is a sliding
window of `PERIOD_DAYS` days ending on the day of the charge, so no 30-day
stretch ever sees more than the period budget, including across calendar
boundaries. The ledger is pure: the caller passes the day and persists
`charges`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from fairview.errors import FairviewError

PERIOD_DAYS = 30
DEFAULT_EPSILON_PER_PERIOD = 9.0
"""The spec's 30-day total (0.3 a day on average): nine default reports of ε = 1."""
DEFAULT_DELTA_PER_PERIOD = 1e-8
"""Ten reports at the default δ = 1e-9."""

_SLACK = 1e-12  # float sums of shares like 0.1 must not refuse the last exact fit


@dataclass(frozen=True, slots=True)
class BudgetCharge:
    """One report's privacy cost, charged to an advertiser on a day."""

    advertiser_id: str
    day: date
    epsilon: float
    delta: float


class PrivacyBudget:
    """A per-advertiser ledger of (ε, δ) over a sliding `period_days` window."""

    def __init__(
        self,
        *,
        epsilon_per_period: float = DEFAULT_EPSILON_PER_PERIOD,
        delta_per_period: float = DEFAULT_DELTA_PER_PERIOD,
        period_days: int = PERIOD_DAYS,
        charges: Iterable[BudgetCharge] = (),
    ) -> None:
        if epsilon_per_period <= 0 or delta_per_period < 0 or period_days < 1:
            raise ValueError("the period budget must be positive")
        self.epsilon_per_period = epsilon_per_period
        self.delta_per_period = delta_per_period
        self.period_days = period_days
        self._charges = list(charges)

    @property
    def charges(self) -> tuple[BudgetCharge, ...]:
        """Every charge so far, oldest first, for the caller to persist."""
        return tuple(self._charges)

    def spent(self, advertiser_id: str, day: date) -> tuple[float, float]:
        """(ε, δ) charged to the advertiser in the period ending on `day`."""
        first = day - timedelta(days=self.period_days - 1)
        window = [
            c for c in self._charges if c.advertiser_id == advertiser_id and first <= c.day <= day
        ]
        return sum(c.epsilon for c in window), sum(c.delta for c in window)

    def remaining(self, advertiser_id: str, day: date) -> float:
        """ε still available to the advertiser on `day`."""
        return max(0.0, self.epsilon_per_period - self.spent(advertiser_id, day)[0])

    def charge(self, advertiser_id: str, day: date, epsilon: float, delta: float) -> BudgetCharge:
        """Record a report's cost, or refuse it before anything is computed.

        Raises `FairviewError("privacy_budget_exhausted", status=429)` when the
        charge would take the period over its ε or δ; the ledger is then unchanged.
        """
        if epsilon <= 0 or delta < 0:
            raise ValueError("a report costs a positive epsilon and a non-negative delta")
        if not self._fits(advertiser_id, day, epsilon, delta):
            raise self._exhausted(advertiser_id, day, epsilon, delta)
        charge = BudgetCharge(advertiser_id, day, epsilon, delta)
        self._charges.append(charge)
        return charge

    def _fits(self, advertiser_id: str, day: date, epsilon: float, delta: float) -> bool:
        eps, dlt = self.spent(advertiser_id, day)
        return (
            eps + epsilon <= self.epsilon_per_period + _SLACK
            and dlt + delta <= self.delta_per_period * (1 + _SLACK)
        )

    def _available_on(self, advertiser_id: str, day: date, epsilon: float, delta: float) -> date:
        """The first day the charge fits, assuming no other charge comes in between."""
        later = day
        while not self._fits(advertiser_id, later, epsilon, delta):
            later += timedelta(days=1)
        return later

    def _exhausted(
        self, advertiser_id: str, day: date, epsilon: float, delta: float
    ) -> FairviewError:
        remaining = self.remaining(advertiser_id, day)
        if epsilon > self.epsilon_per_period or delta > self.delta_per_period:
            when = "no day: ask for a report with a smaller epsilon"
            retry = None
        else:
            retry = self._available_on(advertiser_id, day, epsilon, delta).isoformat()
            when = retry
        eps_spent, delta_spent = self.spent(advertiser_id, day)
        if eps_spent + epsilon > self.epsilon_per_period + _SLACK:
            need = (
                f"This report needs epsilon {epsilon:g}, but only {remaining:g} of the "
                f"{self.epsilon_per_period:g} allowed per {self.period_days} days is left."
            )
        else:
            need = (
                f"This report needs delta {delta:g}, but only "
                f"{max(0.0, self.delta_per_period - delta_spent):g} of the "
                f"{self.delta_per_period:g} allowed per {self.period_days} days is left."
            )
        return FairviewError(
            "privacy_budget_exhausted",
            f"{need} Reuse a report you already have, ask for a smaller epsilon or a coarser "
            f"grain, or retry on {when}.",
            status=429,
            epsilon_remaining=remaining,
            retry_on=retry,
        )
