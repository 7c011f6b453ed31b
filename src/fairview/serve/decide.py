"""The decision: permissions first, then eligibility, caps, and a choice among the rest.

Every decision starts from the consent policy's `Permissions` and may use
nothing they forbid: no viewer pseudonym is kept on a delivery unless the
measurement level is user-level; the viewer's interest cohort is read only in
`personalised` mode; frequency caps read and write per-viewer counters only
where storage is allowed (elsewhere there is no user-level cap, and one
response never repeats a campaign); no ad is served when the mode is `none`;
and the signed token carries the mode so that later stages obey it. Each
delivery records the parameters actually used, which "why this ad" shows.
"""

from __future__ import annotations

import base64
import functools
import itertools
import logging
import os
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from fairview.audience.taxonomy import Taxonomy, content_taxonomy
from fairview.audience.topics import ancestors
from fairview.clock import DAY_MS, day_of
from fairview.consent.policy import Measurement, Mode, Permissions, decide
from fairview.consent.signals import RawSignals, ReadSignals, read_signals
from fairview.consent.tcf import decode as decode_tc
from fairview.domain import Candidate, CreativeRecord, DeliveryRecord
from fairview.errors import FairviewError
from fairview.groupcommit import GroupCommit
from fairview.pseudonym import Pseudonymiser
from fairview.serve.index import CampaignIndex
from fairview.serve.pacing import (
    UPDATE_INTERVAL_S,
    Pacer,
    in_flight_estimate,
    pacing_goal,
    prior_charge,
)
from fairview.serve.ranking import Ranker
from fairview.serve.targeting import Context, eligible
from fairview.storage import Store
from fairview.storage.consents import ConsentEvidence
from fairview.storage.deliveries import DeliveryRows
from fairview.tokens import DeliveryClaims, TokenSigner

log = logging.getLogger("fairview.serve")


@dataclass(frozen=True, slots=True)
class AdRequest:
    placement: str
    user_ref: str | None
    region: str
    device_class: str
    count: int
    signals: RawSignals
    language: str | None = None
    topics: tuple[str, ...] = ()  # content topics of the video being watched
    fits: Callable[[int], bool] | None = None  # creative duration (ms) the slot accepts


@dataclass(frozen=True, slots=True)
class Decision:
    permissions: Permissions
    signal_errors: dict[str, str]
    ads: list[ServedAd]
    capped_viewer: str | None = None  # the pseudonym caps count on (storage allowed only)
    evidence: ConsentEvidence | None = None  # Art. 7(1): the signal the decision relied on


@dataclass(frozen=True, slots=True)
class ServedAd:
    delivery: DeliveryRecord
    creative: CreativeRecord
    advertiser_id: str
    token: str
    advertiser: str  # DSA Art. 26(1)(b): on whose behalf
    payer: str  # DSA Art. 26(1)(c): who paid
    frequency_capped: bool = False  # the campaign has a cap the delivery counts against


class Cohorts(Protocol):
    """The viewer's interest cohort (the audience stage supplies it)."""

    def cohort_of(self, viewer_key: str) -> str | None: ...

    def topics_of(self, cohort: str) -> tuple[int, ...]:
        """The cohort's label: its top allowlisted topics (Topics v2 ids)."""
        ...


class NoCohorts:
    def cohort_of(self, viewer_key: str) -> str | None:
        return None

    def topics_of(self, cohort: str) -> tuple[int, ...]:
        return ()


_RecordJob = tuple[list[DeliveryRecord], list[ConsentEvidence]]


