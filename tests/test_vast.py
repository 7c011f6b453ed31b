"""VAST 4.2 rendering: every document validates against the official IAB XSD."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]

from fairview.serve.vast import (
    LINEAR_EVENTS,
    PRIVACY_MACROS,
    TRACKER_EVENTS,
    Disclosure,
    VastAd,
    redact_privacy_macros,
    render,
    render_empty,
    timecode,
)

DATA = Path(__file__).parent / "data" / "vast_xsd"
SCHEMA = etree.XMLSchema(etree.parse(str(DATA / "vast_4.2.xsd")))
# xmlschema reads xs:anyURI as XSD 1.0 defines it (a string that is a URI once
# escaped), so it validates the documents exactly as written, macros included.
SPEC_SCHEMA = xmlschema.XMLSchema10(str(DATA / "vast_4.2.xsd"))
NS = {"v": "http://www.iab.com/VAST"}
PING = "https://ads.example.com/v1/vast/ping"
MACRO = re.compile(r"\[[A-Z][A-Z0-9_]*\]")
ANYURI_ERROR = re.compile(
    r"Element '[^']+': '(.*)' is not a valid value of the atomic type 'xs:anyURI'\."
)
URI_ELEMENTS = ("Impression", "Error", "Tracking", "ClickTracking", "Viewable", "NotViewable")


def make_ad(**overrides: Any) -> VastAd:
    fields: dict[str, Any] = {
        "delivery_id": "dlv-1",
        "campaign_id": "cmp-1",
        "creative_id": "crv-1",
        "title": "Summer trains",
        "duration_ms": 15_000,
        "media_url": "https://cdn.example.com/ad.mp4",
        "media_type": "video/mp4",
        "width": 1080,
        "height": 1920,
        "click_through": "https://rail.example.com/offer",
        "token": "v1.abc+/=.sig",
        "ping_base": PING,
        "disclosure": Disclosure(
            advertiser="Rail & Co <DE>",
            payer='Rail Holding "Ltd"',
            main_parameters=("contextual: topic Travel", "country: DE"),
            why_url="https://ads.example.com/why/dlv-1",
        ),
    }
    fields.update(overrides)
    return VastAd(**fields)


def schema_errors(doc: bytes) -> list[str]:
    SCHEMA.validate(etree.fromstring(doc))
    return [str(e.message) for e in SCHEMA.error_log]


def assert_valid(doc: bytes) -> None:
    """`doc` is valid VAST 4.2 as written (xmlschema) and as a player fills it in (libxml2).

    libxml2 checks xs:anyURI against RFC 3986, where a literal `[` may only start an
    IPv6 host, so it refuses every URI that carries a VAST macro such as
    [CACHEBUSTING] (other validators, and players, accept them). So the document
    must validate once each macro is replaced by a value, as a player does, and
    its only errors as written must be anyURI errors on values with a macro.
    """
    assert doc.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert [str(e) for e in SPEC_SCHEMA.iter_errors(doc.decode("utf-8"))] == []
    filled = MACRO.sub("0", doc.decode("utf-8")).encode("utf-8")
    assert schema_errors(filled) == []
    for message in schema_errors(doc):
        bad_uri = ANYURI_ERROR.fullmatch(message)
        assert bad_uri is not None, message
        assert MACRO.search(bad_uri.group(1)), message


def parse(doc: bytes) -> Any:
    return etree.fromstring(doc)


def uris(root: Any, tag: str) -> list[str]:
    return [str(el.text) for el in root.iterfind(f".//v:{tag}", NS)]


def test_official_inline_linear_sample_validates() -> None:
    """Sanity check of the XSD setup: the IAB's own 4.2 sample is valid."""
    assert schema_errors((DATA / "Inline_Linear_Tag-test.xml").read_bytes()) == []


def test_the_schema_rejects_a_broken_document() -> None:
    broken = (
        render([make_ad()]).replace(b"<AdTitle>", b"<Title>").replace(b"</AdTitle>", b"</Title>")
    )
    assert schema_errors(MACRO.sub("0", broken.decode()).encode()) != []


