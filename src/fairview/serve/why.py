"""'Why this ad' in plain words, from the parameters a delivery recorded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHANGE_PATH = "/v1/me/interests"
"""Where a viewer sees and changes what personalisation uses (with their viewer token)."""
HOW_TO_CHANGE = (
    "See and change what personalised ads use at /v1/me/interests: remove an interest "
    "(DELETE /v1/me/interests/{topic}) or pause personalised ads (PUT "
    "/v1/me/personalisation). Your consent choices are changed in the platform's consent "
    "settings; an objection (POST /v1/me/objection) stops profiling for good."
)
_PROFILE_USED = "Chosen with your interest profile, which your consent allows."
_MODES = {
    "personalised": "Your consent allows personalised ads, but this one was not chosen with "
    "your interest profile.",
    "contextual": "Chosen from the video you are watching, not from data about you.",
    "non_personalised": "Not personalised: chosen without a profile of you.",
}


def explain(why: Mapping[str, Any]) -> list[str]:
    """The main parameters (DSA Art. 26(1)(d)), most important first."""
    if why.get("personalised"):
        lines = [_PROFILE_USED]
    else:
        lines = [_MODES.get(str(why.get("mode")), "Chosen without a profile of you.")]
    lines += [f"Matched the advertiser's targeting on {m}" for m in why.get("matched", ())]
    topics = why.get("content_topics") or []
    if topics and not any(str(m).startswith("content topic") for m in why.get("matched", ())):
        lines.append("Shown next to content about " + ", ".join(topics))
    if why.get("selection"):
        lines.append(f"Selection: {why['selection']}")
    return lines