class RoundRobin:
    """Thread-safe rotation: each call starts one position further along."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def start(self) -> int:
        with self._lock:
            return next(self._counter)

    def pick(self, candidates: list[Candidate], count: int) -> list[Candidate]:
        if not candidates:
            return []
        start = self.start()
        n = min(count, len(candidates))
        return [candidates[(start + i) % len(candidates)] for i in range(n)]


class Decider:
    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        pseudonymiser: Pseudonymiser,
        *,
        vendor_id: int = 0,
        lia_purposes: frozenset[int] = frozenset(),
        cohorts: Cohorts | None = None,
        taxonomy: Taxonomy | None = None,
        index_ttl_ms: int = 1000,
        pacer: Pacer | None = None,
        rng: random.Random | None = None,
        ranker: Ranker | None = None,
        write_rows: Callable[[DeliveryRows], None] | None = None,
        write_rows_async: Callable[[DeliveryRows], Awaitable[None]] | None = None,
        index_phase_ms: int | None = None,
    ) -> None:
        """`write_rows` stores each group's rows durably (default: this process's
        `store.deliveries.write`, grouped by a writer thread); `write_rows_async`, when
        given, stores those of `decide_async`. `fairview serve --workers N` passes the
        shared writer's (`fairview.storage.shared_writer`).

        `index_phase_ms`: where in each `index_ttl_ms` period this decider refreshes its
        campaign index (random by default, so that server processes refresh at different
        moments; see `_index`)."""
        self._store = store
        self._write_rows = write_rows or store.deliveries.write
        self._write_rows_async = write_rows_async
        self._cohorts = cohorts or NoCohorts()
        self._taxonomy = taxonomy or content_taxonomy()
        self._advertisers: dict[str, tuple[str, str]] = {}
        self._index_ttl_ms = index_ttl_ms
        self._index_phase_ms = (
            index_phase_ms
            if index_phase_ms is not None
            else random.randrange(index_ttl_ms)
            if index_ttl_ms > 0
            else 0
        )
        self._index_state: tuple[int, str, CampaignIndex] | None = None
        self._index_lock = threading.Lock()
        self._pacing = False
        self._pacer = pacer
        self._ranker = ranker
        self._paced_at: int | None = None
        self._rng = rng or random.Random()
        self._recorder: GroupCommit[_RecordJob, None] = GroupCommit(
            self._record,
            weight=lambda job: len(job[0]) + len(job[1]),
            max_group=2000,
            failure=_not_recorded,
            name="fairview-delivery-writer",
        )
        self._vendor_id = vendor_id
        self._lia_purposes = lia_purposes
        self._signer = signer
        self._pseudonymiser = pseudonymiser
        self._rotation = RoundRobin()

    def decide(self, request: AdRequest, now_ms: int) -> Decision:
        """Decide permissions, choose up to `count` eligible ads, then record them durably.

        No token leaves before its delivery is on disk; concurrent decisions share
        one commit.
        """
        decision = self.choose(request, now_ms)
        self.record(decision, now_ms)
        return decision

    def choose(self, request: AdRequest, now_ms: int) -> Decision:
        """Permissions, eligibility, caps and the choice, with signed tokens; nothing written.

        `record` must store the decision before any of its tokens is handed out.
        """
        viewer = (
            None if request.user_ref is None else self._pseudonymiser.viewer_key(request.user_ref)
        )
        permissions, errors, evidence = self.permissions(request.signals, viewer, now_ms)
        if permissions.mode is Mode.NONE:
            return Decision(permissions, errors, [], evidence=evidence)
        # Only a user-level measurement basis lets a delivery carry the viewer's pseudonym.
        kept = viewer if permissions.measurement is Measurement.USER else None
        # The profile (cohort) is read in personalised mode only.
        cohort = (
            self._cohorts.cohort_of(viewer)
            if viewer is not None and permissions.mode is Mode.PERSONALISED
            else None
        )
        context = Context(
            request.placement,
            request.region,
            request.language,
            request.device_class,
            request.topics,
            cohort,
            now_ms,
            _interest_topics(self._cohorts.topics_of(cohort)) if cohort else frozenset(),
        )
        index = self._index(now_ms)
        bits = index.matching_bits(context)
        capped_viewer = viewer if permissions.storage else None
        chosen: list[tuple[Candidate, CreativeRecord]] = []
        if request.fits is None and capped_viewer is None and self._ranker is None:
            # The common case: rotate by bit position, without listing every match.
            for candidate in index.rotation(bits, self._rotation.start()):
                if self._admitted(candidate.campaign.id):  # pacing throttle
                    chosen.append((candidate, _rotating_creative(candidate, now_ms)))
                    if len(chosen) == request.count:
                        break
        else:
            candidates = []
            for candidate in index.members(bits):
                if request.fits is not None:
                    fitting = tuple(c for c in candidate.creatives if request.fits(c.duration_ms))
                    if not fitting:
                        continue
                    candidate = replace(candidate, creatives=fitting)
                candidates.append(candidate)
            if capped_viewer is not None:
                candidates = self._under_cap(candidates, capped_viewer, now_ms)
            admitted = [c for c in candidates if self._admitted(c.campaign.id)]
            if self._ranker is not None:
                ranked = self._ranker.order(admitted, context)[: request.count]
                chosen = [(r.candidate, r.creative) for r in ranked]
            else:
                chosen = [
                    (c, _rotating_creative(c, now_ms))
                    for c in self._rotation.pick(admitted, request.count)
                ]
        served = []
        selection = SELECTION_RANKED if self._ranker is not None else SELECTION_ROTATION
        for candidate, creative in chosen:
            grounds = eligible(candidate.campaign.targeting, context, self._taxonomy)
            assert grounds is not None, "the index admitted an ineligible campaign"
            why = _why(permissions, context, grounds, self._taxonomy, selection)
            served.append(
                self._deliver(request, kept, permissions, candidate, creative, why, now_ms)
            )
        return Decision(permissions, errors, served, capped_viewer, evidence)

    def record(self, decision: Decision, now_ms: int) -> None:
        """Count capped deliveries for the viewer, then store the deliveries durably."""
        job = self._record_job(decision, now_ms)
        if job is not None:
            self._recorder.run(job)

    async def record_async(self, decision: Decision, now_ms: int) -> None:
        """`record` for an event loop: waits for the group commit without a thread."""
        job = self._record_job(decision, now_ms)
        if job is None:
            return
        if self._write_rows_async is None:
            await self._recorder.run_async(job)
            return
        try:
            await self._write_rows_async(DeliveryRows.of(*job))
        except Exception as exc:
            log.warning("a decision's delivery records were not stored: %s", exc)
            raise _not_recorded() from None

    async def decide_async(self, request: AdRequest, now_ms: int) -> Decision:
        """`decide` for an event loop. Choosing reads the store only briefly (the
        viewer's consent state, the campaign index once a second); the record is
        awaited, so concurrent requests share one commit. With `fairview serve`'s
        default, `FAIRVIEW_DELIVERY_COMMIT=behind`, the shared writer takes the record
        over at once and commits it behind the answer (docs/serving.md)."""
        decision = self.choose(request, now_ms)
        await self.record_async(decision, now_ms)
        return decision

    def _record_job(self, decision: Decision, now_ms: int) -> _RecordJob | None:
        viewer = decision.capped_viewer
        for ad in decision.ads:
            if viewer is not None and ad.frequency_capped:
                self._store.frequency.add(viewer, ad.delivery.campaign_id, now_ms)
        if not decision.ads and decision.evidence is None:
            return None
        evidence = [] if decision.evidence is None else [decision.evidence]
        return [ad.delivery for ad in decision.ads], evidence

    def _record(self, jobs: list[_RecordJob]) -> list[None]:
        deliveries = [d for job in jobs for d in job[0]]
        evidence = [e for job in jobs for e in job[1]]
        self._write_rows(DeliveryRows.of(deliveries, evidence))
        return [None] * len(jobs)

    def close(self) -> None:
        self._recorder.close()

    def permissions(
        self, raw: RawSignals, viewer: str | None, now_ms: int
    ) -> tuple[Permissions, dict[str, str], ConsentEvidence | None]:
        """What the viewer's signals allow now, the signal errors, and evidence to keep.

        Signals absent from the request are the viewer's newest stored ones; a
        stored objection overrides everything. Evidence is returned (not written)
        when the permissions rely on consent given with this request.
        """
        objected = reused = False
        if viewer is not None:
            if raw.tc_string is None and raw.gpp_string is None:
                # No strings on the request: the newest stored signal of this viewer applies.
                objection, latest = self._store.consents.viewer_state(viewer)
                if latest is not None:
                    raw = replace(raw, tc_string=latest.tc_string, gpp_string=latest.gpp_string)
                    reused = True
            else:
                objection = self._store.consents.objection(viewer)
            objected = objection is not None
        read = read_signals(raw, today=_date_of(now_ms // DAY_MS), objected=objected)
        permissions = decide(
            read.signals, vendor_id=self._vendor_id, lia_purposes=self._lia_purposes
        )
        # Art. 7(1): keep the evidence of each signal a decision relied on (a reused
        # stored signal is on record already).
        evidence = None
        if viewer is not None and not reused and _relies_on_consent(permissions):
            evidence = _evidence(viewer, raw, read, permissions, now_ms)
        return permissions, read.errors, evidence

    def _under_cap(self, candidates: list[Candidate], viewer: str, now_ms: int) -> list[Candidate]:
        """Drop campaigns this viewer has reached the frequency cap of."""
        capped = [c for c in candidates if c.campaign.frequency_cap is not None]
        if not capped:
            return candidates
        longest = max(c.campaign.frequency_cap.window_days for c in capped)  # type: ignore[union-attr]
        since = now_ms - longest * 86_400_000
        # One read for all campaigns over the longest window, then per-campaign windows.
        seen = self._store.frequency.counts(viewer, [c.campaign.id for c in capped], since, now_ms)
        out = []
        for c in candidates:
            cap = c.campaign.frequency_cap
            if cap is None or seen.get(c.campaign.id, 0) < cap.max_deliveries:
                out.append(c)
            elif cap.window_days < longest:  # a shorter window: count it exactly
                window = self._store.frequency.counts(
                    viewer, [c.campaign.id], now_ms - cap.window_days * 86_400_000, now_ms
                )
                if window.get(c.campaign.id, 0) < cap.max_deliveries:
                    out.append(c)
        return out

    def _index(self, now_ms: int) -> CampaignIndex:
        """The campaigns that may serve now, refreshed every `index_ttl_ms`.

        Budget and flight changes reach decisions within about that time; settlement's
        ledger caps charges at the budget, so a late stop is never billed above it.

        The refresh runs in the deciding thread, and it is cheap: the catalog re-parses
        only rows that changed, and an unchanged catalog keeps the current index (with
        200 campaigns, about 2 ms once a second). It used to run in a thread of its own,
        but a thread reading SQLite gives up the interpreter lock on every row and then
        waits for it, in turn with the requests; that added 20–40 ms to every request in
        flight during each refresh (docs/benchmarks.md). While one thread refreshes,
        the others keep deciding on the current index. Pacing reads ledger aggregates
        that grow with the day's deliveries, so it runs in the background
        (`_pace_in_background`), except the first time.

        The index is refreshed when a period of `index_ttl_ms` ends, each decider's
        periods shifted by its own `index_phase_ms`. The processes of one server start
        together, and with refreshes due at the same moment both cores stopped deciding
        for the same 4-9 ms once a second, which showed as 15-25 ms in the open-loop
        tail (docs/serving.md).
        """
        state = self._index_state
        day = day_of(now_ms)
        if state is not None and self._current(state, now_ms, day):
            return state[2]
        same_day = state is not None and state[1] == day and self._index_ttl_ms > 0
        if not self._index_lock.acquire(blocking=not same_day):
            return state[2]  # type: ignore[index]  # another thread is refreshing it
        try:
            state = self._index_state
            if state is None or not self._current(state, now_ms, day):
                state = self._rebuild(now_ms, day)
            return state[2]
        finally:
            self._index_lock.release()

    def _current(self, state: tuple[int, str, CampaignIndex], now_ms: int, day: str) -> bool:
        """Whether the index built at `state[0]` is still this period's, on `day`."""
        ttl, phase = self._index_ttl_ms, self._index_phase_ms
        return (
            state[1] == day
            and ttl > 0
            and 0 <= now_ms - state[0] < ttl
            and (now_ms + phase) // ttl == (state[0] + phase) // ttl
        )

    def _rebuild(self, now_ms: int, day: str) -> tuple[int, str, CampaignIndex]:
        """Refresh the index (caller holds the index lock), and pace when it is time.

        When the catalog gives back the same candidates (it returns the very same records
        for unchanged rows), the current index is kept.
        """
        candidates = self._store.catalog.candidates(now_ms, day)
        current = self._index_state
        index = (
            current[2]
            if current is not None and current[1] == day and current[2].candidates == candidates
            else CampaignIndex(candidates, self._taxonomy)
        )
        state = self._index_state = (now_ms, day, index)
        if self._pacer is not None and (
            self._paced_at is None or not 0 <= now_ms - self._paced_at < UPDATE_INTERVAL_S * 1000
        ):
            if self._paced_at is None:
                self._pace(self._pacer, index, now_ms, day)
            else:
                self._pace_in_background(self._pacer, index, now_ms, day)
            self._paced_at = now_ms
        return state

    def _pace_in_background(
        self, pacer: Pacer, index: CampaignIndex, now_ms: int, day: str
    ) -> None:
        """`_pace` in a thread of its own; until it ends, the current throttles apply."""
        if self._pacing:
            return
        self._pacing = True

        def run() -> None:
            try:
                self._pace(pacer, index, now_ms, day)
            except Exception:  # the current throttles stay; the next interval retries
                log.exception("updating the pacing throttles failed")
            finally:
                self._pacing = False

        threading.Thread(target=run, name="fairview-pacing", daemon=True).start()

    def _pace(self, pacer: Pacer, index: CampaignIndex, now_ms: int, day: str) -> None:
        """Re-evaluate every campaign's throttle from ledger spend and what is in flight."""
        inputs = self._store.settlement.pacing_inputs(day)
        goals, spent, in_flight = [], {}, {}
        for candidate in index.candidates:
            c = candidate.campaign
            got = inputs.get(c.id)
            if got is None:
                continue
            goals.append(pacing_goal(c, got.spent_before_today, now_ms))
            spent[c.id] = got.spent_today
            in_flight[c.id] = in_flight_estimate(
                got.pending_today,
                got.settled,
                got.settled_amount,
                prior_charge(c.billing_model, c.bid),
            )
        pacer.update(now_ms, goals, spent, in_flight)

    def _admitted(self, campaign_id: str) -> bool:
        return self._pacer is None or self._pacer.admit(campaign_id, self._rng)

    def refresh(self) -> None:
        """Forget the index, so the next decision sees catalog changes at once."""
        self._index_state = None

    def verify_token(self, token: str, now_ms: int) -> DeliveryClaims:
        """The claims of a delivery token this server signed (FairviewError otherwise)."""
        return self._signer.verify(token, now_ms)

    def _advertiser(self, advertiser_id: str) -> tuple[str, str]:
        known = self._advertisers.get(advertiser_id)
        if known is None:
            record = self._store.catalog.get_advertiser(advertiser_id)
            known = (record.name, record.currency) if record else (advertiser_id, "EUR")
            self._advertisers[advertiser_id] = known
        return known

    def _advertiser_name(self, advertiser_id: str) -> str:
        return self._advertiser(advertiser_id)[0]

    def advertiser_currency(self, advertiser_id: str) -> str:
        return self._advertiser(advertiser_id)[1]

    def _deliver(
        self,
        request: AdRequest,
        viewer: str | None,
        permissions: Permissions,
        candidate: Candidate,
        creative: CreativeRecord,
        why: Mapping[str, Any],
        now_ms: int,
    ) -> ServedAd:
        delivery = DeliveryRecord(
            id=delivery_id(now_ms),
            campaign_id=candidate.campaign.id,
            creative_id=creative.id,
            placement=request.placement,
            viewer_key=viewer,
            region=request.region,
            device_class=request.device_class,
            mode=permissions.mode.value,
            duration_ms=creative.duration_ms,
            issued_ms=now_ms,
            why=why,
        )
        token = self._signer.sign(
            DeliveryClaims(
                delivery.id,
                delivery.campaign_id,
                creative.id,
                creative.duration_ms,
                now_ms,
                delivery.mode,
            )
        )
        advertiser = self._advertiser_name(candidate.campaign.advertiser_id)
        return ServedAd(
            delivery,
            creative,
            candidate.campaign.advertiser_id,
            token,
            advertiser,
            candidate.campaign.payer or advertiser,
            candidate.campaign.frequency_cap is not None,
        )


def _interest_topics(label: tuple[int, ...]) -> frozenset[int]:
    """A cohort's label topics with their ancestors: `/Sports` targets a `/Sports/Soccer` cohort."""
    return frozenset(a for topic in label for a in ancestors(topic))


def _rotating_creative(candidate: Candidate, now_ms: int) -> CreativeRecord:
    return candidate.creatives[now_ms % len(candidate.creatives)]


SELECTION_ROTATION = "rotation among eligible campaigns with budget left"
SELECTION_RANKED = (
    "the highest expected value among eligible campaigns: the advertiser's price times the "
    "predicted chance of a billable view (from playback history, never from biometrics)"
)


def _why(
    permissions: Permissions,
    context: Context,
    grounds: tuple[str, ...],
    taxonomy: Taxonomy,
    selection: str,
) -> dict[str, Any]:
    """The main parameters the decision used, in the words "why this ad" shows."""
    topics = [t.label for t in map(taxonomy.get, context.topics) if t is not None]
    cohort = next((g for g in grounds if g.startswith("interest cohort:")), None)
    return {
        "mode": permissions.mode.value,
        "rows": list(permissions.rows),
        "personalised": permissions.mode is Mode.PERSONALISED and cohort is not None,
        "content_topics": topics,
        "matched": list(grounds),
        "cohort": context.cohort if cohort is not None else None,
        "selection": selection,
    }


@functools.lru_cache(maxsize=8)
def _date_of(day: int) -> date:
    """The UTC date of a day number (epoch ms // DAY_MS)."""
    return datetime.fromtimestamp(day * 86_400, tz=UTC).date()


def delivery_id(now_ms: int) -> str:
    """A new delivery id: `dl_`, the issue time (11 hex digits of epoch ms) and 96 random bits.

    Time first, so ids sort by issue time and new rows append to the primary-key
    B-trees (deliveries, settlements) instead of landing on random pages: a group
    commit then writes a few pages to the WAL rather than one or more per row. The
    random part keeps ids unguessable.
    """
    return f"dl_{now_ms:011x}{_random_part()}"


class _RandomParts:
    """96-bit random parts (16 URL-safe characters) from the OS's CSPRNG, read 4 KiB at a time.

    `os.urandom` releases the GIL around its system call, so calling it for every
    decision gave the interpreter away once per request, and in a server the decision
    then waited for the writer thread to hand it back (py-spy showed ~2 % of the
    request path there). The bytes are the same `os.urandom` bytes, each used once.
    """

    SIZE = 12
    BATCH = 4096 - 4096 % 12

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        # A forked child must not reuse the parent's unread bytes (the ids would repeat).
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._pool, self._at = b"", 0

    def __call__(self) -> str:
        with self._lock:
            if self._at + self.SIZE > len(self._pool):
                self._pool, self._at = os.urandom(self.BATCH), 0
            part = self._pool[self._at : self._at + self.SIZE]
            self._at += self.SIZE
        return base64.urlsafe_b64encode(part).decode()


_random_part = _RandomParts()


def _not_recorded() -> FairviewError:
    return FairviewError(
        "store_unavailable",
        "The ad decision could not be recorded, so no ad was served; retry the request.",
        status=503,
    )


def _relies_on_consent(p: Permissions) -> bool:
    """Whether the decision used a basis the viewer gave (so Art. 7(1) evidence is owed)."""
    return p.storage or p.measurement is Measurement.USER or p.mode is Mode.PERSONALISED


def _evidence(
    viewer: str, raw: RawSignals, read: ReadSignals, p: Permissions, now_ms: int
) -> ConsentEvidence:
    meta = _cmp_fields(raw.tc_string) if "tc_string" not in read.errors else (None, None, None)
    return ConsentEvidence(
        viewer_key=viewer,
        received_ms=now_ms,
        region=raw.region or "ZZ",
        tc_string=raw.tc_string,
        cmp_id=meta[0],
        cmp_version=meta[1],
        policy_version=meta[2],
        gpp_string=raw.gpp_string,
        gpc=raw.gpc,
        mode=p.mode.value,
        rows=",".join(p.rows),
    )


def _cmp_fields(tc_string: str | None) -> tuple[int | None, int | None, int | None]:
    if not tc_string:
        return None, None, None
    model = decode_tc(tc_string)
    return model.cmp_id, model.cmp_version, model.policy_version