def test_render_is_valid_vast_42() -> None:
    doc = render(
        [make_ad(), make_ad(delivery_id="dlv-2")], error_url="https://e.example/?c=[ERRORCODE]"
    )
    assert_valid(doc)
    root = parse(doc)
    assert root.get("version") == "4.2"
    assert [ad.get("id") for ad in root.iterfind("v:Ad", NS)] == ["dlv-1", "dlv-2"]


def test_every_ad_has_the_required_elements() -> None:
    root = parse(render([make_ad(skip_offset_ms=5_000)]))
    inline = root.find("v:Ad/v:InLine", NS)
    assert inline.findtext("v:AdSystem", namespaces=NS) == "fairview"
    assert inline.findtext("v:AdTitle", namespaces=NS) == "Summer trains"
    assert inline.findtext("v:Advertiser", namespaces=NS) == "Rail & Co <DE>"
    assert inline.findtext("v:AdServingId", namespaces=NS) == "dlv-1"
    linear = inline.find("v:Creatives/v:Creative/v:Linear", NS)
    assert linear.get("skipoffset") == "00:00:05.000"
    assert linear.findtext("v:Duration", namespaces=NS) == "00:00:15.000"
    media = linear.find("v:MediaFiles/v:MediaFile", NS)
    assert dict(media.attrib) == {
        "delivery": "progressive",
        "type": "video/mp4",
        "width": "1080",
        "height": "1920",
    }
    assert media.text == "https://cdn.example.com/ad.mp4"
    clicks = linear.find("v:VideoClicks", NS)
    assert clicks.findtext("v:ClickThrough", namespaces=NS) == "https://rail.example.com/offer"
    assert len(clicks.findall("v:ClickTracking", NS)) == 1
    viewable = inline.find("v:ViewableImpression", NS)
    assert [el.tag.split("}")[1] for el in viewable] == [
        "Viewable",
        "NotViewable",
        "ViewUndetermined",
    ]


def test_tracking_events_use_the_42_names_and_a_6_second_progress() -> None:
    root = parse(render([make_ad()]))
    tracking = root.findall(".//v:Linear/v:TrackingEvents/v:Tracking", NS)
    assert [t.get("event") for t in tracking] == list(LINEAR_EVENTS)
    assert set(LINEAR_EVENTS) >= {"closeLinear", "progress", "skip", "firstQuartile"}
    progress = [t for t in tracking if t.get("event") == "progress"]
    assert [t.get("offset") for t in progress] == ["00:00:06"]
    assert all(t.get("offset") is None for t in tracking if t.get("event") != "progress")


def test_no_skipoffset_and_no_clickthrough_when_unset() -> None:
    root = parse(render([make_ad(click_through=None)]))
    assert root.find(".//v:Linear", NS).get("skipoffset") is None
    assert root.find(".//v:ClickThrough", NS) is None
    assert len(root.findall(".//v:ClickTracking", NS)) == 1


def test_every_fairview_uri_carries_the_encoded_token_and_macros() -> None:
    ad = make_ad(token="a b&c=d/é")
    root = parse(render([ad]))
    ours = [u for tag in (*URI_ELEMENTS, "ViewUndetermined") for u in uris(root, tag)]
    assert len(ours) == 1 + 1 + len(LINEAR_EVENTS) + 1 + 3  # error, impression, ..., clicks
    for uri in ours:
        assert uri.startswith(PING + "?e=")
        assert f"&t={quote(ad.token, safe='')}&" in uri
        assert uri.endswith("&ph=[ADPLAYHEAD]&ts=[TIMESTAMP]&cb=[CACHEBUSTING]")
    assert uris(root, "Impression") == [
        f"{PING}?e=impression&t=a%20b%26c%3Dd%2F%C3%A9"
        "&ph=[ADPLAYHEAD]&ts=[TIMESTAMP]&cb=[CACHEBUSTING]"
    ]
    assert uris(root, "Error")[0].startswith(f"{PING}?e=error&code=[ERRORCODE]&t=")
    assert uris(root, "ClickTracking")[0].startswith(f"{PING}?e=clickthrough&t=")


