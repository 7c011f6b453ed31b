"""A synthetic short-video platform: users, videos, advertisers and their campaigns.

Everything is drawn from the generator passed in; nothing here is personal
data. Users carry an opaque `user_ref`, a coarse region and a device class
only. A share of users (`invalid_share`) are fraudulent: their `fraud` names
the kind of invalid traffic every one of their requests produces (see `fraud`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fairview.sim.behaviour import ARCHETYPE_SHARES
from fairview.sim.fraud import FRAUD_SHARES

FRAUD_ARCHETYPE = "fraud"
TOPICS = (
    "sports",
    "music",
    "cooking",
    "gaming",
    "travel",
    "tech",
    "fashion",
    "comedy",
    "education",
    "pets",
)
# The IAB Content Taxonomy 3.1 id of each simulated topic (what a platform sends).
IAB_TOPICS: Mapping[str, str] = {
    "sports": "483",
    "music": "338",
    "cooking": "210",
    "gaming": "680",
    "travel": "653",
    "tech": "596",
    "fashion": "552",
    "comedy": "646",
    "education": "132",
    "pets": "422",
}
REGIONS: Mapping[str, float] = {
    "EU-DE": 0.16,
    "EU-FR": 0.12,
    "EU-IT": 0.08,
    "EU-ES": 0.08,
    "EU-NL": 0.05,
    "EU-PL": 0.05,
    "EU-SE": 0.03,
    "US-CA": 0.14,
    "US-NY": 0.10,
    "US-TX": 0.10,
    "US-FL": 0.09,
}
DEVICES: Mapping[str, float] = {"mobile": 0.75, "desktop": 0.15, "tv": 0.10}
_BRAND_A = ("North", "Blue", "Bright", "Oak", "Silver", "Urban", "Wild", "Clear", "Swift", "Lumen")
_BRAND_B = ("wind", "harbor", "field", "peak", "line", "craft", "works", "nest", "wave", "ridge")


@dataclass(frozen=True, slots=True)
class User:
    """A viewer. `archetype` is "fraud" for fraudulent users, whose `fraud` is set."""

    user_ref: str
    region: str
    device: str
    archetype: str
    measures_visibility: bool
    fraud: str | None = None


@dataclass(frozen=True, slots=True)
class Video:
    video_id: str
    topic: str


@dataclass(frozen=True, slots=True)
class CreativeSpec:
    name: str
    duration_s: float
    media_url: str


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A campaign as an advertiser would create it; money in integer minor units.

    `bid_minor` is per focused view for "cpfv" and per 1000 viewable
    impressions for "cpm_viewable".
    """

    name: str
    billing_model: str
    bid_minor: int
    total_budget_minor: int
    daily_budget_minor: int
    currency: str
    topics: tuple[str, ...]
    creatives: tuple[CreativeSpec, ...]


@dataclass(frozen=True, slots=True)
class Advertiser:
    name: str
    campaigns: tuple[CampaignSpec, ...]


@dataclass(frozen=True, slots=True)
class Platform:
    users: tuple[User, ...]
    videos: tuple[Video, ...]
    advertisers: tuple[Advertiser, ...]
    farm_seed: int


@dataclass(frozen=True, slots=True)
class AdRequest:
    """One ad slot in one user's feed at `at_ms` (server clock).

    `seed` drives the delivery's simulation; bot-farm requests share one seed,
    so their event streams are identical.
    """

    request_id: str
    at_ms: int
    user: User
    video: Video
    seed: int

    @property
    def traffic(self) -> str:
        """ "honest", or the fraud kind this request will produce."""
        return self.user.fraud or "honest"


