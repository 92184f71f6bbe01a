"""The field app in a real browser (phone viewport, fake camera fed from a dev-set face)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def sign_in(page, key: str) -> None:
    page.goto("/field/")
    page.fill("#api-key", key)
    page.click("#signin-button")


def fill_purpose(page, case: str = "CASE-2026-0142") -> None:
    page.select_option("#purpose", "criminal_investigation")
    page.fill("#case-number", case)
    page.fill("#legal-basis", "Criminal Procedure Act s.81")
    page.click("#purpose-continue")


def capture_and_search(page) -> None:
    expect(page.locator("#shutter")).to_be_enabled()
    expect(page.locator("#quality")).to_contain_text("Quality", timeout=30_000)  # live server-side feedback
    page.click("#shutter")
    expect(page.locator("#quality")).to_contain_text("Ready to search", timeout=30_000)
    expect(page.locator("#search")).to_be_enabled()
    page.click("#search")
    expect(page.locator("#screen-results")).to_be_visible(timeout=30_000)


def test_sign_in_rejects_a_bad_key_and_shows_the_demo_banner(phone, web_server):
    sign_in(phone, "fid_not-a-key")
    expect(phone.locator("#signin-error .error")).to_be_visible()
    expect(phone.locator("#demo-banner")).to_be_visible()
    screenshot(phone, "field-sign-in")
    phone.fill("#api-key", web_server.keys["officer"])
    phone.click("#signin-button")
    expect(phone.locator("#screen-purpose")).to_be_visible()
    expect(phone.locator("#who")).to_contain_text("web-pd-officer")
    # An installable PWA: manifest linked, service worker controlling /field/.
    scope = phone.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope.endswith("/field/")
    manifest = phone.evaluate("document.querySelector('link[rel=manifest]').href")
    assert manifest.endswith("/field/manifest.webmanifest")


def test_purpose_form_is_required_before_capture(phone, web_server):
    sign_in(phone, web_server.keys["officer"])
    expect(phone.locator("#screen-purpose")).to_be_visible()
    expect(phone.locator("input[name=gallery]")).to_have_count(1)  # the training sandbox is not offered
    phone.click("#purpose-continue")
    expect(phone.locator("#purpose-error")).to_contain_text("purpose")
    expect(phone.locator("#purpose-error")).to_contain_text("case number")
    expect(phone.locator("#screen-capture")).to_be_hidden()
    screenshot(phone, "field-purpose-required")
    fill_purpose(phone)
    expect(phone.locator("#screen-capture")).to_be_visible()
    # The case is remembered for the shift (session storage): a reload goes straight to capture.
    phone.reload()
    expect(phone.locator("#screen-capture")).to_be_visible()
    expect(phone.locator("#context-line")).to_contain_text("CASE-2026-0142")


def test_capture_search_shows_candidate_cards_with_fmr(phone, web_server):
    sign_in(phone, web_server.keys["officer"])
    fill_purpose(phone)
    expect(phone.locator("#quality")).to_contain_text("Quality", timeout=30_000)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(phone, "field-capture", full_page=False)
    capture_and_search(phone)
    expect(phone.locator("#outcome")).to_have_attribute("data-outcome", "candidates")
    card = phone.locator("article.candidate").first
    expect(card).to_be_visible()
    expect(card.locator(".fmr")).to_contain_text("1 in ")
    expect(card.locator(".efc")).to_contain_text("at this gallery size (8)")
    expect(card.locator("img.thumb")).to_have_attribute("src", re.compile("^blob:"))
    expect(phone.locator("#screen-results")).to_contain_text("Threshold")
    expect(phone.locator("#record-sources")).to_be_visible()
    body = phone.locator("body").inner_text().lower()
    assert "match" not in body  # never a bare verdict
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling on a phone
    phone.wait_for_timeout(300)  # thumbnails decoded
    screenshot(phone, "field-results")


def test_upload_fallback_and_retake(phone, web_server):
    sign_in(phone, web_server.keys["officer2"])
    fill_purpose(phone, "CASE-UPLOAD-1")
    phone.set_input_files("#upload", str(web_server.probe))
    expect(phone.locator("#still")).to_be_visible()
    expect(phone.locator("#quality")).to_contain_text("Ready to search", timeout=30_000)
    phone.click("#retake")
    expect(phone.locator("#still")).to_be_hidden()
    expect(phone.locator("#video")).to_be_visible()


def test_training_mode_shows_an_unmistakable_banner(phone, web_server):
    sign_in(phone, web_server.keys["trainee"])
    expect(phone.locator("#training-banner")).to_be_visible()
    expect(phone.locator("#training-banner")).to_contain_text("Training mode")
    expect(phone.locator("#training-toggle")).to_be_hidden()  # trainees cannot leave training
    expect(phone.locator("#purpose")).to_have_value("training")
    expect(phone.locator("input[name=gallery]")).to_have_count(1)
    phone.fill("#case-number", "PRACTICE-1")
    phone.fill("#legal-basis", "Training")
    phone.click("#purpose-continue")
    phone.set_input_files("#upload", str(web_server.training_probe))
    expect(phone.locator("#search")).to_be_enabled(timeout=30_000)
    phone.click("#search")
    expect(phone.locator("#screen-results")).to_be_visible(timeout=30_000)
    expect(phone.locator("#practice-feedback")).to_contain_text("Training")
    expect(phone.locator("#results .banner.training")).to_be_visible()
    screenshot(phone, "field-training")


def test_two_person_confirmation(browser, phone, web_server):
    sign_in(phone, web_server.keys["officer"])
    fill_purpose(phone, "CASE-2P-7")
    capture_and_search(phone)
    card = phone.locator("article.candidate").first
    card.get_by_role("button", name="Confirm").click()
    state = card.locator("[data-role=review-state]")
    expect(state).to_have_attribute("data-state", "pending")
    expect(state).to_contain_text("1 of 2")
    screenshot(phone, "field-two-person-pending")

    # A second officer, on another phone, finds it in the review queue and confirms.
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, base_url=web_server.url)
    other = ctx.new_page()
    other.set_default_timeout(20_000)
    try:
        sign_in(other, web_server.keys["officer2"])
        expect(other.locator("#tabs")).to_be_visible()
        other.click("#tab-queue")
        item = other.locator("#queue article.candidate").filter(has_text="CASE-2P-7").first
        expect(item).to_be_visible()
        expect(item.locator(".fmr")).to_contain_text("1 in ")
        screenshot(other, "field-review-queue")
        item.get_by_role("button", name="Confirm").click()
        expect(item.locator("[data-role=review-state]")).to_have_attribute("data-state", "confirmed")
    finally:
        ctx.close()
    # The first officer's card follows the state: confirmed by two reviewers.
    expect(state).to_have_attribute("data-state", "confirmed", timeout=15_000)
    expect(card.get_by_role("button", name="Confirm")).to_be_disabled()
    # Documentary evidence that contradicts the candidate blocks it, whatever the confirmations.
    card.get_by_role("button", name="Evidence").click()
    card.get_by_label("Evidence kind").select_option("identity_document")
    card.get_by_label("Evidence description").fill("Passport in another name, checked at the scene")
    card.get_by_text("Contradicts this candidate").click()
    card.get_by_role("button", name="Record evidence").click()
    expect(state).to_have_attribute("data-state", "blocked")
    expect(state).to_contain_text("Blocked by documentary evidence")


def test_finger_mode_searches_contactless_finger_photos(phone, web_server):
    sign_in(phone, web_server.keys["officer"])
    fill_purpose(phone, "CASE-FINGER-4")
    phone.check("#mode-finger")
    expect(phone.locator("#finger-guide")).to_be_visible()
    expect(phone.locator("#finger-controls")).to_be_visible()
    phone.select_option("#finger-position", "2")
    phone.set_input_files("#upload", str(web_server.finger_photo))
    item = phone.locator("#finger-list li.finger")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("right index")
    expect(item).to_contain_text("quality", timeout=30_000)  # server-side finger quality
    expect(phone.locator("#shutter")).to_be_enabled()  # more fingers can be photographed
    screenshot(phone, "field-finger-capture", full_page=False)
    phone.click("#search")
    expect(phone.locator("#screen-results")).to_be_visible(timeout=60_000)
    expect(phone.locator("#components")).to_contain_text("Finger: right index")
    assert "match" not in phone.locator("body").inner_text().lower()
    screenshot(phone, "field-finger-results")


def test_supervisor_federated_query_needs_a_justification(phone, web_server):
    sign_in(phone, web_server.keys["supervisor"])
    expect(phone.locator("#federated-row")).to_be_visible()
    expect(phone.locator("#investigative-row")).to_be_visible()
    phone.select_option("#purpose", "missing_person")
    phone.fill("#case-number", "CASE-FED-2")
    phone.fill("#legal-basis", "Missing Persons Act s.4")
    phone.check("#federated")
    phone.fill("#justification", "Too short")
    phone.click("#purpose-continue")
    expect(phone.locator("#purpose-error")).to_contain_text("justification")
    phone.fill(
        "#justification", "Vulnerable missing person, last seen near the border crossing; all systems needed."
    )
    phone.click("#purpose-continue")
    expect(phone.locator("#context-line")).to_contain_text("FEDERATED")
    phone.set_input_files("#upload", str(web_server.probe))
    expect(phone.locator("#search")).to_be_enabled(timeout=30_000)
    phone.click("#search")
    expect(phone.locator("#outcome")).to_contain_text("Federated query", timeout=30_000)
