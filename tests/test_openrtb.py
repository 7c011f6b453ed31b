"""OpenRTB 2.6 in and out: the spec's examples, stable errors, signals and no identifiers."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairview.consent.signals import RawSignals, read_signals
from fairview.errors import FairviewError
from fairview.serve.context import DeviceClass
from fairview.serve.openrtb import (
    COPPA_AGE,
    Bid,
    BidRequestView,
    VideoSlot,
    bid_response,
    parse_bid_request,
)

DATA = Path(__file__).parent / "data" / "openrtb26"
REQUESTS = sorted(DATA.glob("6_2_*_bid-request_*.json"))
RESPONSES = sorted(DATA.glob("6_3_*_bid-response_*.json"))
VIDEO_EXAMPLE = DATA / "6_2_4_bid-request_video.json"
TC = "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA.YAAAAAAAAAAA"
GPP = "DBABM~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
CODES = {"malformed_json", "invalid_bid_request", "unsupported_version"}


def _request(**fields: Any) -> dict[str, Any]:
    """A minimal valid video request; keyword arguments replace top-level fields."""
    base: dict[str, Any] = {
        "id": "req-1",
        "imp": [{"id": "1", "tagid": "preroll", "video": {"mimes": ["video/mp4"], "skip": 1}}],
    }
    return base | fields


def _parse(doc: object) -> BidRequestView:
    return parse_bid_request(json.dumps(doc).encode())


def _error(body: bytes, **kwargs: Any) -> FairviewError:
    with pytest.raises(FairviewError) as caught:
        parse_bid_request(body, **kwargs)
    assert caught.value.status == 400
    return caught.value


def _bid(**fields: Any) -> Bid:
    values: dict[str, Any] = {
        "imp_id": "1",
        "price": 4.5,
        "adm": "<VAST version='4.2'/>",
        "burl": "https://ads.example/v1/billing?d=abc&p=${AUCTION_PRICE}",
        "crid": "cr-1",
        "cid": "cp-1",
        "adomain": ("brand.example",),
        "duration_s": 15,
    }
    return Bid(**(values | fields))


def _wire(response: dict[str, object]) -> Any:
    """The response as an exchange reads it: after a JSON round trip."""
    return json.loads(json.dumps(response))


def _bids(response: dict[str, object]) -> list[dict[str, Any]]:
    bids: list[dict[str, Any]] = _wire(response)["seatbid"][0]["bid"]
    return bids


# --- the spec's examples -------------------------------------------------------------


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
def test_every_example_request_parses(path: Path) -> None:
    view = parse_bid_request(path.read_bytes())
    assert view.id == json.loads(path.read_text())["id"]


def test_examples_are_all_there() -> None:
    assert (len(REQUESTS), len(RESPONSES)) == (5, 4)


def test_video_example_yields_its_slot() -> None:
    view = parse_bid_request(VIDEO_EXAMPLE.read_bytes())
    assert view.video_slots == (
        VideoSlot(
            imp_id="1",
            placement="openrtb",
            mimes=("video/x-flv", "video/mp4", "application/javascript"),
            min_duration_s=5,
            max_duration_s=30,
            required_durations_s=(),
            skippable=None,
            bidfloor=0.03,
            bidfloorcur="USD",
        ),
    )
    assert (view.tmax_ms, view.device_class) == (120, DeviceClass.DESKTOP)
    assert (view.content_topics, view.cattax) == (("IAB2-2",), 1)  # content.cat wins over site.cat
    assert (view.region, view.currencies) == ("ZZ", ())


@pytest.mark.parametrize("path", [p for p in REQUESTS if p != VIDEO_EXAMPLE], ids=lambda p: p.stem)
def test_banner_only_requests_have_no_video_slot(path: Path) -> None:
    assert parse_bid_request(path.read_bytes()).video_slots == ()


def test_mobile_example_reads_device_and_app() -> None:
    view = parse_bid_request((DATA / "6_2_3_bid-request_mobile.json").read_bytes())
    assert (view.device_class, view.language) == (DeviceClass.MOBILE, "en")
    assert view.content_topics == ("IAB15", "IAB15-10")
    assert not view.limit_ad_tracking


def _types(value: object) -> object:
    """A JSON value's shape: the type names of scalars, recursively."""
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value[:1]]
    return "number" if isinstance(value, int | float) else type(value).__name__


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.stem)
def test_response_has_the_example_shape(path: Path) -> None:
    example = json.loads(path.read_text())
    view = parse_bid_request(VIDEO_EXAMPLE.read_bytes())
    ours = bid_response(view, [_bid()], bidid="dec-1")
    assert json.loads(json.dumps(ours)) == ours
    assert {"id", "seatbid"} <= ours.keys()
    our_bid = _bids(ours)[0]
    example_bid = example["seatbid"][0]["bid"][0]
    assert {"id", "impid", "price"} <= example_bid.keys() & our_bid.keys()
    shared = example.keys() & ours.keys() - {"seatbid"}
    assert _types({k: ours[k] for k in shared}) == _types({k: example[k] for k in shared})
    shared_bid = example_bid.keys() & our_bid.keys()
    assert _types({k: our_bid[k] for k in shared_bid}) == _types(
        {k: example_bid[k] for k in shared_bid}
    )


