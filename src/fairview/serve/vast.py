"""VAST 4.2 documents for fairview deliveries: pure rendering, valid against the IAB XSD.

A VAST player cannot send fairview's rich events, only pings, so every tracker a
document carries points back at `ping_base` with the delivery token and the VAST
macros the player fills in (`fairview.collect.pings` turns a ping into an event).
Every ad carries its DSA Art. 26 disclosure in `<Extension type="fairview">`.

Privacy: advertisers' tracker URLs have the identifying macros ([IFA], [DEVICEIP],
consent strings, ...) replaced by `-2` ("withheld by policy") before they are
written, so no player ever fills them in for a third party.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

VAST_VERSION: Final = "4.2"
VAST_NS: Final = "http://www.iab.com/VAST"
AD_SYSTEM: Final = "fairview"
FOCUS_OFFSET: Final = "00:00:06"
"""The `progress` offset that signals a 6-second watch (spec/attention.md §4.2)."""

LINEAR_EVENTS: Final = (
    "start",
    "firstQuartile",
    "midpoint",
    "thirdQuartile",
    "complete",
    "progress",
    "mute",
    "unmute",
    "pause",
    "resume",
    "skip",
    "closeLinear",
)
"""`<Tracking event>` names rendered under `<Linear>`, spelled as in the 4.2 XSD."""

CLICK_EVENT: Final = "clickthrough"
IMPRESSION_EVENT: Final = "impression"
ERROR_EVENT: Final = "error"
VIEWABILITY_EVENTS: Final = {
    "Viewable": "viewable",
    "NotViewable": "notViewable",
    "ViewUndetermined": "viewUndetermined",
}
"""`<ViewableImpression>` child element -> the ping name (`e=`) of its fairview URI."""

TRACKER_EVENTS: Final = frozenset(
    {*LINEAR_EVENTS, CLICK_EVENT, IMPRESSION_EVENT, ERROR_EVENT, *VIEWABILITY_EVENTS.values()}
)
"""Every ping name fairview renders; also the keys `third_party_trackers` may use."""

PRIVACY_MACROS: Final = frozenset(
    {
        # device and person identifiers
        "IFA",
        "IFATYPE",
        "DEVICEIP",
        "LATLONG",
        "DEVICEUA",
        "CLIENTUA",
        "SERVERUA",
        # consent strings are near-unique per person
        "GDPRCONSENT",
        "GPPSTRING",
        # what the person is reading or watching
        "PAGEURL",
        "CONTENTURI",
    }
)
"""Identifying macros never filled in for a third party (VAST: `-2` = withheld by policy)."""

WITHHELD: Final = "-2"
_MAX_DURATION_MS: Final = 24 * 3_600_000  # xs:time stops at 23:59:59.999
_MACRO = re.compile(r"(?:\[|%5B)([A-Za-z]+)(?:\]|%5D)", re.IGNORECASE)
# A VAST macro as players look for it; brackets anywhere else are percent-encoded.
_PLAYER_MACRO = re.compile(r"(\[[A-Z][A-Z0-9_]*\])")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3986 reserved and unreserved characters except the brackets, plus '%' of escaped octets.
_URI_SAFE: Final = string.ascii_letters + string.digits + "-._~:/?#@!$&'()*+,;=%"
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Disclosure:
    """DSA Art. 26: shown with every ad."""

    advertiser: str
    """On whose behalf the ad is presented."""
    payer: str
    """Who paid for it."""
    main_parameters: tuple[str, ...]
    """Plain-language "why this ad" parameters, e.g. ("contextual: topic Travel",)."""
    why_url: str
    """URL of the full explanation."""
    change_url: str = ""
    """Where the viewer sees and changes what personalisation uses (their interests, pause)."""


@dataclass(frozen=True, slots=True)
class VastAd:
    """One delivery as a VAST `<Ad>`. Times are integer milliseconds.

    Raises ValueError for a duration outside (0, 24 h), a skip offset outside
    [0, 24 h), non-positive dimensions, a URL that is not absolute http(s), a
    `ping_base` with a query or fragment, or a third-party tracker key that
    fairview does not render (see TRACKER_EVENTS).
    """

    delivery_id: str
    campaign_id: str
    creative_id: str
    title: str
    duration_ms: int
    media_url: str
    media_type: str
    width: int
    height: int
    click_through: str | None
    token: str
    ping_base: str
    disclosure: Disclosure
    skip_offset_ms: int | None = None
    third_party_trackers: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def __post_init__(self) -> None:
        if not 0 < self.duration_ms < _MAX_DURATION_MS:
            raise ValueError(f"duration_ms must be in (0, 24 h), got {self.duration_ms}")
        skip = self.skip_offset_ms
        if skip is not None and not 0 <= skip < _MAX_DURATION_MS:
            raise ValueError(f"skip_offset_ms must be in [0, 24 h), got {skip}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"width and height must be positive, got {self.width}x{self.height}")
        base = urlsplit(self.ping_base)
        if base.query or base.fragment:
            raise ValueError(f"ping_base must carry no query or fragment, got {self.ping_base!r}")
        unknown = set(self.third_party_trackers) - TRACKER_EVENTS
        if unknown:
            raise ValueError(f"unknown tracker event(s) {sorted(unknown)}; use {TRACKER_EVENTS}")
        for url in self._urls():
            _require_http(url)

    def _urls(self) -> list[str]:
        theirs = [u for urls in self.third_party_trackers.values() for u in urls]
        click = [] if self.click_through is None else [self.click_through]
        return [self.ping_base, self.media_url, self.disclosure.why_url, *click, *theirs]


def _require_http(url: str) -> None:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an absolute http(s) URL, got {url!r}")


def render(ads: Sequence[VastAd], *, error_url: str | None = None) -> bytes:
    """A VAST 4.2 document with one `<InLine>` ad per delivery, UTF-8 with XML declaration.

    `error_url`, when given, is added as a further `<Error>` of every ad (the VAST
    root cannot hold both ads and errors). No ads gives the empty document.
    """
    if not ads:
        return render_empty(error_url=error_url)
    root = _vast_root()
    for ad in ads:
        root.append(_ad(ad, error_url))
    return _serialise(root)


def render_empty(*, error_url: str | None = None) -> bytes:
    """The "no ad" answer: `<VAST version="4.2"/>`, with `error_url` as its `<Error>` if given.

    A player that reaches this document fires the `<Error>` URI with [ERRORCODE]
    replaced (303: no ad after one or more wrappers), so `error_url` should carry
    the `[ERRORCODE]` macro. Its privacy macros are withheld like a tracker's.
    """
    root = _vast_root()
    if error_url is not None:
        _text(root, "Error", _uri(redact_privacy_macros(error_url)))
    return _serialise(root)


def redact_privacy_macros(url: str) -> str:
    """Replace every identifying macro (PRIVACY_MACROS) in `url` with `-2`.

    Matches `[IFA]` and its percent-encoded form `%5BIFA%5D`, in any letter case,
    so a tracker cannot dodge the policy by spelling; other macros stay as they are.
    """

    def swap(m: re.Match[str]) -> str:
        return WITHHELD if m.group(1).upper() in PRIVACY_MACROS else m.group(0)

    return _MACRO.sub(swap, url)


def tracking_uri(ad: VastAd, event: str) -> str:
    """fairview's own URI for ping `event` of `ad`; macros stay literal for the player."""
    code = "&code=[ERRORCODE]" if event == ERROR_EVENT else ""
    token = quote(ad.token, safe="")
    return (
        f"{ad.ping_base}?e={event}{code}&t={token}&ph=[ADPLAYHEAD]&ts=[TIMESTAMP]&cb=[CACHEBUSTING]"
    )