def test_extension_carries_token_and_dsa_disclosure() -> None:
    root = parse(render([make_ad()]))
    ext = root.find(".//v:Extensions/v:Extension", NS)
    assert ext.get("type") == "fairview"
    assert ext.findtext("v:DeliveryToken", namespaces=NS) == "v1.abc+/=.sig"
    assert ext.findtext("v:CampaignId", namespaces=NS) == "cmp-1"
    disclosure = ext.find("v:Disclosure", NS)
    assert disclosure.findtext("v:Advertiser", namespaces=NS) == "Rail & Co <DE>"
    assert disclosure.findtext("v:Payer", namespaces=NS) == 'Rail Holding "Ltd"'
    params = [p.text for p in disclosure.iterfind("v:MainParameters/v:Parameter", NS)]
    assert params == ["contextual: topic Travel", "country: DE"]
    assert disclosure.findtext("v:WhyThisAd", namespaces=NS) == "https://ads.example.com/why/dlv-1"


def test_third_party_trackers_follow_ours_with_privacy_macros_withheld() -> None:
    theirs = "https://t.example/s?ifa=[IFA]&ip=%5BDEVICEIP%5D&ua=[clientua]&cb=[CACHEBUSTING]"
    ad = make_ad(third_party_trackers={"start": (theirs,), "impression": ("https://t.example/i",)})
    doc = render([ad])
    assert_valid(doc)
    root = parse(doc)
    starts = [t.text for t in root.iterfind(".//v:Tracking[@event='start']", NS)]
    assert starts[0].startswith(PING)
    assert starts[1:] == ["https://t.example/s?ifa=-2&ip=-2&ua=-2&cb=[CACHEBUSTING]"]
    assert uris(root, "Impression")[1:] == ["https://t.example/i"]


@pytest.mark.parametrize("macro", sorted(PRIVACY_MACROS))
def test_each_privacy_macro_becomes_minus_2(macro: str) -> None:
    url = f"https://t.example/p?a=[{macro}]&b=%5b{macro.lower()}%5d&c=[ADPLAYHEAD]"
    assert redact_privacy_macros(url) == "https://t.example/p?a=-2&b=-2&c=[ADPLAYHEAD]"


def test_other_macros_are_left_alone() -> None:
    url = "https://t.example/p?e=[ERRORCODE]&cb=[CACHEBUSTING]&ts=[TIMESTAMP]&x=[IFAX]"
    assert redact_privacy_macros(url) == url


@given(st.text())
def test_no_privacy_macro_survives_redaction(noise: str) -> None:
    url = "".join(f"{noise}[{m}]" for m in sorted(PRIVACY_MACROS))
    redacted = redact_privacy_macros(url)
    assert not any(f"[{m}]" in redacted.upper() for m in PRIVACY_MACROS)


def test_empty_vast_is_valid_and_has_no_ad() -> None:
    doc = render_empty()
    assert_valid(doc)
    root = parse(doc)
    assert root.tag == "{http://www.iab.com/VAST}VAST"
    assert root.get("version") == "4.2"
    assert len(root) == 0
    assert render([]) == doc


def test_empty_vast_with_an_error_uri() -> None:
    doc = render_empty(error_url="https://e.example/no-ad?code=[ERRORCODE]&ip=[DEVICEIP]")
    assert_valid(doc)
    assert uris(parse(doc), "Error") == ["https://e.example/no-ad?code=[ERRORCODE]&ip=-2"]
    assert render([], error_url="https://e.example/?c=[ERRORCODE]") == render_empty(
        error_url="https://e.example/?c=[ERRORCODE]"
    )


@pytest.mark.parametrize(
    ("ms", "code"),
    [
        (0, "00:00:00.000"),
        (6_000, "00:00:06.000"),
        (15_001, "00:00:15.001"),
        (3_723_004, "01:02:03.004"),
        (86_399_999, "23:59:59.999"),
    ],
)
def test_timecode(ms: int, code: str) -> None:
    assert timecode(ms) == code


def test_urls_are_encoded_but_macros_stay_literal() -> None:
    ad = make_ad(media_url="https://cdn.example/a b/ä[1].mp4?x=%zz&cb=[CACHEBUSTING]")
    doc = render([ad])
    assert_valid(doc)
    media = parse(doc).findtext(".//v:MediaFile", namespaces=NS)
    assert media == "https://cdn.example/a%20b/%C3%A4%5B1%5D.mp4?x=%25zz&cb=[CACHEBUSTING]"