# --- bid responses -------------------------------------------------------------------


def test_response_fields() -> None:
    view = _parse(_request(cur=["EUR"]))
    response = bid_response(view, [_bid(), _bid(id="dec-9", adomain=())], currency="EUR")
    assert response["id"] == "req-1"
    assert response["cur"] == "EUR"
    assert "bidid" not in response
    assert _wire(response)["seatbid"][0]["seat"] == "fairview"
    first, second = _bids(response)
    assert first == {
        "id": "1",
        "impid": "1",
        "price": 4.5,
        "adm": "<VAST version='4.2'/>",
        "burl": "https://ads.example/v1/billing?d=abc&p=${AUCTION_PRICE}",
        "crid": "cr-1",
        "cid": "cp-1",
        "adomain": ["brand.example"],
        "mtype": 2,
        "dur": 15,
        "attr": [16],
    }
    assert (second["id"], second["adomain"]) == ("dec-9", [])


def test_no_skippable_attribute_unless_the_slot_is_skippable() -> None:
    imp = {"id": "1", "video": {"mimes": ["video/mp4"], "skip": 0}}
    (bid,) = _bids(bid_response(_parse(_request(imp=[imp])), [_bid()]))
    assert "attr" not in bid


@pytest.mark.parametrize(
    ("bids", "kwargs", "message"),
    [
        ([], {}, "204"),
        ([_bid(imp_id="2")], {}, "not a video slot"),
        ([_bid(price=float("nan"))], {}, "finite"),
        ([_bid(price=-1.0)], {}, "non-negative"),
        ([_bid()], {"currency": "USD"}, "not among"),
    ],
)
def test_response_refuses_caller_mistakes(
    bids: list[Bid], kwargs: dict[str, Any], message: str
) -> None:
    view = _parse(_request(cur=["EUR"]))
    with pytest.raises(ValueError, match=message):
        bid_response(view, bids, **({"currency": "EUR"} | kwargs))


@pytest.mark.parametrize(
    ("video", "fits", "misfits"),
    [
        ({"minduration": 5, "maxduration": 30}, [5, 6, 30], [4, 31]),
        ({"rqddurs": [6, 15]}, [6, 15], [5, 10, 30]),
        ({}, [0, 6, 600], []),
    ],
)
def test_slot_accepts_durations(video: dict[str, Any], fits: list[int], misfits: list[int]) -> None:
    (slot,) = _parse(_request(imp=[{"id": "1", "video": {"mimes": []} | video}])).video_slots
    assert all(slot.accepts_duration(d) for d in fits)
    assert not any(slot.accepts_duration(d) for d in misfits)


