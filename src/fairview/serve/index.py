"""The campaign index: which campaigns could match a request, found with bitsets.

Built from the campaigns that may serve now (in flight, budget left, with a
creative) and rebuilt when the decider refreshes it (every second by default).
Each targeting dimension maps a value to the set of campaigns that accept it,
as an int bitset (bit i = candidate i); a request intersects a handful of them
instead of testing every campaign. The survivors are then checked exactly by
`targeting.eligible`, which also says on what grounds they matched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

from fairview.audience.taxonomy import Taxonomy
from fairview.consent.regions import split_region
from fairview.domain import Candidate
from fairview.serve.targeting import Context, in_dayparts


class _Dimension:
    """value -> campaigns that list it; `open` = campaigns that do not constrain it."""

    def __init__(self) -> None:
        self.by_value: defaultdict[object, int] = defaultdict(int)
        self.open = 0

    def add(self, bit: int, values: Iterable[object]) -> None:
        listed = False
        for value in values:
            self.by_value[value] |= bit
            listed = True
        if not listed:
            self.open |= bit

    def accepting(self, values: Iterable[object]) -> int:
        found = self.open
        for value in values:
            found |= self.by_value.get(value, 0)
        return found


class CampaignIndex:
    def __init__(self, candidates: Sequence[Candidate], taxonomy: Taxonomy) -> None:
        self.candidates = list(candidates)
        self._taxonomy = taxonomy
        self._regions = _Dimension()
        self._languages = _Dimension()
        self._devices = _Dimension()
        self._placements = _Dimension()
        self._topics = _Dimension()
        self._cohorts = _Dimension()
        self._interests = _Dimension()
        self._blocking: defaultdict[str, int] = defaultdict(int)
        self._dayparted = 0
        self._daypart_cache = (-1, 0)
        for i, candidate in enumerate(self.candidates):
            bit = 1 << i
            t = candidate.campaign.targeting
            self._regions.add(bit, (split_region(r) for r in t.regions))
            self._languages.add(bit, t.languages)
            self._devices.add(bit, t.devices)
            self._placements.add(bit, t.placements)
            self._topics.add(bit, t.topics)
            self._cohorts.add(bit, t.cohorts)
            self._interests.add(bit, t.interests)
            for topic in t.blocked_topics:
                self._blocking[topic] |= bit
            if t.dayparts:
                self._dayparted |= bit

    def __len__(self) -> int:
        return len(self.candidates)

    def matching(self, ctx: Context) -> list[Candidate]:
        """The candidates whose targeting admits `ctx`, in index order.

        Exact: every criterion is indexed (dayparts through a per-minute bitset), so
        `targeting.eligible` is needed only for the grounds of the ads chosen.
        """
        return self.members(self.matching_bits(ctx))

    def matching_bits(self, ctx: Context) -> int:
        country, part = split_region(ctx.region)
        lineage = [t for topic in ctx.topics for t in self._taxonomy.lineage(topic)]
        bits = (
            self._regions.accepting(((country, None), (country, part)))
            & self._languages.accepting((ctx.language,))
            & self._devices.accepting((ctx.device_class,))
            & self._placements.accepting((ctx.placement,))
            & self._topics.accepting(lineage)
            & self._cohorts.accepting(() if ctx.cohort is None else (ctx.cohort,))
            & self._interests.accepting(() if ctx.cohort is None else ctx.interest_topics)
        )
        for topic in lineage:
            bits &= ~self._blocking.get(topic, 0)
        if bits & self._dayparted:
            bits &= ~self._dayparted | self._in_daypart(ctx.now_ms)
        return bits

    def members(self, bits: int) -> list[Candidate]:
        out = []
        while bits:
            low = bits & -bits
            out.append(self.candidates[low.bit_length() - 1])
            bits ^= low
        return out

    def rotation(self, bits: int, start: int) -> Iterator[Candidate]:
        """The candidates of `bits`, from the (start mod n)-th onwards, wrapping around."""
        n = bits.bit_count()
        if n == 0:
            return
        head = bits
        for _ in range(start % n):
            head &= head - 1
        for part in (head, bits ^ head):
            while part:
                low = part & -part
                yield self.candidates[low.bit_length() - 1]
                part ^= low

    def nth(self, bits: int, n: int) -> Candidate:
        """The candidate of the n-th set bit (0-based) of `bits`."""
        for _ in range(n):
            bits &= bits - 1
        return self.candidates[(bits & -bits).bit_length() - 1]

    def _in_daypart(self, now_ms: int) -> int:
        """Dayparted campaigns running in this minute (computed once per minute)."""
        minute = now_ms // 60_000
        if self._daypart_cache[0] != minute:
            active = 0
            for i, candidate in enumerate(self.candidates):
                t = candidate.campaign.targeting
                if t.dayparts and in_dayparts(t.dayparts, t.timezone, now_ms):
                    active |= 1 << i
            self._daypart_cache = (minute, active)
        return self._daypart_cache[1]
