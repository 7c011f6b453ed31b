"""Organic views from the platform, the viewer's own interest controls, targetable cohorts.

- `POST /v1/views` (platform operator key): watch time per viewer and video. A
  view updates the viewer's interest profile only when the viewer's signals
  allow profiling, the video is not sensitive and the viewer has not paused;
  when the signals no longer allow profiling at all, the stored profile is
  deleted.
- `/v1/me/…` (the platform's signed viewer token): see interests, remove or
  restore a topic, pause or resume personalisation — effective on the next
  decision.
- `GET /v1/cohorts` (advertiser key): the served cohorts' ids, sizes and topic
  labels. No endpoint ever lists who is in a cohort.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from fairview.api.deps import AdvertiserDep, OperatorDep, Services, ServicesDep
from fairview.api.errors import body_error
from fairview.api.schemas import to_datetime
from fairview.audience import topics as tx
from fairview.audience.classify import Classifier, VideoMeta, keyword_labels, video_text
from fairview.audience.profile import (
    EPOCHS_KEPT,
    credit_s,
    epoch_of,
    profile_vector,
    split_credit,
)
from fairview.collect.firewall import find_prohibited, prohibited_detail
from fairview.consent.signals import RawSignals
from fairview.errors import FairviewError, NotFound
from fairview.serve.context import REGION_PATTERN
from fairview.storage.audience import VideoRecord, WatchCredit

router = APIRouter(prefix="/v1")

MAX_VIEWS = 500
FUTURE_SLACK_MS = 5 * 60 * 1000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VideoIn(_In):
    id: str = Field(min_length=1, max_length=100, description="The platform's video id.")
    title: str | None = Field(None, max_length=300)
    hashtags: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=30
    )
    category: str | None = Field(None, max_length=100)
    duration_s: float | None = Field(None, gt=0, le=86_400)
    topics: list[int] | None = Field(
        None,
        max_length=3,
        description="Interest topics (Privacy Sandbox Topics v2 ids) the platform assigned; "
        "without them fairview classifies the title, hashtags and category.",
    )
    sensitive_context: bool = Field(
        False, description="The platform knows the video is special-category (Art. 9) content."
    )


class ViewIn(_In):
    user_ref: str = Field(min_length=1, max_length=200)
    video: VideoIn
    watched_s: float = Field(ge=0, le=86_400, description="Organic seconds watched.")
    at: AwareDatetime | None = Field(None, description="When the view ended; default: now.")
    region: str = Field("ZZ", pattern=REGION_PATTERN)
    tc_string: str | None = Field(None, max_length=8192)
    gpp: str | None = Field(None, max_length=8192)
    age: int | None = Field(None, ge=0, le=130, strict=True)
    gpc: bool = Field(False, description="The viewer's browser sent Sec-GPC: 1.")


class ViewsIn(_In):
    views: list[ViewIn] = Field(min_length=1, max_length=MAX_VIEWS)


Outcome = Literal["profiled", "not_profiled"]


class ViewResult(BaseModel):
    outcome: Outcome
    reason: str = Field(
        description="profiled, no_profiling_permission, sensitive_context, outside_window, "
        "no_topics, paused, removed_topic"
    )
    video_topics: list[int]


class ViewsResult(BaseModel):
    results: list[ViewResult]
    profiled: int


class InterestOut(BaseModel):
    id: int
    name: str
    path: str
    share: float = Field(description="Share of the profile, 0–1.")


class RemovedOut(BaseModel):
    id: int
    name: str
    path: str


class CohortLabel(BaseModel):
    topics: list[str]


class InterestsOut(BaseModel):
    personalisation: Literal["active", "paused"]
    interests: list[InterestOut]
    removed: list[RemovedOut]
    cohort: CohortLabel | None
    how_it_works: str


class PersonalisationIn(_In):
    paused: bool


class CohortOut(BaseModel):
    id: str
    size_at_least: int
    topics: list[str]
    epoch_started: datetime


_CLASSIFIER: Classifier | None = None
_CLASSIFIER_LOCK = threading.Lock()


def _classifier() -> Classifier:
    """One classifier per process, loaded on first need (the model loads in about a second)."""
    global _CLASSIFIER
    with _CLASSIFIER_LOCK:
        if _CLASSIFIER is None:
            _CLASSIFIER = Classifier.load()
        return _CLASSIFIER


@router.post("/views", response_model=ViewsResult)
async def report_views(request: Request, services: ServicesDep, _: OperatorDep) -> ViewsResult:
    """Organic watch time of viewers, from the platform's servers (see the module docstring)."""
    raw = await request.body()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        found = next((p for p in find_prohibited(parsed) if _last(p) not in _DECLARED), None)
        if found is not None:
            raise FairviewError("prohibited_field", prohibited_detail(found), status=422)
    try:
        body = ViewsIn.model_validate_json(raw)
    except ValidationError as exc:
        raise body_error(exc) from None
    return await run_in_threadpool(_record_views, services, body)


_DECLARED = frozenset({"views", *ViewIn.model_fields, *VideoIn.model_fields})