# --- errors --------------------------------------------------------------------------


def _with_video(**video: Any) -> bytes:
    return json.dumps(_request(imp=[{"id": "1", "video": video}])).encode()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b"not json", "malformed_json", None),
        (b"", "malformed_json", None),
        (b'{"id": "x", "imp": [', "malformed_json", None),
        (b'{"id": "\xff", "imp": []}', "malformed_json", None),
        (b"[]", "invalid_bid_request", None),
        (b"42", "invalid_bid_request", None),
        (json.dumps(_request(imp={"id": "1"})).encode(), "invalid_bid_request", "imp"),
        (json.dumps(_request(imp=[])).encode(), "invalid_bid_request", "imp"),
        (json.dumps(_request(imp=["x"])).encode(), "invalid_bid_request", "imp[0]"),
        (_with_video(mimes="video/mp4"), "invalid_bid_request", "imp[0].video.mimes"),
        (_with_video(mimes=["video/mp4", 3]), "invalid_bid_request", "imp[0].video.mimes[1]"),
        (_with_video(), "invalid_bid_request", "imp[0].video.mimes"),
        (_with_video(mimes=[], minduration=31, maxduration=30), "invalid_bid_request", None),
        (_with_video(mimes=[], maxduration=10**30), "invalid_bid_request", None),
        (_with_video(mimes=[], rqddurs=[6, True]), "invalid_bid_request", None),
        (_with_video(mimes=[], skip=2), "invalid_bid_request", "imp[0].video.skip"),
        (b'{"id": "x", "imp": [{"id": "1", "bidfloor": 1e400}]}', "invalid_bid_request", None),
        (
            b'{"id": "x", "imp": [{"id": "1"}], "tmax": ' + b"9" * 5000 + b"}",
            "invalid_bid_request",
            None,
        ),
        (json.dumps({"imp": [{"id": "1"}]}).encode(), "invalid_bid_request", "id"),
        (json.dumps(_request(id="")).encode(), "invalid_bid_request", "id"),
        (json.dumps(_request(id=7)).encode(), "invalid_bid_request", "id"),
        (json.dumps({"id": "x"}).encode(), "invalid_bid_request", "imp"),
        (json.dumps(_request(imp=[{"video": None}])).encode(), "invalid_bid_request", "imp[0].id"),
        (json.dumps(_request(regs={"gdpr": 2})).encode(), "invalid_bid_request", "regs.gdpr"),
        (json.dumps(_request(user={"consent": 1})).encode(), "invalid_bid_request", "user.consent"),
        (
            json.dumps(_request(regs={"gpp_sid": "2"})).encode(),
            "invalid_bid_request",
            "regs.gpp_sid",
        ),
        (json.dumps(_request(device={"geo": []})).encode(), "invalid_bid_request", "device.geo"),
        (json.dumps({"openrtb": {"ver": "3.0"}}).encode(), "unsupported_version", None),
    ],
)
def test_malformed_requests_get_stable_codes(body: bytes, code: str, field: str | None) -> None:
    error = _error(body)
    assert error.code == code, error.detail
    if field is not None:
        assert error.extra["field"] == field
        assert field in error.detail


def test_error_detail_says_what_is_expected() -> None:
    error = _error(_with_video(mimes="video/mp4"))
    assert error.detail == "imp[0].video.mimes must be a list, not a string"
    assert error.to_json()["field"] == "imp[0].video.mimes"


@pytest.mark.parametrize("version", ["2.6", "2.5", "2.6-202303", " 2.5.1 "])
def test_supported_version_headers(version: str) -> None:
    assert parse_bid_request(VIDEO_EXAMPLE.read_bytes(), version=version).id == "1234567893"


