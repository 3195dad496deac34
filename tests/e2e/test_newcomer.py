"""The newcomer's path in headless Chromium, phone and desktop, under production's CSP, on a
live server started without SITE_URL (the public address follows its port):

the quick start and share previews name the port served; the API reference renders from
Easel's own files; the local-model banner; a blocked prompt says how many strikes are left;
a suspension shows on every page and on Create, with a working appeal link; the billing
history is one row per generation; Explore searches, sorts and pages; the public
/transparency page; styled 403 and 404; the phone menu shows every section; a staff member
without two-factor sets it up from the console and comes back to it; the local admin signs
in with what `ensure_local_admin` printed. Screenshots go to artifacts/screenshots/ and
axe-core must find no serious problem.
"""

import datetime
import io
import re
import time

import pytest
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core.management import call_command
from django.utils import timezone

from generation.models import Share
from generation.services.sharing import share_enable
from moderation.services.enforcement import suspension_create
from tests.e2e.conftest import (
    PHONE,
    assert_fits_the_screen,
    record_submit_progress,
    screenshot,
    serious_accessibility_violations,
)
from tests.factories import TEST_PASSWORD, UserFactory, ensure_tiers
from tests.frontend.conftest import stored_image

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

BLOCKED_PROMPT = "explicit pornographic nude sex scene"


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


def _check(page, name: str, problems: list[str], *, dark: bool = False) -> None:  # type: ignore[no-untyped-def]
    screenshot(page, name, dark=dark)
    problems.extend(f"{name}: {line}" for line in serious_accessibility_violations(page))
    try:
        assert_fits_the_screen(page)
    except AssertionError as error:
        problems.append(f"{name}: {error}")