def _last(path: str) -> str:
    """The field name at the end of a dotted path such as `views[0].video.title`."""
    return path.rsplit(".", 1)[-1].split("[", 1)[0]


def _record_views(services: Services, body: ViewsIn) -> ViewsResult:
    """Judge every view, then write the batch's profile updates in one transaction."""
    now_ms = services.clock.now_ms()
    for view in body.views:  # refuse the whole batch before anything is written
        if _at_ms(view, now_ms) > now_ms + FUTURE_SLACK_MS:
            raise FairviewError(
                "view_in_future",
                f"A view of video '{view.video.id}' is dated in the future; send the time the "
                "view ended, with its time zone. Nothing of this batch was stored.",
                status=422,
            )
    videos = _videos(services, [v.video for v in body.views], now_ms)
    results: list[ViewResult] = []
    credits: list[WatchCredit] = []
    for view in body.views:
        result, credit = _judge(services, view, videos[view.video.id], now_ms)
        results.append(result)
        if credit is not None:
            credits.append(credit)
    services.store.audience.add_watch_many(credits, now_ms)
    return ViewsResult(results=results, profiled=sum(r.outcome == "profiled" for r in results))


def _at_ms(view: ViewIn, now_ms: int) -> int:
    return now_ms if view.at is None else int(view.at.timestamp() * 1000)


def _judge(
    services: Services, view: ViewIn, video: VideoRecord, now_ms: int
) -> tuple[ViewResult, WatchCredit | None]:
    """What one view may change, in the order of the rules (module docstring)."""
    store = services.store
    topics = list(video.topics)

    def skipped(reason: str) -> tuple[ViewResult, None]:
        return ViewResult(outcome="not_profiled", reason=reason, video_topics=topics), None

    viewer = services.pseudonymiser.viewer_key(view.user_ref)
    signals = RawSignals(
        region=view.region,
        tc_string=view.tc_string,
        gpp_string=view.gpp,
        gpc=view.gpc,
        age=view.age,
        sensitive_context=False,
    )
    base, _, evidence = services.decider.permissions(signals, viewer, now_ms)
    if not base.profiling:
        # The basis for a profile is gone (or never was): keep nothing built on it.
        if store.audience.has_profile(viewer):
            store.audience.forget_profile(viewer)
        return skipped("no_profiling_permission")
    if video.sensitive or view.video.sensitive_context:
        return skipped("sensitive_context")  # Art. 9 context: the view writes nothing at all
    epoch = epoch_of(_at_ms(view, now_ms))
    if epoch <= epoch_of(now_ms) - EPOCHS_KEPT:
        return skipped("outside_window")
    credits = split_credit(credit_s(view.watched_s, view.video.duration_s), topics)
    if not credits:
        return skipped("no_topics")
    controls = store.audience.controls(viewer)
    if controls.paused:
        return skipped("paused")
    credits = {t: s for t, s in credits.items() if t not in controls.blocked}
    if not credits:
        return skipped("removed_topic")
    if evidence is not None:
        store.consents.record(evidence)  # Art. 7(1): the consent this profile relies on
    result = ViewResult(outcome="profiled", reason="profiled", video_topics=topics)
    return result, WatchCredit(viewer, epoch, credits, base)


def _videos(services: Services, videos: list[VideoIn], now_ms: int) -> dict[str, VideoRecord]:
    """Stored classifications, classifying (and storing) the videos seen for the first time."""
    store = services.store
    known = store.audience.videos(v.id for v in videos)
    fresh: dict[str, VideoIn] = {}
    for video in videos:
        if video.id not in known or (
            video.topics is not None and known[video.id].method != "platform"
        ):
            fresh[video.id] = video
    if not fresh:
        return known
    records = []
    need_model = [v for v in fresh.values() if v.topics is None and v.title]
    classified = {}
    if need_model:
        found = _classifier().classify_many([_meta(v) for v in need_model])
        classified = {v.id: c for v, c in zip(need_model, found, strict=True)}
    for video in fresh.values():
        labels: frozenset[str] = frozenset()
        if video.title or video.hashtags:
            labels = keyword_labels(video_text(_meta(video)))
        if video.topics is not None:
            unknown = [t for t in video.topics if t not in tx.topics_v2()]
            if unknown:
                raise FairviewError(
                    "unknown_topic",
                    f"Video '{video.id}' names topic id {unknown[0]}, which is not in the "
                    "Topics v2 taxonomy; see GET /v1/topics or docs/topics.md.",
                    status=422,
                )
            topics = tuple(t for t in video.topics if t in tx.allowlist())
            labels |= {tx.sensitive_topics()[t] for t in video.topics if t in tx.sensitive_topics()}
            method = "platform"
        elif video.id in classified:
            topics, labels = classified[video.id].topics, labels | classified[video.id].sensitive
            method = _classifier().path
        else:
            topics, method = (), "unclassified"
        records.append(VideoRecord(video.id, topics, labels, method, now_ms))
    store.audience.save_videos(records)
    known.update({r.id: r for r in records})
    return known


def _meta(video: VideoIn) -> VideoMeta:
    return VideoMeta(video.title or "", tuple(video.hashtags), video.category or "")