@pytest.mark.parametrize("version", ["3.0", "2.4", "", "garbage"])
def test_unsupported_version_headers(version: str) -> None:
    assert _error(VIDEO_EXAMPLE.read_bytes(), version=version).code == "unsupported_version"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_PATHS = [
    ("id",), ("imp",), ("imp", 0), ("imp", 0, "id"), ("imp", 0, "tagid"), ("imp", 0, "bidfloor"),
    ("imp", 0, "bidfloorcur"), ("imp", 0, "video"), ("imp", 0, "video", "mimes"),
    ("imp", 0, "video", "mimes", 0), ("imp", 0, "video", "minduration"),
    ("imp", 0, "video", "maxduration"), ("imp", 0, "video", "rqddurs"), ("imp", 0, "video", "skip"),
    ("cur",), ("tmax",), ("test",), ("site",), ("site", "cat"), ("site", "content"),
    ("device",), ("device", "ua"), ("device", "devicetype"), ("device", "language"),
    ("device", "geo"), ("device", "geo", "country"), ("device", "geo", "region"),
    ("user",), ("user", "consent"), ("user", "ext"), ("regs",), ("regs", "gdpr"),
    ("regs", "gpp_sid"), ("regs", "ext"), ("regs", "coppa"), ("openrtb",),
]  # fmt: skip


_OUTCOMES = {"ok"} | {f"{code}/400" for code in CODES}


def _survives(body: bytes) -> None:
    assert _outcome(body) in _OUTCOMES


def _outcome(body: bytes) -> str:
    try:
        parse_bid_request(body)
    except FairviewError as error:
        return f"{error.code}/{error.status}"
    return "ok"


@settings(max_examples=300)
@given(_JSON)
def test_any_json_value_gives_a_view_or_a_fairview_error(value: object) -> None:
    _survives(json.dumps(value).encode())


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_view_or_a_fairview_error(body: bytes) -> None:
    _survives(body)


@settings(max_examples=500)
@given(st.sampled_from(_PATHS), _JSON)
def test_any_value_at_a_read_field_gives_a_view_or_a_fairview_error(
    path: tuple[str | int, ...], value: object
) -> None:
    doc = json.loads(VIDEO_EXAMPLE.read_text())
    doc |= {"regs": {"ext": {}}, "user": {"ext": {}}, "device": {"geo": {}}}
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _survives(json.dumps(doc).encode())


# --- signals and context -------------------------------------------------------------


def _signals(**fields: Any) -> RawSignals:
    return _parse(_request(**fields)).signals


def test_gdpr_1_with_consent_passes_the_tc_string() -> None:
    view = _parse(_request(regs={"gdpr": 1}, user={"consent": TC}))
    assert (view.signals.tc_string, view.gdpr) == (TC, True)


def test_gdpr_0_ignores_the_tc_string() -> None:
    view = _parse(_request(regs={"gdpr": 0}, user={"consent": TC}))
    assert (view.signals.tc_string, view.gdpr) == (None, False)


def test_unknown_gdpr_with_consent_passes_the_tc_string() -> None:
    view = _parse(_request(user={"consent": TC}))
    assert (view.signals.tc_string, view.gdpr) == (TC, None)


def test_openrtb_25_extension_locations() -> None:
    view = _parse(
        _request(regs={"ext": {"gdpr": 1, "us_privacy": "1YNN"}}, user={"ext": {"consent": TC}})
    )
    assert (view.signals.tc_string, view.gdpr, view.us_privacy) == (TC, True, "1YNN")
    zero = _parse(_request(regs={"ext": {"gdpr": 0}}, user={"ext": {"consent": TC}}))
    assert zero.signals.tc_string is None


def test_26_fields_win_over_25_extensions() -> None:
    view = _parse(
        _request(
            regs={"gdpr": 0, "us_privacy": "1NNN", "ext": {"gdpr": 1, "us_privacy": "1YYY"}},
            user={"consent": "", "ext": {"consent": TC}},
        )
    )
    assert (view.gdpr, view.us_privacy, view.signals.tc_string) == (False, "1NNN", None)


