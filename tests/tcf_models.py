"""Random valid TC models: a hypothesis strategy and a seeded numpy generator."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from hypothesis import strategies as st

from fairview.consent import PublisherRestriction, TCModel
from fairview.consent.tcf_model import deciseconds_to_time

ALL_SEGMENTS = ("core", "vendorsDisclosed", "vendorsAllowed", "publisherTC")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_DECISECONDS = (1 << 36) - 1


def _vendor_ids() -> st.SearchStrategy[frozenset[int]]:
    runs = st.lists(st.tuples(st.integers(1, 3000), st.integers(0, 400)), max_size=6).map(
        lambda rs: frozenset(i for start, n in rs for i in range(start, min(start + n, 65535) + 1))
    )
    return st.one_of(
        st.frozensets(st.integers(1, 60), max_size=20),
        st.frozensets(st.integers(1, 1500), max_size=80),
        st.frozensets(st.integers(1, 65535), max_size=10),
        runs,
    )


def _restrictions() -> st.SearchStrategy[tuple[PublisherRestriction, ...]]:
    keys = st.lists(st.tuples(st.integers(1, 63), st.integers(0, 2)), max_size=4, unique=True)
    return keys.flatmap(
        lambda ks: st.tuples(
            *(
                _vendor_ids()
                .filter(bool)
                .map(lambda ids, k=k: PublisherRestriction(k[0], k[1], ids))
                for k in ks
            )
        )
    )


@st.composite
def models(draw: st.DrawFn) -> TCModel:
    """Any model the bit layout can carry."""
    n_custom = draw(st.integers(0, 63))
    custom = (
        st.frozensets(st.integers(1, n_custom), max_size=n_custom)
        if n_custom
        else st.just(frozenset())
    )
    letters = st.text(LETTERS, min_size=2, max_size=2)
    return TCModel(
        created=_time(draw(st.integers(0, MAX_DECISECONDS))),
        last_updated=_time(draw(st.integers(0, MAX_DECISECONDS))),
        cmp_id=draw(st.integers(2, 4095)),
        cmp_version=draw(st.integers(0, 4095)),
        consent_screen=draw(st.integers(0, 63)),
        consent_language=draw(letters),
        vendor_list_version=draw(st.integers(0, 4095)),
        policy_version=draw(st.integers(0, 63)),
        is_service_specific=draw(st.booleans()),
        use_non_standard_texts=draw(st.booleans()),
        special_feature_optins=draw(st.frozensets(st.integers(1, 12))),
        purpose_consents=draw(st.frozensets(st.integers(1, 24))),
        purpose_legitimate_interests=draw(st.frozensets(st.integers(1, 24))),
        purpose_one_treatment=draw(st.booleans()),
        publisher_country_code=draw(letters),
        vendor_consents=draw(_vendor_ids()),
        vendor_legitimate_interests=draw(_vendor_ids()),
        publisher_restrictions=draw(_restrictions()),
        vendors_disclosed=draw(_vendor_ids()),
        vendors_allowed=draw(_vendor_ids()),
        publisher_consents=draw(st.frozensets(st.integers(1, 24))),
        publisher_legitimate_interests=draw(st.frozensets(st.integers(1, 24))),
        num_custom_purposes=n_custom,
        publisher_custom_consents=draw(custom),
        publisher_custom_legitimate_interests=draw(custom),
    )


def _time(deciseconds: int) -> datetime:
    return deciseconds_to_time(deciseconds)


# ---- seeded numpy generator, for the batch run against the reference library ----


def random_model(rng: np.random.Generator) -> TCModel:
    """One random model; vendor sets mix sparse, dense and run-heavy shapes."""
    n_custom = int(rng.integers(0, 64))
    return TCModel(
        created=_time(int(rng.integers(0, MAX_DECISECONDS + 1))),
        last_updated=_time(int(rng.integers(0, MAX_DECISECONDS + 1))),
        cmp_id=int(rng.integers(2, 4096)),
        cmp_version=int(rng.integers(0, 4096)),
        consent_screen=int(rng.integers(0, 64)),
        consent_language=_rng_letters(rng),
        vendor_list_version=int(rng.integers(0, 4096)),
        policy_version=int(rng.integers(0, 64)),
        is_service_specific=bool(rng.integers(0, 2)),
        use_non_standard_texts=bool(rng.integers(0, 2)),
        special_feature_optins=_rng_subset(rng, 12),
        purpose_consents=_rng_subset(rng, 24),
        purpose_legitimate_interests=_rng_subset(rng, 24),
        purpose_one_treatment=bool(rng.integers(0, 2)),
        publisher_country_code=_rng_letters(rng),
        vendor_consents=_rng_vendors(rng),
        vendor_legitimate_interests=_rng_vendors(rng),
        publisher_restrictions=_rng_restrictions(rng),
        vendors_disclosed=_rng_vendors(rng),
        vendors_allowed=_rng_vendors(rng) if rng.random() < 0.2 else frozenset(),
        publisher_consents=_rng_subset(rng, 24),
        publisher_legitimate_interests=_rng_subset(rng, 24),
        num_custom_purposes=n_custom,
        publisher_custom_consents=_rng_subset(rng, n_custom),
        publisher_custom_legitimate_interests=_rng_subset(rng, n_custom),
    )


def random_segments(rng: np.random.Generator, model: TCModel) -> tuple[str, ...]:
    """Core plus a random choice of the other segments, in a random order."""
    others = [s for s in ALL_SEGMENTS[1:] if rng.random() < 0.6]
    rng.shuffle(others)
    return ("core", *others)


def _rng_letters(rng: np.random.Generator) -> str:
    return "".join(LETTERS[int(i)] for i in rng.integers(0, 26, size=2))


def _rng_subset(rng: np.random.Generator, n: int) -> frozenset[int]:
    if n == 0:
        return frozenset()
    density = rng.choice([0.0, 0.1, 0.5, 0.9, 1.0])
    return frozenset(int(i) + 1 for i in np.flatnonzero(rng.random(n) < density))


def _rng_vendors(rng: np.random.Generator) -> frozenset[int]:
    shape = int(rng.integers(0, 20))
    if shape < 3:
        return frozenset()
    if shape == 3:  # a few ids anywhere up to 65535: range encoding, big MaxVendorId
        return frozenset(int(i) for i in rng.integers(1, 65536, size=int(rng.integers(1, 6))))
    if shape < 8:  # sparse ids of a real-world list
        return frozenset(int(i) for i in rng.integers(1, 1600, size=int(rng.integers(1, 60))))
    if shape < 13:  # a dense bitfield of real-world size
        return _rng_subset(rng, int(rng.integers(1, 1600)))
    ids: set[int] = set()  # runs, so that range encoding is often shorter
    for _ in range(int(rng.integers(1, 12))):
        start = int(rng.integers(1, 2500))
        ids.update(range(start, start + int(rng.integers(0, 300)) + 1))
    return frozenset(ids)


def _rng_restrictions(rng: np.random.Generator) -> tuple[PublisherRestriction, ...]:
    keys = {(int(rng.integers(1, 64)), int(rng.integers(0, 3))) for _ in range(rng.integers(0, 5))}
    out = []
    for purpose, kind in keys:
        ids = _rng_vendors(rng) or frozenset({int(rng.integers(1, 65536))})
        out.append(PublisherRestriction(purpose, kind, ids))
    return tuple(out)
