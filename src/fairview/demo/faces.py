"""The demo's way into every page: who signs in with what, and the links to open.

After the audience phase, the demo releases the DSA repository's reach (the same job
as `fairview jobs repository`), creates a DPO staff key through the API, and signs a
privacy-centre link for a consenting adult viewer with interests — what a platform
would do when its viewer opens "my ad privacy".
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from fairview.clock import ShiftedClock
from fairview.demo.driver import ok
from fairview.registry import retention_days
from fairview.report.repository import RepositoryRun, run_repository_job
from fairview.settings import Settings
from fairview.storage import Store
from fairview.storage.repository import Repository
from fairview.tokens import ViewerTokens

LINK_VALID_MS = 7 * 86_400_000


@dataclass(frozen=True)
class Faces:
    """What the demo prints once it serves: each page and how to get in."""

    base_url: str
    advertiser_key: str
    dpo_key: str
    privacy_centre_url: str | None
    repository: RepositoryRun

    def summary(self) -> dict[str, object]:
        """For the report: what the pages have to show (no keys, no links)."""
        return {
            "repository_ads": self.repository.ads,
            "repository_cells_released": self.repository.cells_released,
            "privacy_centre_viewer_found": self.privacy_centre_url is not None,
        }

    def lines(self) -> list[str]:
        b = self.base_url
        viewer = self.privacy_centre_url or "(no consenting viewer with interests in this run)"
        return [
            f"Demo player:            {b}/demo/player",
            f"Advertiser console:     {b}/console — sign in with {self.advertiser_key}",
            f"Viewer privacy centre:  {viewer}",
            f"Auditor / DPO view:     {b}/audit — sign in with {self.dpo_key}",
            f"Public ad repository:   {b}/repository",
            f"OpenAPI documentation:  {b}/docs",
        ]


def open_the_faces(
    http: httpx.Client,
    store: Store,
    settings: Settings,
    clock: ShiftedClock,
    base_url: str,
    advertiser_key: str,
    consenting_adults: list[str],
) -> Faces:
    kept = retention_days(settings.retention_days)["ad_repository"]
    released = run_repository_job(Repository(store.engine, kept_days=kept), clock.now_ms())
    admin = {"Authorization": f"Bearer {settings.admin_api_key.get_secret_value()}"}
    dpo = ok(http.post("/v1/staff/keys", json={"name": "Demo DPO", "role": "dpo"}, headers=admin))
    tokens = ViewerTokens(settings.viewer_token_key.get_secret_value())
    link = None
    for user_ref in consenting_adults[:50]:  # the first one whose profile has interests
        token = tokens.sign(user_ref, clock.now_ms() + LINK_VALID_MS)
        mine = ok(http.get("/v1/me/interests", headers={"Authorization": f"Bearer {token}"}))
        if mine.get("interests"):
            link = f"{base_url}/privacy-centre?token={token}"
            break
    return Faces(base_url, advertiser_key, str(dpo["key"]), link, released)