def generate_platform(
    rng: np.random.Generator,
    *,
    users: int,
    videos: int,
    advertisers: int,
    campaigns_per_advertiser: int,
    invalid_share: float = 0.05,
) -> Platform:
    """Draw a platform; about `invalid_share` of users send invalid traffic."""
    if min(users, videos, advertisers, campaigns_per_advertiser) < 1:
        raise ValueError("users, videos, advertisers and campaigns must each be at least 1")
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError(f"invalid_share must lie in [0, 1], got {invalid_share}")
    refs = _unique_refs(rng, users)
    people = tuple(_user(rng, ref, invalid_share) for ref in refs)
    clips = tuple(Video(f"v{i:05d}", TOPICS[int(rng.integers(len(TOPICS)))]) for i in range(videos))
    names = _brand_names(rng, advertisers)
    brands = tuple(
        Advertiser(name, tuple(_campaign(rng, name, k) for k in range(campaigns_per_advertiser)))
        for name in names
    )
    return Platform(people, clips, brands, int(rng.integers(2**62)))


def ad_requests(
    rng: np.random.Generator,
    platform: Platform,
    *,
    start_ms: int,
    per_user: int,
    span_ms: int = 3_600_000,
) -> list[AdRequest]:
    """`per_user` ad slots for every user, spread over `[start_ms, start_ms + span_ms)`."""
    drafts = []
    for user in platform.users:
        for _ in range(per_user):
            at = start_ms + int(rng.integers(span_ms))
            video = platform.videos[int(rng.integers(len(platform.videos)))]
            seed = platform.farm_seed if user.fraud == "bot_farm" else int(rng.integers(2**62))
            drafts.append((at, user, video, seed))
    drafts.sort(key=lambda d: d[0])
    return [
        AdRequest(f"req-{i:06d}", at, user, video, seed)
        for i, (at, user, video, seed) in enumerate(drafts)
    ]


def _unique_refs(rng: np.random.Generator, n: int) -> list[str]:
    refs: list[str] = []
    seen: set[str] = set()
    while len(refs) < n:
        ref = f"u_{int(rng.integers(2**62)):016x}"
        if ref not in seen:
            seen.add(ref)
            refs.append(ref)
    return refs


def _user(rng: np.random.Generator, ref: str, invalid_share: float) -> User:
    region = _pick(rng, REGIONS)
    device = _pick(rng, DEVICES)
    measured = device != "tv" or rng.random() < 0.5
    if rng.random() < invalid_share:
        return User(ref, region, device, FRAUD_ARCHETYPE, True, _pick(rng, FRAUD_SHARES))
    return User(ref, region, device, _pick(rng, ARCHETYPE_SHARES), measured)


def _brand_names(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    for i in range(n):
        name = _BRAND_A[int(rng.integers(len(_BRAND_A)))] + _BRAND_B[int(rng.integers(10))]
        names.append(name if name not in names else f"{name} {i}")
    return names


def _campaign(rng: np.random.Generator, brand: str, k: int) -> CampaignSpec:
    cpfv = rng.random() < 0.6
    bid = int(rng.integers(3, 13)) if cpfv else int(rng.integers(400, 1501))
    total = int(rng.integers(50, 501)) * 1000
    topics = tuple(sorted({TOPICS[int(i)] for i in rng.integers(len(TOPICS), size=2)}))
    slug = brand.lower().replace(" ", "-")
    creatives = tuple(
        CreativeSpec(
            f"{brand} spot {k + 1}.{c + 1}",
            _duration_s(rng),
            f"https://cdn.example.test/{slug}/c{k + 1}-{c + 1}.mp4",
        )
        for c in range(int(rng.integers(1, 4)))
    )
    return CampaignSpec(
        name=f"{brand} {('spring', 'summer', 'autumn', 'winter')[k % 4]} {k // 4 + 1}",
        billing_model="cpfv" if cpfv else "cpm_viewable",
        bid_minor=bid,
        total_budget_minor=total,
        daily_budget_minor=total // int(rng.integers(5, 21)),
        currency="EUR",
        topics=topics,
        creatives=creatives,
    )


def _duration_s(rng: np.random.Generator) -> float:
    """Mostly 9–30 s, some 4–5 s, a few 1.5 s (in 0.1 s steps)."""
    u = rng.random()
    if u < 0.05:
        return 1.5
    if u < 0.25:
        return int(rng.integers(40, 51)) / 10
    return int(rng.integers(90, 301)) / 10


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = list(weights)
    probs = np.array([weights[n] for n in names], dtype=float)
    return str(names[int(rng.choice(len(names), p=probs / probs.sum()))])