# The viewer's own controls ----------------------------------------------------


def viewer_key_of(services: Services, authorization: str | None) -> str:
    """The pseudonym of the viewer a `Bearer <viewer token>` header names (401 if invalid)."""
    token = authorization.removeprefix("Bearer ").strip() if authorization else None
    user_ref = services.viewers.user_ref(token, services.clock.now_ms())
    return services.pseudonymiser.viewer_key(user_ref)


HOW_IT_WORKS = (
    "Your interests come from the topics of videos you watched, and only while you allow "
    "personalised ads. Sensitive content (health, religion, politics, sexuality, ethnicity, "
    "union membership) is never used. Each week keeps your top 5 topics; the last 4 weeks "
    "count, older weeks weigh less. Remove a topic to keep it out for good, or pause "
    "personalisation: both apply to your next ad."
)


def _topic(topic_id: int) -> tuple[str, str]:
    found = tx.topics_v2()[topic_id]
    return found.name, found.path


def _interests(services: Services, viewer: str) -> InterestsOut:
    store = services.store
    now_ms = services.clock.now_ms()
    epoch = epoch_of(now_ms)
    controls = store.audience.controls(viewer)
    rows = store.audience.watch(viewer, epoch - EPOCHS_KEPT + 1)
    vector = profile_vector(viewer, rows, epoch, blocked=controls.blocked, noise=False)
    interests = [
        InterestOut(id=t, name=_topic(t)[0], path=_topic(t)[1], share=round(w, 4))
        for t, w in sorted(vector.items(), key=lambda item: (-item[1], item[0]))
    ]
    removed = [
        RemovedOut(id=t, name=_topic(t)[0], path=_topic(t)[1]) for t in sorted(controls.blocked)
    ]
    cohort = None
    cohort_id = None if controls.paused else store.cohorts.cohort_of(viewer)
    if cohort_id is not None:
        record = next((c for c in store.cohorts.served() if str(c.id) == cohort_id), None)
        if record is not None:
            cohort = CohortLabel(topics=[_topic(t)[0] for t in record.topics])
    return InterestsOut(
        personalisation="paused" if controls.paused else "active",
        interests=interests,
        removed=removed,
        cohort=cohort,
        how_it_works=HOW_IT_WORKS,
    )


ViewerAuth = Annotated[str | None, Header(alias="Authorization")]


@router.get("/me/interests", response_model=InterestsOut)
def my_interests(services: ServicesDep, authorization: ViewerAuth = None) -> InterestsOut:
    """The viewer's interests in plain language, removed topics, and their cohort's label."""
    return _interests(services, viewer_key_of(services, authorization))


def _allowlisted(topic_id: int) -> int:
    if topic_id not in tx.allowlist():
        raise NotFound(
            "unknown_topic",
            f"Topic {topic_id} is not an interest topic fairview uses; list yours with GET "
            "/v1/me/interests.",
        )
    return topic_id


@router.delete("/me/interests/{topic_id}", response_model=InterestsOut)
def remove_interest(
    topic_id: int, services: ServicesDep, authorization: ViewerAuth = None
) -> InterestsOut:
    """Remove a topic from the profile and keep it out; leaves a cohort labelled with it."""
    viewer = viewer_key_of(services, authorization)
    services.store.audience.remove_topic(viewer, _allowlisted(topic_id), services.clock.now_ms())
    return _interests(services, viewer)


@router.post("/me/interests/{topic_id}/restore", response_model=InterestsOut)
def restore_interest(
    topic_id: int, services: ServicesDep, authorization: ViewerAuth = None
) -> InterestsOut:
    """Allow a removed topic again (watch time deleted by the removal stays deleted)."""
    viewer = viewer_key_of(services, authorization)
    services.store.audience.restore_topic(viewer, _allowlisted(topic_id))
    return _interests(services, viewer)


@router.put("/me/personalisation", response_model=InterestsOut)
def set_personalisation(
    services: ServicesDep,
    body: Annotated[PersonalisationIn, Body()],
    authorization: ViewerAuth = None,
) -> InterestsOut:
    """Pause or resume personalised ads: paused, no cohort is used and no view is profiled."""
    viewer = viewer_key_of(services, authorization)
    services.store.audience.set_paused(viewer, body.paused, services.clock.now_ms())
    return _interests(services, viewer)


# Advertisers -------------------------------------------------------------------

SIZE_ROUNDING = 100


@router.get("/cohorts", response_model=list[CohortOut])
def targetable_cohorts(services: ServicesDep, _: AdvertiserDep) -> list[CohortOut]:
    """Cohorts an advertiser may target this epoch: opaque id, size (rounded down), topics.

    Ids change every epoch. Only cohorts of at least k_min viewers that passed the
    sensitivity audit are listed; members never are.
    """
    run = services.store.cohorts.current_run()
    if run is None:
        return []
    return [
        CohortOut(
            id=str(c.id),
            size_at_least=c.size // SIZE_ROUNDING * SIZE_ROUNDING,
            topics=[_topic(t)[0] for t in c.topics],
            epoch_started=to_datetime(run.created_ms),
        )
        for c in services.store.cohorts.served()
    ]