def _log_in(page, base: str, email: str, password: str = TEST_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def _csp_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return errors


def test_a_newcomer_meets_no_rough_edge(live_easel, browser):  # type: ignore[no-untyped-def]
    ensure_tiers()
    base = live_easel.url
    problems: list[str] = []
    person = UserFactory(email=f"newcomer-{int(time.time() * 1000)}@example.com")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    csp = _csp_errors(page)
    submitted = record_submit_progress(page)
    _log_in(page, base, person.email)
    assert page.url == f"{base}/create/"  # signing in lands on Create

    # Local mode is explained; the phone menu shows every section.
    banner = page.locator("[data-testid=local-model-banner]")
    assert "easel/tiny" in banner.inner_text() and "EASEL_MODEL" in banner.inner_text()
    page.set_viewport_size(PHONE)
    for label in ("Create", "History", "Collections", "Explore", "Billing", "API", "Account"):
        box = page.locator("nav.nav a", has_text=label).first.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], label
    screenshot(page, "newcomer-create-menu")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The quick start names the port this server listens on (no SITE_URL was set).
    page.goto(base + "/developers/")
    assert f"curl {base}/v1/images/generations" in page.locator("#curl-example").inner_text()
    assert f'base_url="{base}/v1"' in page.locator("#python-example").inner_text()

    # The API reference renders from Easel's own static files under the strict CSP.
    page.goto(base + "/api/docs/")
    page.wait_for_selector("#swagger-ui .opblock-tag", timeout=30_000)
    _check(page, "api-docs", problems)  # folded: short enough for a phone
    for tag in page.locator("#swagger-ui .opblock-tag").all():  # "api" and "openai"
        tag.click()
    page.wait_for_selector("#swagger-ui .opblock")
    assert page.locator("#swagger-ui .opblock").count() > 20
    assert "/v1/images/generations" in page.locator("#swagger-ui").inner_text()
    problems.extend(f"api-docs open: {line}" for line in serious_accessibility_violations(page))
    page.emulate_media(color_scheme="dark")
    problems.extend(f"api-docs dark: {line}" for line in serious_accessibility_violations(page))
    page.emulate_media(color_scheme="light")

    # A blocked prompt: the message says how many more blocks suspend the account.
    page.goto(base + "/create/")
    page.fill("textarea[name=prompt]", BLOCKED_PROMPT)
    page.click("form.prompt-box button[type=submit]", no_wait_after=True)
    page.wait_for_selector(".alert.policy", timeout=120_000)
    assert submitted[-1] == "true"  # the button showed progress at once
    message = page.locator(".alert.policy").inner_text()
    assert "4 more blocked requests within 24 hours will suspend your account" in message
    assert page.locator(".alert.policy a[href='/appeals/']").count() == 1
    _check(page, "create-blocked", problems)

    # Suspended: a banner on every page with the end, Create says so first, the appeal works.
    ends = timezone.now() + datetime.timedelta(hours=24)
    suspension_create(user=person, reason="five blocked attempts", ends_at=ends, actor=None)
    for path in ("/create/", "/history/", "/billing/"):
        page.goto(base + path)
        suspended = page.locator("[data-testid=suspension-banner]")
        assert ends.strftime("%-d %b %Y") in suspended.inner_text(), path
    assert page.locator("[data-testid=suspension-banner]").count() == 1
    page.goto(base + "/create/")
    assert page.locator("[data-testid=create-suspended]").count() == 1
    assert page.locator("form.prompt-box button[type=submit]").is_disabled()
    _check(page, "create-suspended", problems)
    page.click("[data-testid=suspension-banner] a[href='/appeals/']")
    page.wait_for_url(re.compile(r".*/appeals/$"))
    page.fill("textarea[name=text]", "That prompt was about a painting class; please look again.")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert "A person will review it" in page.content()
    _check(page, "appeals-suspended", problems)

    # Billing history: one row for the sign-up grant, named as such.
    page.goto(base + "/billing/")
    rows = page.locator("[data-testid=ledger-row]")
    assert rows.count() == 1 and "Sign-up credits" in rows.first.inner_text()
    assert "Sign-up credits" in page.locator("#lots-title + .table-wrap").inner_text()

    # Explore: search, sort, the view counter, and share previews on the served port.
    owner = UserFactory()
    shares = [
        share_enable(user=owner, image_id=stored_image(user=owner, prompt=prompt).pk)
        for prompt in ("a lighthouse at dawn", "a lighthouse in fog", "a teapot")
    ]
    page.goto(f"{base}/s/{shares[0].slug}")
    assert (
        page.locator("meta[property='og:image']").get_attribute("content")
        == f"{base}/s/{shares[0].slug}/image.png"
    )
    page.reload()  # a second look by the same person counts once
    assert Share.objects.get(pk=shares[0].pk).view_count == 1
    page.goto(base + "/explore/")
    page.fill("input[name=q]", "lighthouse")
    page.select_option("select[name=sort]", "views")
    page.click("[data-testid=explore-search] button[type=submit]")
    page.wait_for_url(re.compile(r".*q=lighthouse.*sort=views.*"))
    found = page.locator("[data-testid=explore-results] a").evaluate_all(
        "links => links.map(l => l.getAttribute('href'))"
    )
    assert found == [f"/s/{shares[0].slug}", f"/s/{shares[1].slug}"]  # most viewed first
    _check(page, "explore-search", problems)

    # The public transparency page, and Easel's own 404 and 403.
    page.goto(base + "/transparency")
    assert page.locator("[data-testid=transparency-requests-summary]").inner_text()
    _check(page, "transparency", problems)
    missing = page.goto(base + "/no-such-page/")
    assert missing.status == 404 and "There is nothing here" in page.content()
    _check(page, "not-found", problems)
    refused = page.goto(base + "/console/")
    assert refused.status == 403 and "for Easel's staff" in page.content()
    _check(page, "forbidden", problems)
    favicon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(base + favicon).status == 200
    assert not csp, csp

    # Staff without two-factor: the console sends them to set it up, then back.
    staff = UserFactory(is_staff=True, email=f"staff-{int(time.time() * 1000)}@example.com")
    reviewer = browser.new_context(viewport={"width": 1280, "height": 900})
    console = reviewer.new_page()
    _log_in(console, base, staff.email)
    console.goto(base + "/console/")
    if "/reauthenticate/" in console.url:
        console.fill("input[name=password]", TEST_PASSWORD)
        console.click("main form button[type=submit]")
        console.wait_for_load_state()
    console.wait_for_url(re.compile(r".*/accounts/2fa/totp/activate/.*"))
    secret = console.locator("#authenticator_secret").input_value()
    _check(console, "two-factor-activate", problems)
    console.fill("input[name=code]", _code(secret))
    console.click("main form button[type=submit]")
    console.wait_for_url(re.compile(r".*/accounts/2fa/recovery-codes/$"))
    _check(console, "two-factor-recovery-codes", problems)
    console.click("[data-testid=two-factor-continue]")
    console.wait_for_url(re.compile(r".*/console/$"))
    console.goto(base + "/console/transparency/")
    _check(console, "console-transparency-sections", problems)

    # The local admin signs in with what ensure_local_admin printed.
    printed = io.StringIO()
    call_command("ensure_local_admin", "--email", f"admin-{staff.pk}@easel.local", stdout=printed)
    text = printed.getvalue()
    email, password = re.search(r"created: (\S+) / (\S+)", text).groups()
    admin_secret = re.search(r"authenticator app: ([A-Z2-7]+)", text).group(1)
    local = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _log_in(local, base, email, password)
    local.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/.*"))
    local.fill("input[name=code]", _code(admin_secret))
    local.click("main form button[type=submit]")
    local.wait_for_load_state()
    assert local.goto(base + "/console/").status == 200

    assert not problems, "\n".join(problems)
