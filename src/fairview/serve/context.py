"""Coarse request context: region and device class only (ARCHITECTURE §4).

The raw IP address and user agent are read once to derive these and never kept.
"""

from __future__ import annotations

import re
from enum import StrEnum


class DeviceClass(StrEnum):
    MOBILE = "mobile"
    TABLET = "tablet"
    DESKTOP = "desktop"
    TV = "tv"
    UNKNOWN = "unknown"


_TV = re.compile(r"smart-?tv|hbbtv|appletv|googletv|crkey|roku|aft[a-z]|tizen|webos|bravia", re.I)
_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|android|windows phone|blackberry", re.I)
_DESKTOP = re.compile(r"windows nt|macintosh|x11|cros|linux x86_64", re.I)
REGION_PATTERN = r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"


def device_class(user_agent: str | None) -> DeviceClass:
    """Reduce a user agent to one of five classes; the string itself is not kept."""
    if not user_agent:
        return DeviceClass.UNKNOWN
    for pattern, cls in (
        (_TV, DeviceClass.TV),
        (_TABLET, DeviceClass.TABLET),
        (_MOBILE, DeviceClass.MOBILE),
        (_DESKTOP, DeviceClass.DESKTOP),
    ):
        if pattern.search(user_agent):
            return cls
    return DeviceClass.UNKNOWN
