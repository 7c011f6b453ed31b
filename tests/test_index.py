"""The campaign index finds exactly the campaigns `targeting.eligible` admits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.audience.taxonomy import content_taxonomy
from fairview.domain import (
    BillingModel,
    CampaignRecord,
    Candidate,
    CreativeRecord,
    Daypart,
    Targeting,
)
from fairview.serve.index import CampaignIndex
from fairview.serve.targeting import Context, eligible

TAX = content_taxonomy()
T0 = 1_790_000_000_000
REGIONS = ["DE", "FR", "US", "US-CA", "GB"]
TOPICS = ["653", "210", "483", "v9i3On", "Rm3SiT", "461", "1"]

targetings = st.builds(
    Targeting,
    regions=st.lists(st.sampled_from(REGIONS), max_size=2, unique=True).map(tuple),
    languages=st.lists(st.sampled_from(["de", "fr"]), max_size=1).map(tuple),
    devices=st.lists(st.sampled_from(["mobile", "tv"]), max_size=1).map(tuple),
    placements=st.lists(st.sampled_from(["feed", "stories"]), max_size=1).map(tuple),
    topics=st.lists(st.sampled_from(TOPICS), max_size=2, unique=True).map(tuple),
    blocked_topics=st.lists(st.sampled_from(TOPICS), max_size=1).map(tuple),
    dayparts=st.lists(
        st.builds(Daypart, st.just((0, 1, 2, 3, 4)), st.integers(0, 11), st.integers(12, 24)),
        max_size=1,
    ).map(tuple),
    timezone=st.sampled_from(["UTC", "Europe/Berlin"]),
    cohorts=st.lists(st.sampled_from(["c1", "c2"]), max_size=1).map(tuple),
    interests=st.lists(st.sampled_from([1, 2, 3]), max_size=2, unique=True).map(tuple),
)
contexts = st.builds(
    Context,
    placement=st.sampled_from(["feed", "stories"]),
    region=st.sampled_from(["EU-DE", "DE", "EU-FR", "US-CA", "US-NY", "GB", "ZZ"]),
    language=st.sampled_from([None, "de", "fr"]),
    device_class=st.sampled_from(["mobile", "tv", "desktop"]),
    topics=st.lists(st.sampled_from(TOPICS), max_size=2).map(tuple),
    cohort=st.sampled_from([None, "c1", "c2"]),
    now_ms=st.integers(T0, T0 + 7 * 86_400_000),
    interest_topics=st.frozensets(st.sampled_from([1, 2, 3, 4])),
)


def _candidate(i: int, t: Targeting) -> Candidate:
    campaign = CampaignRecord(
        f"cmp_{i}", "adv", "c", BillingModel.CPFV, 5, 1000, None, 0, 2 * T0, "active", 0, 0, t
    )
    return Candidate(campaign, (CreativeRecord(f"crv_{i}", campaign.id, "s", 15_000, "u", 0),))


@settings(max_examples=300)
@given(st.lists(targetings, min_size=1, max_size=12), contexts)
def test_index_matches_exactly_the_eligible_campaigns(
    targeting: list[Targeting], ctx: Context
) -> None:
    candidates = [_candidate(i, t) for i, t in enumerate(targeting)]
    index = CampaignIndex(candidates, TAX)
    expected = [c for c in candidates if eligible(c.campaign.targeting, ctx, TAX) is not None]
    assert index.matching(ctx) == expected
    bits = index.matching_bits(ctx)
    assert [index.nth(bits, k) for k in range(bits.bit_count())] == expected
    for start in (0, 1, 5):
        k = start % len(expected) if expected else 0
        assert list(index.rotation(bits, start)) == expected[k:] + expected[:k]