def test_coppa_means_a_child() -> None:
    view = _parse(_request(regs={"coppa": 1}))
    assert view.coppa
    assert view.signals.age == COPPA_AGE < 13
    assert _signals(regs={"coppa": 0}).age is None


def test_gpp_and_sections_pass_through() -> None:
    view = _parse(_request(regs={"gpp": GPP, "gpp_sid": [2, 3, 4, 7]}))
    assert view.signals.gpp_string == GPP
    assert view.gpp_sid == (2, 7)


@pytest.mark.parametrize(("gpc", "expected"), [("1", True), (1, True), ("0", False), (None, False)])
def test_gpc_from_the_prebid_extension(gpc: object, expected: bool) -> None:
    assert _signals(regs={"ext": {"gpc": gpc}}).gpc is expected


@pytest.mark.parametrize(
    ("geo", "region"),
    [
        ({"country": "DEU"}, "DE"),
        ({"country": "deu", "region": "BY"}, "DE-BY"),
        ({"country": "USA", "region": "CA"}, "US-CA"),
        ({"country": "USA", "region": "US-CA"}, "US-CA"),
        ({"country": "USA", "region": "XX"}, "US"),
        ({"country": "GBR"}, "GB"),
        ({"country": "DE"}, "DE"),
        ({"country": "XYZ"}, "ZZ"),
        ({"country": "UK"}, "ZZ"),
        ({"country": ""}, "ZZ"),
        ({"region": "CA"}, "ZZ"),
        ({}, "ZZ"),
    ],
)
def test_region_from_device_geo(geo: dict[str, str], region: str) -> None:
    view = _parse(_request(device={"geo": geo}))
    assert view.region == view.signals.region == region


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ({"devicetype": 2}, DeviceClass.DESKTOP),
        ({"devicetype": 3}, DeviceClass.TV),
        ({"devicetype": 4}, DeviceClass.MOBILE),
        ({"devicetype": 5}, DeviceClass.TABLET),
        ({"devicetype": 6}, DeviceClass.UNKNOWN),
        ({"devicetype": 7}, DeviceClass.TV),
        ({"devicetype": 8}, DeviceClass.UNKNOWN),
        ({"devicetype": 1}, DeviceClass.MOBILE),
        (
            {"devicetype": 1, "ua": "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)"},
            DeviceClass.TABLET,
        ),
        ({"ua": "Mozilla/5.0 (Linux; Android 14; SM-S911B) Mobile"}, DeviceClass.MOBILE),
        ({}, DeviceClass.UNKNOWN),
    ],
)
def test_device_class(device: dict[str, Any], expected: DeviceClass) -> None:
    assert _parse(_request(device=device)).device_class is expected


@pytest.mark.parametrize(
    ("doc", "language"),
    [
        ({"device": {"language": "DE"}}, "de"),
        ({"device": {"langb": "pt-BR"}}, "pt"),
        ({"site": {"content": {"language": "fr"}}}, "fr"),
        ({"device": {"language": "en"}, "site": {"content": {"language": "fr"}}}, "en"),
        ({"device": {"language": "english"}}, None),
        ({}, None),
    ],
)
def test_language(doc: dict[str, Any], language: str | None) -> None:
    assert _parse(_request(**doc)).language == language


def test_topics_and_taxonomy() -> None:
    app = {"cat": ["IAB1"], "content": {"cat": ["483", "483", "7"], "cattax": 2}}
    view = _parse(_request(app=app))
    assert (view.content_topics, view.cattax) == (("483", "7"), 2)
    site = _parse(_request(site={"cat": ["IAB3-1"], "cattax": 6, "content": {"cat": []}}))
    assert (site.content_topics, site.cattax) == (("IAB3-1",), 6)


