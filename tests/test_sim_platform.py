"""fairview.sim.platform: the synthetic users, videos, advertisers and requests."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from fairview.sim.behaviour import ARCHETYPE_SHARES
from fairview.sim.fraud import FRAUD_SHARES
from fairview.sim.platform import (
    FRAUD_ARCHETYPE,
    REGIONS,
    Platform,
    ad_requests,
    generate_platform,
)


def _platform(seed: int = 1, users: int = 400, invalid_share: float = 0.05) -> Platform:
    rng = np.random.default_rng(seed)
    return generate_platform(
        rng,
        users=users,
        videos=50,
        advertisers=5,
        campaigns_per_advertiser=3,
        invalid_share=invalid_share,
    )


def test_same_seed_same_platform() -> None:
    assert _platform(3) == _platform(3)
    assert _platform(3) != _platform(4)


def test_users_are_opaque_and_coarse() -> None:
    platform = _platform()
    refs = [u.user_ref for u in platform.users]
    assert len(set(refs)) == len(refs)
    for user in platform.users:
        assert user.user_ref.startswith("u_")
        assert len(user.user_ref) == 18
        assert user.region in REGIONS
        assert user.device in {"mobile", "desktop", "tv"}
        assert (user.archetype == FRAUD_ARCHETYPE) == (user.fraud is not None)
        assert user.archetype in ARCHETYPE_SHARES or user.fraud in FRAUD_SHARES


def test_every_archetype_and_device_appears() -> None:
    platform = _platform(users=1000)
    assert {u.archetype for u in platform.users} >= set(ARCHETYPE_SHARES)
    assert {u.device for u in platform.users} == {"mobile", "desktop", "tv"}
    assert any(not u.measures_visibility for u in platform.users)


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3])
def test_invalid_share_is_configurable(share: float) -> None:
    platform = _platform(users=2000, invalid_share=share)
    fraud = sum(u.fraud is not None for u in platform.users) / len(platform.users)
    assert abs(fraud - share) < 0.03


def test_campaigns_are_well_formed() -> None:
    platform = _platform()
    durations: Counter[str] = Counter()
    for adv in platform.advertisers:
        assert len(adv.campaigns) == 3
        for spec in adv.campaigns:
            assert spec.billing_model in {"cpfv", "cpm_viewable"}
            assert isinstance(spec.bid_minor, int)
            assert spec.bid_minor > 0
            assert 0 < spec.daily_budget_minor <= spec.total_budget_minor
            assert spec.creatives
            for creative in spec.creatives:
                assert creative.media_url.startswith("https://")
                d = creative.duration_s
                durations["long" if 9 <= d <= 30 else "mid" if 4 <= d <= 5 else "short"] += 1
                assert d in (1.5,) or 4 <= d <= 5 or 9 <= d <= 30
    assert durations["long"] > durations["mid"] > 0


def test_requests_are_spread_and_sorted() -> None:
    platform = _platform()
    requests = ad_requests(
        np.random.default_rng(2), platform, start_ms=1000, per_user=3, span_ms=60_000
    )
    assert len(requests) == 3 * len(platform.users)
    assert [r.at_ms for r in requests] == sorted(r.at_ms for r in requests)
    assert all(1000 <= r.at_ms < 61_000 for r in requests)
    assert len({r.request_id for r in requests}) == len(requests)
    farm = {r.seed for r in requests if r.traffic == "bot_farm"}
    assert len(farm) <= 1


def test_refuses_empty_platforms() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_platform(
            np.random.default_rng(0), users=0, videos=1, advertisers=1, campaigns_per_advertiser=1
        )
    with pytest.raises(ValueError, match="invalid_share"):
        _platform(invalid_share=1.5)
