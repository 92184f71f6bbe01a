"""The oversight console in a real browser (desk viewport)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from fieldid.service import SearchContext
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def console_sign_in(page, key: str) -> None:
    page.goto("/console/")
    page.fill("#api-key", key)
    page.click("#signin-button")


def officer_search(web_server, case: str) -> str:
    """A search made by the agency's officer (through the service, as the field app would)."""
    svc = web_server.service
    officer = svc.actor_for("web-pd-officer")
    ctx = SearchContext("criminal_investigation", case, "Criminal Procedure Act s.81")
    result = svc.identify(officer, ["watchlist"], web_server.probe.read_bytes(), ctx)
    assert result.candidates
    return result.search_id


def test_console_audit_search_and_chain(desk, web_server):
    officer_search(web_server, "CASE-AUDIT-9")
    console_sign_in(desk, web_server.keys["auditor"])
    expect(desk.locator("#screen-audit")).to_be_visible()
    expect(desk.locator("#chain")).to_have_attribute("data-intact", "true")
    desk.fill("#audit-form input[name=case_number]", "CASE-AUDIT-9")
    desk.select_option("#audit-form select[name=event_type]", "search.identify")
    desk.click("#audit-search")
    rows = desk.locator("#audit-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("CASE-AUDIT-9")
    expect(rows.first).to_contain_text("web-pd-officer (officer)")
    rows.first.click()
    expect(desk.locator("#event-detail")).to_contain_text("search.identify")
    expect(desk.locator("#event-detail pre")).to_contain_text("threshold")
    screenshot(desk, "console-audit")
    # Officers see only the accuracy page: no audit log, no challenges.
    desk.click("#signout")
    console_sign_in(desk, web_server.keys["officer"])
    expect(desk.locator("#screen-accuracy")).to_be_visible()
    expect(desk.locator("#tabs button[data-tab=audit]")).to_be_hidden()
    expect(desk.locator("#tabs button[data-tab=challenges]")).to_be_hidden()


def test_console_challenge_resolution_feeds_the_register(desk, web_server):
    svc = web_server.service
    search_id = officer_search(web_server, "CASE-REDRESS-3")
    officer = svc.actor_for("web-pd-officer")
    svc.file_challenge(
        officer,
        search_id,
        on_behalf_of="advocate",
        contact="advocate@example.org",
        grounds="The person was abroad on that date (passport stamps).",
    )
    console_sign_in(desk, web_server.keys["auditor"])
    desk.click("#tabs button[data-tab=challenges]")
    card = desk.locator("article.challenge").filter(has_text=search_id)
    expect(card).to_be_visible()
    screenshot(desk, "console-challenges")
    card.locator("input[value=upheld]").check()
    expect(card.locator("select[name=identity_id] option")).to_have_count(2)  # none + the one candidate shown
    card.locator("select[name=identity_id]").select_option(index=1)
    card.locator("textarea[name=reasons]").fill("Passport stamps show the person was abroad.")
    card.get_by_role("button", name="Record resolution").click()
    done = desk.locator("article.challenge[data-status=upheld]").filter(has_text=search_id)
    expect(done).to_be_visible()
    desk.click("#tabs button[data-tab=register]")
    expect(desk.locator("#register-table")).to_contain_text("CASE-REDRESS-3")
    screenshot(desk, "console-misidentifications")


def test_console_transparency_activity_and_accuracy(desk, web_server):
    officer_search(web_server, "CASE-REPORT-1")
    console_sign_in(desk, web_server.keys["auditor"])
    desk.click("#tabs button[data-tab=transparency]")
    expect(desk.locator("#transparency-chart svg")).to_have_count(2)
    expect(desk.locator("#transparency-table")).to_contain_text("web-pd")
    screenshot(desk, "console-transparency")
    desk.click("#tabs button[data-tab=activity]")
    expect(desk.locator("#officer-table")).to_contain_text("web-pd-officer")
    desk.click("#tabs button[data-tab=accuracy]")
    expect(desk.locator("#calibration")).to_contain_text("dlib")
    expect(desk.locator("#thresholds tbody tr")).to_have_count(2)
    expect(desk.locator("#accuracy svg polyline")).to_have_count(1)
    expect(desk.locator("#evaluation")).to_contain_text("fieldid eval faces")
    screenshot(desk, "console-accuracy")