@pytest.mark.parametrize(
    ("device", "limited"),
    [({"lmt": 1}, True), ({"dnt": 1}, True), ({"lmt": 0, "dnt": 0}, False), ({}, False)],
)
def test_lmt_and_dnt_limit_storage_but_are_not_consent(
    device: dict[str, int], limited: bool
) -> None:
    view = _parse(_request(device=device, regs={"gdpr": 1}, user={"consent": TC}))
    assert view.limit_ad_tracking is limited
    assert view.signals.tc_string == TC


def test_test_flag_and_floor() -> None:
    imp = {"id": "9", "bidfloor": 2, "bidfloorcur": "eur", "video": {"mimes": [], "rqddurs": [6]}}
    view = _parse(_request(imp=[imp, {"id": "10", "banner": {}}], test=1))
    assert view.test
    (slot,) = view.video_slots
    assert (slot.bidfloor, slot.bidfloorcur, slot.required_durations_s) == (2.0, "EUR", (6,))
    assert (slot.placement, slot.skippable) == ("openrtb", None)


def test_signals_feed_the_consent_reader() -> None:
    view = _parse(
        _request(regs={"gdpr": 1}, user={"consent": TC}, device={"geo": {"country": "DEU"}})
    )
    read = read_signals(view.signals, today=date(2026, 11, 22))
    assert read.errors == {}
    assert read.signals.tcf is not None
    assert read.signals.region == "DE"


# --- identifiers never reach the view ------------------------------------------------

_IDENTIFIERS = {
    "ip": "203.0.113.77",
    "ipv6": "2001:db8::beef:cafe",
    "ifa": "AA000DFE-7416-8477-C70D-291F574D3447",
    "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) SentinelAgent/9.9 Mobile",
    "user.id": "user-sentinel-5581",
    "buyeruid": "buyer-sentinel-5456",
    "eid": "eid-sentinel-id5-0001",
}
_LAT, _LON = 52.520008, 13.404954


def _identifying_request() -> dict[str, Any]:
    return _request(
        device={
            "ip": _IDENTIFIERS["ip"],
            "ipv6": _IDENTIFIERS["ipv6"],
            "ifa": _IDENTIFIERS["ifa"],
            "ua": _IDENTIFIERS["ua"],
            "devicetype": 1,
            "geo": {"lat": _LAT, "lon": _LON, "country": "DEU", "region": "BE"},
        },
        user={
            "id": _IDENTIFIERS["user.id"],
            "buyeruid": _IDENTIFIERS["buyeruid"],
            "eids": [{"source": "id5-sync.com", "uids": [{"id": _IDENTIFIERS["eid"]}]}],
            "consent": TC,
        },
        regs={"gdpr": 1},
    )


def _leaves(value: object) -> list[object]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return [leaf for f in fields for leaf in _leaves(getattr(value, f.name))]
    if isinstance(value, tuple | list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def test_no_identifier_reaches_the_view() -> None:
    doc = _identifying_request()
    view = _parse(copy.deepcopy(doc))
    assert view.device_class is DeviceClass.MOBILE  # the user agent was read, then dropped
    assert view.region == "DE-BE"
    leaves = _leaves(view)
    assert any(leaf == TC for leaf in leaves)  # the walk does reach the signals
    for leaf in leaves:
        for secret in _IDENTIFIERS.values():
            assert not (isinstance(leaf, str) and secret.lower() in leaf.lower()), secret
        assert leaf not in (_LAT, _LON)
    text = repr(view)
    for needle in [*_IDENTIFIERS.values(), str(_LAT), str(_LON)]:
        assert needle not in text


def test_the_leak_check_would_catch_a_leak() -> None:
    view = _parse(_identifying_request())
    leaky = dataclasses.replace(view, language=_IDENTIFIERS["ip"])
    assert _IDENTIFIERS["ip"] in _leaves(leaky)
