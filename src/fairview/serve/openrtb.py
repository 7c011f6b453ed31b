"""OpenRTB 2.6 bid requests in, bid responses out: a pure translation layer.

`parse_bid_request` reads only the fields fairview needs into a frozen
`BidRequestView`. OpenRTB allows extensions, so unknown fields are skipped, but
every field that is read must have its documented type. Identifiers (device.ip,
ipv6, ifa, ua, geo.lat/lon, user.id, buyeruid, eids, …) are never declared in
the wire shapes below, so they cannot reach the view; the user agent is read
once to tell a phone from a tablet and then dropped, as in `serve.context`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Final

import msgspec
import pycountry

from fairview.consent.signals import RawSignals
from fairview.errors import FairviewError
from fairview.serve.context import DeviceClass, device_class

SUPPORTED_VERSIONS: Final = ("2.5", "2.6")
DEFAULT_PLACEMENT: Final = "openrtb"
DEFAULT_CATTAX: Final = 1  # IAB Content Category Taxonomy 1.0, the spec's default
COPPA_AGE: Final = 12  # regs.coppa=1 says "a child under 13"; the youngest reading is the safe one
VIDEO: Final = 2  # bid.mtype
SKIPPABLE: Final = 16  # creative attribute (AdCOM list 5.3)

_Flag = Annotated[int, msgspec.Meta(ge=0, le=1)]
_Int = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
_Seconds = Annotated[int, msgspec.Meta(ge=0, le=86_400)]
_Price = Annotated[float, msgspec.Meta(ge=0, le=1e9)]
_Currency = Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{3}$")]
_Text = Annotated[str, msgspec.Meta(max_length=8192)]


class _Video(msgspec.Struct):
    mimes: tuple[_Text, ...]
    minduration: _Seconds | None = None
    maxduration: _Seconds | None = None
    rqddurs: tuple[_Seconds, ...] | None = None
    skip: _Flag | None = None


class _Imp(msgspec.Struct):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    video: _Video | None = None
    tagid: _Text | None = None
    bidfloor: _Price | None = None
    bidfloorcur: _Currency | None = None


class _Content(msgspec.Struct):
    cat: tuple[_Text, ...] | None = None
    cattax: _Int | None = None
    language: _Text | None = None
    langb: _Text | None = None


class _Property(msgspec.Struct):  # site or app
    cat: tuple[_Text, ...] | None = None
    cattax: _Int | None = None
    content: _Content | None = None


class _Geo(msgspec.Struct):
    country: _Text | None = None
    region: _Text | None = None


class _Device(msgspec.Struct):
    ua: str | None = None  # read once for the device class, never kept
    devicetype: _Int | None = None
    language: _Text | None = None
    langb: _Text | None = None
    lmt: _Flag | None = None
    dnt: _Flag | None = None
    geo: _Geo | None = None


class _UserExt(msgspec.Struct):
    consent: _Text | None = None


class _User(msgspec.Struct):
    consent: _Text | None = None
    ext: _UserExt | None = None


class _RegsExt(msgspec.Struct):  # OpenRTB 2.5 locations, common in the wild
    gdpr: _Flag | None = None
    us_privacy: _Text | None = None
    gpc: _Text | _Int | None = None  # Prebid's convention for Sec-GPC


class _Regs(msgspec.Struct):
    coppa: _Flag | None = None
    gdpr: _Flag | None = None
    us_privacy: _Text | None = None
    gpp: _Text | None = None
    gpp_sid: tuple[_Int, ...] | None = None
    ext: _RegsExt | None = None


class _Request(msgspec.Struct):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    imp: Annotated[tuple[_Imp, ...], msgspec.Meta(min_length=1)] | None = None
    cur: tuple[_Currency, ...] | None = None
    site: _Property | None = None
    app: _Property | None = None
    device: _Device | None = None
    user: _User | None = None
    regs: _Regs | None = None
    test: _Flag | None = None
    tmax: Annotated[int, msgspec.Meta(ge=0, le=600_000)] | None = None
    openrtb: dict[str, object] | None = None  # the OpenRTB 3.0 envelope


@dataclass(frozen=True, slots=True)
class VideoSlot:
    imp_id: str
    placement: str  # imp.tagid, else "openrtb"
    mimes: tuple[str, ...]
    min_duration_s: int | None
    max_duration_s: int | None
    required_durations_s: tuple[int, ...]  # rqddurs
    skippable: bool | None  # video.skip; None when the exchange did not say
    bidfloor: float  # CPM in `bidfloorcur`
    bidfloorcur: str

    def accepts_duration(self, duration_s: int) -> bool:
        """Whether a creative this long may fill the slot (rqddurs wins over min/max)."""
        if self.required_durations_s:
            return duration_s in self.required_durations_s
        high = self.max_duration_s
        return (self.min_duration_s or 0) <= duration_s and (high is None or duration_s <= high)


@dataclass(frozen=True, slots=True)
class BidRequestView:
    id: str
    video_slots: tuple[VideoSlot, ...]  # only imps with `video`; empty means "answer 204"
    currencies: tuple[str, ...]  # cur; empty means the exchange did not restrict (USD)
    region: str  # "DE", "US-CA", …; "ZZ" when unknown
    language: str | None  # ISO 639-1, lower case
    device_class: DeviceClass
    content_topics: tuple[str, ...]  # category ids as given, in taxonomy `cattax`
    cattax: int
    signals: RawSignals
    gdpr: bool | None  # regs.gdpr; None when the exchange does not know
    us_privacy: str | None  # regs.us_privacy, kept for the record; the policy reads GPP
    gpp_sid: tuple[int, ...]  # GPP sections that apply (3 and 4 are never sections)
    limit_ad_tracking: bool  # device.lmt or device.dnt: store nothing per device
    coppa: bool
    test: bool
    tmax_ms: int | None


@dataclass(frozen=True, slots=True)
class Bid:
    imp_id: str
    price: float  # CPM in the response currency
    adm: str  # the VAST XML
    burl: str  # billing notice URL, see `bid_response`
    crid: str
    cid: str
    adomain: tuple[str, ...]
    duration_s: int
    id: str | None = None  # bid.id; defaults to its 1-based position in the response


def parse_bid_request(body: bytes, *, version: str | None = None) -> BidRequestView:
    """Read an OpenRTB 2.5/2.6 BidRequest; `version` is the x-openrtb-version header.

    Raises FairviewError (400) with code `malformed_json` (not UTF-8 JSON),
    `invalid_bid_request` (a read field is missing or has the wrong type or range;
    `field` names it, e.g. "imp[0].video.mimes") or `unsupported_version`
    (a header other than 2.5/2.6, or an OpenRTB 3.0 envelope). Never another error.
    """
    _check_version(version)
    wire = _decode(body)
    if wire.openrtb is not None:
        raise _unsupported("the body is an OpenRTB 3.0 envelope; send OpenRTB 2.5 or 2.6")
    if wire.id is None:
        raise _invalid("id", "id is required")
    if wire.imp is None:
        raise _invalid("imp", "imp is required (a list of at least one impression)")
    region = _region(wire.device.geo if wire.device else None)
    topics, cattax = _topics(wire.site or wire.app)
    regs = wire.regs or _Regs()
    regs_ext = regs.ext or _RegsExt()
    gdpr = regs.gdpr if regs.gdpr is not None else regs_ext.gdpr
    device = wire.device or _Device()
    content = (wire.site or wire.app or _Property()).content or _Content()
    return BidRequestView(
        id=wire.id,
        video_slots=tuple(
            _slot(i, imp, imp.video) for i, imp in enumerate(wire.imp) if imp.video is not None
        ),
        currencies=tuple(code.upper() for code in wire.cur or ()),
        region=region,
        language=_language(device.language, device.langb, content.language, content.langb),
        device_class=_device_class(device),
        content_topics=topics,
        cattax=cattax,
        signals=_signals(wire, regs, regs_ext, gdpr, region),
        gdpr=None if gdpr is None else gdpr == 1,
        us_privacy=regs.us_privacy if regs.us_privacy is not None else regs_ext.us_privacy,
        gpp_sid=tuple(sid for sid in regs.gpp_sid or () if sid not in (3, 4)),
        limit_ad_tracking=device.lmt == 1 or device.dnt == 1,
        coppa=regs.coppa == 1,
        test=wire.test == 1,
        tmax_ms=wire.tmax,
    )


def bid_response(
    request: BidRequestView,
    bids: Sequence[Bid],
    *,
    currency: str = "USD",
    seat: str = "fairview",
    bidid: str | None = None,
) -> dict[str, object]:
    """An OpenRTB 2.6 BidResponse (a JSON-ready dict) for bids on the request's video slots.

    `burl` is the exchange's billing notice: the exchange calls it when *it*
    deems the ad billable. Fairview debits budgets only from its own ledger,
    by the focused-view rule (≥6 s watched, or an interaction after the first
    second); a burl hit is recorded for reconciliation, never as spend.
    Raises ValueError on caller mistakes: no bids (answer HTTP 204 instead), a
    bid for an imp that is not a video slot, a negative or non-finite price, or
    a currency outside `request.currencies`.
    """
    if not bids:
        raise ValueError("no bids: answer HTTP 204 No Content instead of a BidResponse")
    if request.currencies and currency not in request.currencies:
        raise ValueError(f"currency {currency} is not among the request's {request.currencies}")
    slots = {slot.imp_id: slot for slot in request.video_slots}
    response: dict[str, object] = {
        "id": request.id,
        "seatbid": [{"seat": seat, "bid": [_bid(n, bid, slots) for n, bid in enumerate(bids, 1)]}],
        "cur": currency,
    }
    if bidid is not None:
        response["bidid"] = bidid
    return response


def _bid(position: int, bid: Bid, slots: Mapping[str, VideoSlot]) -> dict[str, object]:
    slot = slots.get(bid.imp_id)
    if slot is None:
        raise ValueError(f"imp {bid.imp_id!r} is not a video slot of this request")
    if not (math.isfinite(bid.price) and bid.price >= 0):
        raise ValueError(f"price must be a finite, non-negative CPM, not {bid.price}")
    out: dict[str, object] = {
        "id": bid.id if bid.id is not None else str(position),
        "impid": bid.imp_id,
        "price": bid.price,
        "adm": bid.adm,
        "burl": bid.burl,
        "crid": bid.crid,
        "cid": bid.cid,
        "adomain": list(bid.adomain),
        "mtype": VIDEO,
        "dur": bid.duration_s,
    }
    if slot.skippable:
        out["attr"] = [SKIPPABLE]
    return out


def _check_version(version: str | None) -> None:
    if version is None:
        return
    # "2.6", "2.6-202303" and "2.5.1" name the same versions for our purposes.
    major_minor = ".".join(version.strip().split("-")[0].split(".")[:2])
    if major_minor not in SUPPORTED_VERSIONS:
        raise _unsupported(f"OpenRTB version {version!r} is not supported; send 2.5 or 2.6")


def _decode(body: bytes) -> _Request:
    try:
        return msgspec.json.decode(body, type=_Request)
    except msgspec.ValidationError as exc:
        raise _from_validation(str(exc)) from None
    except (msgspec.DecodeError, ValueError) as exc:  # ValueError: invalid UTF-8 in a string
        raise FairviewError(
            "malformed_json", f"the body is not UTF-8 JSON: {exc}", status=400
        ) from None


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]*)`, got `(?P<got>[^`]*)`$")
_NOUNS = {"array": "a list", "object": "an object", "str": "a string", "int": "an integer"}
_NOUNS |= {"float": "a number", "null": "null", "bool": "true or false"}


def _from_validation(text: str) -> FairviewError:
    parts = _AT.match(text)
    message, path = (parts["message"], parts["path"] or "") if parts else (text, "")
    field = path.lstrip(".")
    if missing := _MISSING.match(message):
        field = f"{field}.{missing['name']}".lstrip(".")
        return _invalid(field, f"{field} is required")
    if not field:
        return _invalid(None, f"a bid request must be a JSON object: {message}")
    if expected := _EXPECTED.match(message):
        want = " or ".join(_NOUNS.get(t, t) for t in expected["want"].split(" | ") if t != "null")
        return _invalid(field, f"{field} must be {want}, not {_NOUNS.get(expected['got'], '?')}")
    return _invalid(field, f"{field}: {message[:1].lower()}{message[1:]}")


def _invalid(field: str | None, detail: str) -> FairviewError:
    return FairviewError("invalid_bid_request", detail, status=400, field=field)


def _unsupported(detail: str) -> FairviewError:
    return FairviewError("unsupported_version", detail, status=400)


def _slot(index: int, imp: _Imp, video: _Video) -> VideoSlot:
    low, high = video.minduration, video.maxduration
    if low is not None and high is not None and low > high:
        field = f"imp[{index}].video.minduration"
        raise _invalid(field, f"{field} ({low} s) is above maxduration ({high} s)")
    return VideoSlot(
        imp_id=imp.id,
        placement=imp.tagid or DEFAULT_PLACEMENT,
        mimes=video.mimes,
        min_duration_s=low,
        max_duration_s=high,
        required_durations_s=video.rqddurs or (),
        skippable=None if video.skip is None else video.skip == 1,
        bidfloor=imp.bidfloor or 0.0,
        bidfloorcur=(imp.bidfloorcur or "USD").upper(),
    )


@cache
def _alpha2_by_code() -> dict[str, str]:
    by_code = {country.alpha_3: country.alpha_2 for country in pycountry.countries}
    # Spec says alpha-3, but alpha-2 is common in the wild and unambiguous.
    return by_code | {alpha2: alpha2 for alpha2 in by_code.values()}


@cache
def _subdivisions() -> frozenset[str]:
    return frozenset(str(subdivision.code) for subdivision in pycountry.subdivisions)


def _region(geo: _Geo | None) -> str:
    """ISO 3166-1 alpha-2 country, plus the ISO 3166-2 subdivision when it exists."""
    if geo is None or geo.country is None:
        return "ZZ"
    country = _alpha2_by_code().get(geo.country.strip().upper())
    if country is None:
        return "ZZ"
    part = (geo.region or "").strip().upper().removeprefix(f"{country}-")
    if part and f"{country}-{part}" in _subdivisions():
        return f"{country}-{part}"
    return country


_LANGUAGE = re.compile(r"[a-z]{2}")


def _language(*candidates: str | None) -> str | None:
    """The first ISO 639-1 code among language fields (BCP-47 `langb` gives its primary tag)."""
    for value in candidates:
        primary = re.split(r"[-_]", (value or "").strip().lower())[0]
        if _LANGUAGE.fullmatch(primary):
            return primary
    return None


# AdCOM DeviceType: 1 mobile/tablet (refined by the user agent), 6 connected device, 8 OOH.
_DEVICE_TYPES = {2: DeviceClass.DESKTOP, 3: DeviceClass.TV, 4: DeviceClass.MOBILE}
_DEVICE_TYPES |= {5: DeviceClass.TABLET, 7: DeviceClass.TV}


def _device_class(device: _Device) -> DeviceClass:
    from_ua = device_class(device.ua)
    if device.devicetype is None:
        return from_ua
    if device.devicetype == 1:
        return DeviceClass.TABLET if from_ua is DeviceClass.TABLET else DeviceClass.MOBILE
    return _DEVICE_TYPES.get(device.devicetype, DeviceClass.UNKNOWN)


def _topics(place: _Property | None) -> tuple[tuple[str, ...], int]:
    """Content categories win over the site's or app's, each with its own taxonomy."""
    if place is None:
        return (), DEFAULT_CATTAX
    content = place.content
    source = content if content is not None and content.cat else place
    cattax = source.cattax if source.cattax is not None else DEFAULT_CATTAX
    return tuple(dict.fromkeys(source.cat or ())), cattax


def _signals(
    wire: _Request, regs: _Regs, regs_ext: _RegsExt, gdpr: int | None, region: str
) -> RawSignals:
    user = wire.user or _User()
    consent = user.consent if user.consent is not None else (user.ext or _UserExt()).consent
    return RawSignals(
        region=region,
        # gdpr=0 says the TCF does not apply, so a stray TC string must not be read.
        tc_string=(consent or None) if gdpr != 0 else None,
        gpp_string=regs.gpp or None,
        gpc=regs_ext.gpc in ("1", 1),
        age=COPPA_AGE if regs.coppa == 1 else None,
    )
