"""The auditor / DPO pages: staff sign-in, role gating, the DPO's audited views, in Chromium."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from fairview.accountability.roles import Role
from fairview.api.app import create_app
from fairview.audience import topics as tx
from fairview.clock import ShiftedClock
from fairview.rights.requests import one_month_after
from fairview.settings import Environment, Settings
from fairview.storage import Store, open_store
from fairview.storage.cohorts import CohortRecord, CohortRunRecord
from fairview.storage.rights import RightsRequestRecord
from fairview.storage.schema import AuditRecord

from browser import assert_accessible, chromium, live_server, screenshot
from conftest import ADMIN
from factories import DAY_MS, T0

PURPOSE = "DSAR 2026-311: answer the access request of a viewer"
ADMIN_KEY = ADMIN["Authorization"].removeprefix("Bearer ")


def _open_app(tmp_path: Path) -> tuple[Any, Store, ShiftedClock]:
    url = f"sqlite:///{tmp_path / 'f.sqlite3'}"
    store = open_store(url, synchronous="NORMAL")
    clock = ShiftedClock(T0)
    app = create_app(Settings(env=Environment.TEST, database_url=url), store=store, clock=clock)
    return app, store, clock


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[TestClient, Store, ShiftedClock]]:
    app, store, clock = _open_app(tmp_path)
    with TestClient(app) as client:
        yield client, store, clock
    store.close()


def seed(store: Store) -> dict[str, str]:
    """Staff keys of every role, a cohort run with a suppressed cohort, rights requests."""
    keys = {
        role.value: store.staff.create(f"{role.value.title()} Person", role, T0)[1]
        for role in (Role.DPO, Role.ANALYST, Role.OPERATOR)
    }
    topics = sorted(tx.allowlist())
    run = CohortRunRecord("run-9", T0, 41, 2000, 9000, "served", True, {"notes": ["one merged"]})
    cohorts = [
        CohortRecord(3, "run-9", 5200, (topics[0], topics[1]), True, "", 0.012, 1.08),
        CohortRecord(5, "run-9", 3800, (topics[2],), False, "lift", 0.031, 1.92),
    ]
    members = [(hashlib.sha256(f"v{i}".encode()).hexdigest(), 3) for i in range(3)]
    store.cohorts.publish(run, cohorts, members)
    for i, (kind, received, done) in enumerate(
        [
            ("erasure", T0 - 40 * DAY_MS, None),  # open past its month: overdue
            ("access", T0 - 3 * DAY_MS, None),  # open, due in about four weeks
            ("objection", T0 - 50 * DAY_MS, T0 - 2 * DAY_MS),  # answered late
            ("portability", T0 - 10 * DAY_MS, T0 - 9 * DAY_MS),  # answered in time
        ]
    ):
        store.rights.open(
            RightsRequestRecord(
                f"rr_{i}{kind}",
                hashlib.sha256(kind.encode()).hexdigest(),
                kind,
                received,
                one_month_after(received),
                done,
                "completed" if done else "received",
                {"deliveries": 3} if done else {},
            )
        )
    return keys


def sign_in(client: TestClient, key: str, purpose: str = "", next_path: str = "/audit") -> Any:
    return client.post(
        "/audit/sign-in",
        data={"key": key, "purpose": purpose, "next": next_path},
        follow_redirects=False,
    )


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _prefix(store: Store, name: str) -> str:
    return next(r.prefix for r in store.staff.list() if r.name == name)


def dpo_actions(store: Store) -> list[tuple[str, str, str, str]]:
    return [
        (e.actor, e.action, e.subject, e.purpose)
        for e in store.audit.entries()
        if e.action.startswith("dpo.")
    ]


def test_pages_need_a_session_and_the_sign_in_checks_key_and_purpose(
    env: tuple[TestClient, Store, ShiftedClock],
) -> None:
    client, store, _ = env
    keys = seed(store)
    for path in ("/audit", "/audit/cohorts", "/audit/rights", "/audit/log", "/audit/ropa"):
        r = client.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, f"/audit/sign-in?next={path}")
    form = client.get("/audit/sign-in?next=/audit/log")
    assert form.status_code == 200 and 'type="password"' in form.text
    assert 'name="next" value="/audit/log"' in form.text
    bad = sign_in(client, "fvs_not-a-key", PURPOSE)
    assert bad.status_code == 401 and "not an active staff key" in bad.text
    assert 'aria-invalid="true"' in bad.text and "fv_session" not in bad.headers.get(
        "set-cookie", ""
    )
    for purpose in ("", "curious"):  # the DPO states a purpose of at least 15 characters
        refused = sign_in(client, keys["dpo"], purpose)
        assert refused.status_code == 422 and "at least 15 characters" in refused.text
    ok = sign_in(client, keys["dpo"], PURPOSE, "/audit/log")
    assert (ok.status_code, ok.headers["location"]) == (303, "/audit/log")
    assert keys["dpo"] not in ok.headers["set-cookie"]  # the key itself is never in the cookie
    elsewhere = sign_in(client, keys["dpo"], PURPOSE, "//evil.example/")
    assert elsewhere.headers["location"] == "/audit"
    overview = client.get("/audit")
    assert overview.status_code == 200 and PURPOSE in overview.text
    assert 'href="/audit/cohorts"' in overview.text
    assert dpo_actions(store) == []  # signing in and the overview read no personal data


def test_only_the_dpo_reaches_the_dpo_pages_and_every_role_reads_the_ropa(
    env: tuple[TestClient, Store, ShiftedClock],
) -> None:
    client, store, _ = env
    keys = seed(store)
    for key, role in (
        (keys["analyst"], "analyst"),
        (keys["operator"], "operator"),
        (ADMIN_KEY, "operator"),
    ):
        assert sign_in(client, key).status_code == 303  # no purpose needed for these roles
        assert 'href="/audit/cohorts"' not in client.get("/audit").text
        for path in ("/audit/cohorts", "/audit/rights", "/audit/log"):
            r = client.get(path)
            assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
            assert "needs the dpo role" in r.text and f"the {role} role" in r.text
        ropa = client.get("/audit/ropa")
        assert ropa.status_code == 200 and "Records of processing activities" in ropa.text
        assert "TO FILL" in ropa.text and "viewer_settings" in ropa.text
    assert dpo_actions(store) == []  # refused before anything was recorded or read
    client.cookies.clear()
    client.cookies.set("fv_session", "forged.value")
    assert client.get("/audit/ropa", follow_redirects=False).status_code == 303


def test_each_dpo_page_view_is_audited_with_the_session_purpose_before_reading(
    env: tuple[TestClient, Store, ShiftedClock],
) -> None:
    client, store, _ = env
    keys = seed(store)
    prefix = _prefix(store, "Dpo Person")
    assert sign_in(client, keys["dpo"], PURPOSE).status_code == 303
    cohorts = client.get("/audit/cohorts")
    assert cohorts.status_code == 200
    assert "run-9" in cohorts.text and "suppressed" in cohorts.text and "lift" in cohorts.text
    assert "1.92" in cohorts.text and "5,200" in cohorts.text
    assert not re.search(r"[0-9a-f]{64}", cohorts.text)  # never a member
    rights = client.get("/audit/rights")
    assert rights.status_code == 200
    assert "overdue by 9 days" in rights.text and "answered late" in rights.text
    assert "answered in time" in rights.text
    assert re.search(r"open, due in 2[67] days", rights.text)  # received three days ago
    assert not re.search(r"[0-9a-f]{64}", rights.text)  # no viewer pseudonym
    only_overdue = client.get("/audit/rights", params={"overdue": "true"})
    assert only_overdue.text.count("<tr>") == 2  # the header row and the one overdue request
    log = client.get("/audit/log", params={"action": "dpo."})
    assert log.status_code == 200 and "intact" in log.text
    recorded = dpo_actions(store)
    assert [(a, s) for _, a, s, _ in recorded] == [
        ("dpo.page_cohort_audit", "/audit/cohorts"),
        ("dpo.page_rights_requests", "/audit/rights"),
        ("dpo.page_rights_requests", "/audit/rights"),
        ("dpo.page_audit_log", "/audit/log"),
    ]
    assert {(who, why) for who, _, _, why in recorded} == {(f"dpo:{prefix} (Dpo Person)", PURPOSE)}
    # The log page lists its own view: it was recorded before the log was read.
    assert log.text.count("dpo.page_audit_log</code>") == 1
    last = [*store.audit.entries()][-1]
    assert dict(last.detail) == {"method": "GET", "route": "/audit/log", "query": "action=dpo."}


def test_the_purpose_can_be_changed_with_a_csrf_checked_form(
    env: tuple[TestClient, Store, ShiftedClock],
) -> None:
    client, store, _ = env
    keys = seed(store)
    sign_in(client, keys["dpo"], PURPOSE)
    form = client.get("/audit/purpose?next=/audit/rights")
    assert form.status_code == 200 and PURPOSE in form.text
    token = _csrf(form.text)
    forged = client.post("/audit/purpose", data={"purpose": "x" * 20, "csrf": "nope"})
    assert forged.status_code == 403 and "csrf_failed" in forged.text
    short = client.post("/audit/purpose", data={"purpose": "short", "csrf": token})
    assert short.status_code == 422 and "at least 15 characters" in short.text
    changed = client.post(
        "/audit/purpose",
        data={
            "purpose": "Quarterly review of overdue requests",
            "csrf": token,
            "next": "/audit/rights",
        },
        follow_redirects=False,
    )
    assert (changed.status_code, changed.headers["location"]) == (303, "/audit/rights")
    client.get("/audit/rights")
    assert dpo_actions(store)[-1][3] == "Quarterly review of overdue requests"
    out = client.post("/audit/sign-out", data={"csrf": _csrf(client.get("/audit").text)})
    assert out.status_code == 200 and "You are signed out" in out.text
    assert client.get("/audit", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_session(env: tuple[TestClient, Store, ShiftedClock]) -> None:
    client, store, clock = env
    keys = seed(store)
    sign_in(client, keys["dpo"], PURPOSE)
    assert client.get("/audit/cohorts").status_code == 200
    store.staff.revoke(_prefix(store, "Dpo Person"), clock.now_ms())
    r = client.get("/audit/cohorts", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/audit/sign-in?next=/audit/cohorts")


def test_the_log_search_filters_pages_and_shows_a_broken_chain(
    env: tuple[TestClient, Store, ShiftedClock],
) -> None:
    client, store, _ = env
    keys = seed(store)
    for i in range(60):
        store.audit.append(
            actor=f"operator:op{i % 2}",
            action="campaign.paused",
            purpose="campaign management",
            subject=f"campaign:c{i}",
            detail={"i": i},
            now_ms=T0 - 5 * DAY_MS + i * 60_000,
        )
    store.audit.append(
        actor="operator:op0", action="campaign.resumed", purpose="p", subject="campaign:late",
        detail={}, now_ms=T0 - DAY_MS,
    )  # fmt: skip
    sign_in(client, keys["dpo"], PURPOSE)
    first = client.get("/audit/log", params={"action": "campaign.paused"})
    assert first.text.count("campaign.paused</code>") == 50  # one page
    assert "Next page" in first.text
    following = re.search(r'href="(\?[^"]*after=\d+)" rel="next"', first.text)
    assert following
    rest = client.get("/audit/log" + following.group(1).replace("&amp;", "&"))
    assert rest.text.count("campaign.paused</code>") == 10 and "Next page" not in rest.text
    by_actor = client.get("/audit/log", params={"actor": "OP1", "action": "campaign.paused"})
    assert by_actor.text.count("campaign.paused</code>") == 30
    by_subject = client.get("/audit/log", params={"subject": "campaign:c1"})
    assert by_subject.text.count("campaign.paused</code>") == 11  # c1, c10..c19
    late = client.get("/audit/log", params={"first": "2026-09-20", "last": "2026-09-20"})
    assert "campaign:late" in late.text and "campaign:c1<" not in late.text
    none = client.get("/audit/log", params={"actor": "nobody"})
    assert "No record matches this search" in none.text
    wrong = client.get("/audit/log", params={"first": "2026-09-20", "last": "2026-09-01"})
    assert wrong.status_code == 422 and "The last day is before the first day" in wrong.text
    assert 'badge-ok">intact' in first.text and "Head: <code" in first.text
    with store.engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(subject="other"))
    broken = client.get("/audit/log")
    assert "The hash chain is broken" in broken.text
    assert "record 2: its content was changed after writing" in broken.text


def test_the_dpo_pages_have_empty_states(env: tuple[TestClient, Store, ShiftedClock]) -> None:
    client, store, _ = env
    key = store.staff.create("Dana", Role.DPO, T0)[1]
    sign_in(client, key, PURPOSE)
    assert "No cohort run yet" in client.get("/audit/cohorts").text
    assert "No rights request has been received yet" in client.get("/audit/rights").text
    assert "No request matches these filters" in client.get("/audit/rights?kind=erasure").text


# In Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Browser, Store, dict[str, str]]]:
    app, store, _ = _open_app(tmp_path_factory.mktemp("audit-web"))
    keys = seed(store)
    for i in range(8):
        store.audit.append(
            actor="operator:bootstrap", action="campaign.paused", purpose="campaign management",
            subject=f"campaign:c{i}", detail={"reason": "budget"}, now_ms=T0 - DAY_MS + i,
        )  # fmt: skip
    with live_server(app) as base, chromium() as browser:
        yield base, browser, store, keys
    store.close()


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} scrolls sideways at 360 px ({width} px wide)"


def _browser_sign_in(page: Page, base: str, key: str, purpose: str, path: str) -> None:
    page.goto(f"{base}{path}")  # redirected to the sign-in, then back
    page.get_by_label("Staff key").fill(key)
    page.get_by_label("Purpose of this session").fill(purpose)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


@pytest.mark.slow
def test_the_dpo_reads_every_page_in_chromium(
    served: tuple[str, Browser, Store, dict[str, str]],
) -> None:
    base, browser, store, keys = served
    for width, height, suffix in ((1280, 900, ""), (360, 740, "-narrow")):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        _browser_sign_in(page, base, keys["dpo"], PURPOSE, "/audit")
        if not suffix:
            assert_accessible(page)
            screenshot(page, "audit-overview")
        for path, heading, shot in (
            ("/audit/cohorts", "Cohort audit", "audit-cohorts"),
            ("/audit/rights", "Rights requests", "audit-rights"),
            ("/audit/log", "Audit log", "audit-log"),
            ("/audit/ropa", "Records of processing activities", "audit-ropa"),
        ):
            page.get_by_role("navigation").get_by_role(
                "link", name=re.compile({"/audit/ropa": "Records of processing"}.get(path, heading))
            ).click()
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
            if suffix:
                _no_sideways_scroll(page)
                continue
            assert_accessible(page)
            screenshot(page, shot)
        if not suffix:
            page.goto(f"{base}/audit/rights")
            expect(page.get_by_text("overdue by 9 days")).to_be_visible()
            page.goto(f"{base}/audit/log")
            expect(page.get_by_text("intact", exact=True)).to_be_visible()
            page.get_by_label("Action").fill("campaign.paused")
            page.get_by_label("Actor").fill("bootstrap")
            page.get_by_role("button", name="Search").click()
            expect(page.get_by_role("table")).to_contain_text("campaign:c7")
            page.goto(f"{base}/audit/sign-in")
            assert_accessible(page)
        context.close()
    actions = [a for _, a, _, why in dpo_actions(store) if why == PURPOSE]
    assert {"dpo.page_cohort_audit", "dpo.page_rights_requests", "dpo.page_audit_log"} <= set(
        actions
    )


@pytest.mark.slow
def test_an_analyst_is_refused_and_a_tampered_log_shows_broken_in_chromium(
    served: tuple[str, Browser, Store, dict[str, str]],
) -> None:
    base, browser, store, keys = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _browser_sign_in(page, base, keys["analyst"], "", "/audit")
    response = page.goto(f"{base}/audit/cohorts")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("needs the dpo role")
    assert_accessible(page)
    screenshot(page, "audit-forbidden")
    page.goto(f"{base}/audit/sign-in")
    error = page.goto(f"{base}/audit/sign-in")
    assert error is not None
    page.get_by_label("Staff key").fill(keys["dpo"])
    page.get_by_role("button", name="Sign in").click()  # no purpose: refused, says why
    expect(page.get_by_role("alert")).to_contain_text("at least 15 characters")
    assert_accessible(page)
    context.close()
    with store.engine.begin() as conn:
        conn.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(purpose="rewritten"))
    dpo = browser.new_context(viewport={"width": 1280, "height": 900})
    page = dpo.new_page()
    _browser_sign_in(page, base, keys["dpo"], PURPOSE, "/audit/log")
    expect(page.get_by_role("alert")).to_contain_text("The hash chain is broken")
    expect(page.get_by_role("alert")).to_contain_text("record 3")
    assert_accessible(page)
    screenshot(page, "audit-log-broken")
    dpo.close()