def timecode(ms: int) -> str:
    """Milliseconds as VAST's `HH:MM:SS.mmm` (under 24 h)."""
    seconds, millis = divmod(ms, 1000)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    return f"{hours:02d}:{mins:02d}:{secs:02d}.{millis:03d}"


def _vast_root() -> ET.Element:
    # Tags are built unqualified and the root declares the VAST namespace as default:
    # ElementTree's `default_namespace` refuses the (unqualified) VAST attributes.
    return ET.Element("VAST", {"xmlns": VAST_NS, "version": VAST_VERSION})


def _serialise(root: ET.Element) -> bytes:
    doc: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return doc


def _element(tag: str, **attrs: str) -> ET.Element:
    return ET.Element(tag, {k: _xml_text(v) for k, v in attrs.items()})


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    el = _element(tag, **attrs)
    el.text = _xml_text(text)
    parent.append(el)
    return el


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot carry at all become U+FFFD; the rest ElementTree escapes."""
    return _NOT_XML_CHAR.sub("\ufffd", text)


def _uri(url: str) -> str:
    """`url` with everything a URI cannot hold percent-encoded (UTF-8), macros kept literal.

    Spaces, controls, non-ASCII, stray brackets, a '%' that starts no escape and every
    '#' after the first (a URI has one fragment) are encoded; `[MACRO]` stays as it is,
    since players substitute only the literal form.
    """
    parts = _PLAYER_MACRO.split(url.strip())
    encoded = "".join(
        part if i % 2 else quote(_LONE_PERCENT.sub("%25", part), safe=_URI_SAFE)
        for i, part in enumerate(parts)
    )
    head, hash_, fragment = encoded.partition("#")
    return head + hash_ + fragment.replace("#", "%23")


def _uris(ad: VastAd, event: str) -> list[str]:
    """fairview's URI for `event`, then the advertiser's, privacy macros withheld."""
    theirs = ad.third_party_trackers.get(event, ())
    return [tracking_uri(ad, event), *(_uri(redact_privacy_macros(u)) for u in theirs)]


def _ad(ad: VastAd, error_url: str | None) -> ET.Element:
    el = _element("Ad", id=ad.delivery_id)
    inline = ET.SubElement(el, "InLine")
    _text(inline, "AdSystem", AD_SYSTEM)
    for uri in _uris(ad, ERROR_EVENT):
        _text(inline, "Error", uri)
    if error_url is not None:
        _text(inline, "Error", _uri(redact_privacy_macros(error_url)))
    inline.append(_extensions(ad))
    for uri in _uris(ad, IMPRESSION_EVENT):
        _text(inline, "Impression", uri)
    inline.append(_viewable_impression(ad))
    _text(inline, "AdServingId", ad.delivery_id)
    _text(inline, "AdTitle", ad.title)
    _text(inline, "Advertiser", ad.disclosure.advertiser)
    creatives = ET.SubElement(inline, "Creatives")
    creatives.append(_creative(ad))
    return el


def _extensions(ad: VastAd) -> ET.Element:
    """`<Extension type="fairview">`: the delivery token and the DSA Art. 26 disclosure."""
    extensions = ET.Element("Extensions")
    ext = ET.SubElement(extensions, "Extension", type="fairview")
    _text(ext, "DeliveryToken", ad.token)
    _text(ext, "CampaignId", ad.campaign_id)
    disclosure = ET.SubElement(ext, "Disclosure")
    _text(disclosure, "Advertiser", ad.disclosure.advertiser)
    _text(disclosure, "Payer", ad.disclosure.payer)
    params = ET.SubElement(disclosure, "MainParameters")
    for parameter in ad.disclosure.main_parameters:
        _text(params, "Parameter", parameter)
    _text(disclosure, "WhyThisAd", _uri(ad.disclosure.why_url))
    if ad.disclosure.change_url:
        _text(disclosure, "ChangeParameters", _uri(ad.disclosure.change_url))
    return extensions


def _viewable_impression(ad: VastAd) -> ET.Element:
    el = _element("ViewableImpression", id=ad.delivery_id)
    for tag, event in VIEWABILITY_EVENTS.items():
        for uri in _uris(ad, event):
            _text(el, tag, uri)
    return el


def _creative(ad: VastAd) -> ET.Element:
    creative = _element("Creative", id=ad.creative_id, adId=ad.creative_id)
    linear = ET.SubElement(creative, "Linear")
    if ad.skip_offset_ms is not None:
        linear.set("skipoffset", timecode(ad.skip_offset_ms))
    linear.append(_tracking_events(ad))
    _text(linear, "Duration", timecode(ad.duration_ms))
    files = ET.SubElement(linear, "MediaFiles")
    size = {"width": str(ad.width), "height": str(ad.height)}
    _text(
        files, "MediaFile", _uri(ad.media_url), delivery="progressive", type=ad.media_type, **size
    )
    linear.append(_video_clicks(ad))
    # VAST 4.1+: "unknown" is the registry and value when no registered ad ID exists.
    _text(creative, "UniversalAdId", "unknown", idRegistry="unknown")
    return creative


def _tracking_events(ad: VastAd) -> ET.Element:
    events = ET.Element("TrackingEvents")
    for event in LINEAR_EVENTS:
        offset = {"offset": FOCUS_OFFSET} if event == "progress" else {}
        for uri in _uris(ad, event):
            _text(events, "Tracking", uri, event=event, **offset)
    return events


def _video_clicks(ad: VastAd) -> ET.Element:
    clicks = ET.Element("VideoClicks")
    for uri in _uris(ad, CLICK_EVENT):  # the XSD puts ClickTracking before ClickThrough
        _text(clicks, "ClickTracking", uri)
    if ad.click_through is not None:
        _text(clicks, "ClickThrough", _uri(ad.click_through))
    return clicks