@pytest.mark.parametrize(
    "overrides",
    [
        {"duration_ms": 0},
        {"duration_ms": 86_400_000},
        {"skip_offset_ms": -1},
        {"width": 0},
        {"ping_base": "https://ads.example.com/ping?x=1"},
        {"ping_base": "/v1/vast/ping"},
        {"media_url": "javascript:alert(1)"},
        {"click_through": "ftp://x.example/"},
        {"third_party_trackers": {"first-quartile": ("https://t.example/",)}},
        {"third_party_trackers": {"start": ("data:text/plain,x",)}},
    ],
)
def test_invalid_ads_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        make_ad(**overrides)


def test_tracker_keys_are_the_rendered_ping_names() -> None:
    assert {*LINEAR_EVENTS, "impression", "error", "clickthrough"} <= TRACKER_EVENTS


_url = st.builds(
    lambda scheme, host, rest: f"{scheme}://{host}/{rest}",
    st.sampled_from(["http", "https", "HTTPS"]),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){1,2}", fullmatch=True),
    st.text(max_size=40),
)
_nasty = st.one_of(
    st.text(),
    st.sampled_from(
        ["", " ", "&", "<![CDATA[x]]>", "]]>", "\"'<>&", "\x00\x1f\ufffe", "🚆 Zürich"]
    ),
)
_ads = st.builds(
    make_ad,
    delivery_id=_nasty,
    campaign_id=_nasty,
    creative_id=_nasty,
    title=_nasty,
    duration_ms=st.integers(1, 86_399_999),
    media_url=_url,
    media_type=_nasty,
    width=st.integers(1, 10**9),
    height=st.integers(1, 10**9),
    click_through=st.none() | _url,
    token=_nasty,
    ping_base=st.sampled_from([PING, "http://localhost:8000/p", "https://a.example/v1/vast/ping/"]),
    disclosure=st.builds(Disclosure, _nasty, _nasty, st.lists(_nasty, max_size=4).map(tuple), _url),
    skip_offset_ms=st.none() | st.integers(0, 86_399_999),
    third_party_trackers=st.dictionaries(
        st.sampled_from(sorted(TRACKER_EVENTS)), st.lists(_url, max_size=3).map(tuple), max_size=4
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ads, max_size=3), st.none() | _url)
def test_any_ads_render_to_valid_vast(ads: list[VastAd], error_url: str | None) -> None:
    doc = render(ads, error_url=error_url)
    assert_valid(doc)
    root = parse(doc)
    assert len(root.findall("v:Ad", NS)) == len(ads)
    for ad, el in zip(ads, root.iterfind("v:Ad/v:InLine", NS), strict=True):
        assert el.findtext("v:AdTitle", namespaces=NS) == _as_parsed(ad.title)
        assert el.findtext("v:Advertiser", namespaces=NS) == _as_parsed(ad.disclosure.advertiser)
        token = quote(ad.token, safe="")
        assert all(f"&t={token}&" in u for u in uris(el, "Tracking") if u.startswith(ad.ping_base))
        assert el.findtext(".//v:Duration", namespaces=NS) == timecode(ad.duration_ms)


@settings(max_examples=100, deadline=None)
@given(st.none() | _url)
def test_any_empty_vast_is_valid(error_url: str | None) -> None:
    assert_valid(render_empty(error_url=error_url))


def _as_parsed(text: str) -> str:
    """What an XML parser reads back: XML-illegal characters as U+FFFD, newlines normalised."""
    legal = re.sub("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "\ufffd", text)
    return legal.replace("\r\n", "\n").replace("\r", "\n")


def test_illegal_xml_characters_are_replaced() -> None:
    doc = render([make_ad(title="a\x00b\x1bc\ufffe")])
    assert_valid(doc)
    assert parse(doc).findtext(".//v:AdTitle", namespaces=NS) == "a\ufffdb\ufffdc\ufffd"


def test_a_vast_ad_is_hashable_and_frozen() -> None:
    ad = make_ad()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ad.title = "x"  # type: ignore[misc]
    assert hash(ad) == hash(make_ad())


def test_a_second_hash_in_a_tracker_url_is_encoded() -> None:
    ad = make_ad(third_party_trackers={"start": ("http://0.aa/##",)})
    doc = render([ad])
    assert_valid(doc)
    assert b"http://0.aa/#%23" in doc
