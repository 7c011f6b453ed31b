"""Eligibility and the content taxonomy, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fairview.audience.taxonomy import PLATFORM_LABELS, SENSITIVE_ROOTS, content_taxonomy
from fairview.domain import Daypart, Targeting
from fairview.serve.targeting import Context, eligible

TAX = content_taxonomy()
# Monday 2026-11-23 08:30 UTC = 09:30 in Berlin
MONDAY_0830_UTC = int(datetime(2026, 11, 23, 8, 30, tzinfo=UTC).timestamp() * 1000)


def ctx(**over: object) -> Context:
    base: dict[str, object] = {
        "placement": "feed",
        "region": "EU-DE",
        "language": "de",
        "device_class": "mobile",
        "topics": (),
        "cohort": None,
        "now_ms": MONDAY_0830_UTC,
    }
    base.update(over)
    return Context(**base)  # type: ignore[arg-type]


def test_no_targeting_admits_everyone_on_no_grounds() -> None:
    assert eligible(Targeting(), ctx(), TAX) == ()


@pytest.mark.parametrize(
    ("wanted", "region", "ok"),
    [
        (("DE",), "EU-DE", True),
        (("DE",), "DE", True),
        (("DE",), "EU-AT", False),
        (("US-CA",), "US-CA", True),
        (("US-CA",), "US-NY", False),
        (("US",), "US-CA", True),
        (("FR", "DE"), "EU-DE", True),
        (("DE",), "ZZ", False),
    ],
)
def test_regions_match_countries_and_subdivisions(
    wanted: tuple[str, ...], region: str, ok: bool
) -> None:
    grounds = eligible(Targeting(regions=wanted), ctx(region=region), TAX)
    assert (grounds is not None) is ok
    if ok:
        assert grounds is not None and grounds[0].startswith("region: ")


def test_language_device_and_placement_must_all_match() -> None:
    t = Targeting(languages=("de",), devices=("mobile", "tablet"), placements=("feed",))
    assert eligible(t, ctx(), TAX) == ("language: de", "device: mobile", "placement: feed")
    assert eligible(t, ctx(language="fr"), TAX) is None
    assert eligible(t, ctx(language=None), TAX) is None
    assert eligible(t, ctx(device_class="tv"), TAX) is None
    assert eligible(t, ctx(placement="stories"), TAX) is None


def test_a_topic_admits_its_subtopics() -> None:
    travel = Targeting(topics=("653",))  # Travel
    child = next(t.id for t in TAX.topics() if t.parent == "653")
    grounds = eligible(travel, ctx(topics=("210", child)), TAX)
    assert grounds is not None and grounds[0].startswith("content topic: Travel > ")
    assert eligible(travel, ctx(topics=("210",)), TAX) is None
    assert eligible(travel, ctx(topics=()), TAX) is None


def test_brand_safety_blocks_a_topic_and_everything_below_it() -> None:
    t = Targeting(topics=("653",), blocked_topics=("v9i3On",))
    assert eligible(t, ctx(topics=("653", "Rm3SiT")), TAX) is None  # adult content, below
    assert eligible(t, ctx(topics=("653",)), TAX) is not None


def test_dayparts_are_read_in_the_campaigns_time_zone() -> None:
    office_hours = (Daypart((0, 1, 2, 3, 4), 9, 17),)
    berlin = Targeting(dayparts=office_hours, timezone="Europe/Berlin")
    utc = Targeting(dayparts=office_hours, timezone="UTC")
    assert eligible(berlin, ctx(), TAX) == ("time of day (Europe/Berlin)",)
    assert eligible(utc, ctx(), TAX) is None  # 08:30 in UTC
    sunday = MONDAY_0830_UTC - 86_400_000
    assert eligible(berlin, ctx(now_ms=sunday), TAX) is None


def test_cohort_targeting_needs_a_cohort_which_only_personalised_mode_supplies() -> None:
    t = Targeting(cohorts=("c_travel",))
    assert eligible(t, ctx(cohort=None), TAX) is None
    assert eligible(t, ctx(cohort="c_food"), TAX) is None
    assert eligible(t, ctx(cohort="c_travel"), TAX) == ("interest cohort: c_travel",)


def test_the_taxonomy_is_iab_content_3_1_plus_platform_labels() -> None:
    assert len(TAX) == 704 + len(PLATFORM_LABELS)
    travel = TAX.get("653")
    assert travel is not None and travel.name == "Travel" and travel.sensitive is None


@pytest.mark.parametrize("root", sorted(SENSITIVE_ROOTS))
def test_every_topic_below_a_sensitive_root_is_sensitive(root: str) -> None:
    below = [t for t in TAX.topics() if TAX.within(t.id, [root])]
    assert below and all(t.sensitive == SENSITIVE_ROOTS[root] for t in below)


def test_art9_categories_are_all_covered() -> None:
    reasons = {t.sensitive for t in TAX.topics() if t.sensitive}
    for category in (
        "health",
        "religious or philosophical beliefs",
        "political opinions",
        "sex life or sexual orientation",
        "racial or ethnic origin",
        "trade-union membership",
    ):
        assert category in reasons
    for label in ("461", "387", "286", "fv-lgbtq", "Rm3SiT"):  # Islam, Elections, …
        assert TAX.is_sensitive(label)
    for label in ("653", "483", "210"):  # Travel, Sports, Food & Drink
        assert not TAX.is_sensitive(label)
