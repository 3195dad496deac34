"""End to end in headless Chromium against the live server, worker and tiny model.

1. A person signs up, verifies by the e-mailed link, generates and watches images arrive,
   shares one; a logged-out visitor opens the share page and reports it; a staff member with
   two-factor resolves the case and removes the image; the share page answers 410.
2. A purchase up to the Stripe Checkout redirect, the signed webhook that follows, and the
   new balance on the billing page.
Screenshots of the main pages at phone and desktop widths go to artifacts/screenshots/, and
axe-core checks them for serious accessibility problems.
"""

import json
import re
import time

import httpx
import pytest
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)

from billing.selectors import balance_summary
from generation.models import Image
from moderation.models import Case
from tests.billing.stripe_server import WEBHOOK_PATH, signature_header
from tests.e2e.conftest import (
    assert_fits_the_screen,
    record_submit_progress,
    screenshot,
    serious_accessibility_violations,
)
from tests.factories import TEST_PASSWORD, UserFactory, ensure_tiers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    # Rows must be committed for the live server to see them; afterwards the seeded tables
    # (tiers, the policy) are put back for the tests that run later.
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "a-long-and-unusual-passphrase-42"


def _totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


def _accessible(page, name: str, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    """axe-core's serious findings, and the page must fit a phone's width."""
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


def test_sign_up_generate_share_report_and_take_down(live_easel, browser):  # type: ignore[no-untyped-def]
    ensure_tiers()
    base = live_easel.url
    problems: list[str] = []
    person = browser.new_context(viewport={"width": 1280, "height": 900})
    page = person.new_page()
    submitted = record_submit_progress(page)

    # The landing page, then sign-up and the verification link from the outbox.
    page.goto(base + "/")
    assert page.locator("h1").inner_text().startswith("Describe it")
    screenshot(page, "landing", dark=True)
    _accessible(page, "landing", problems)
    page.goto(base + "/accounts/signup/")
    screenshot(page, "signup")
    _accessible(page, "signup", problems)
    email = f"painter-{int(time.time() * 1000)}@example.com"
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"))
    page.goto(live_easel.mail_link(to=email))
    page.click("form button[type=submit]")  # "Confirm"
    page.wait_for_url(re.compile(r".*/create/$"))  # confirming lands on Create

    # Create: the cost shows before submitting; the images arrive on the progress page.
    page.goto(base + "/create/")
    page.fill("textarea[name=prompt]", "a lighthouse on a cliff at dawn, watercolour")
    page.fill("input[name=n]", "2")
    page.select_option("select[name=size]", "256x256")
    assert page.locator("[data-cost]").inner_text() == "2"
    assert page.locator("#prompt-count").inner_text().startswith("44 / 1000")
    screenshot(page, "create")
    _accessible(page, "create", problems)
    # The first request after a start loads the screening model: the button shows progress
    # at once, and the page moves on when the job is admitted.
    page.click("form.prompt-box button[type=submit]", no_wait_after=True)
    page.wait_for_url(re.compile(r".*/g/[0-9a-f-]+/$"), timeout=120_000)
    assert submitted[-1] == "true"  # the button was busy as soon as the form went
    # The worker loads the model on its first job, so the page first shows the queue or steps;
    # htmx then swaps the fragment in place (no reload) until the images are there.
    seen = page.locator("[data-testid=progress-text]").first.inner_text()
    assert re.fullmatch(
        r"Position \d+ in the queue.*|Waiting for a worker|Step \d+ of \d+"
        r"|2 of 2 images delivered.*",
        seen,
    ), seen
    page.evaluate("window.__easelSamePage = true")
    page.wait_for_selector("#progress[data-status=succeeded]", timeout=90_000)
    assert page.evaluate("window.__easelSamePage === true")  # updated in place by htmx
    results = page.locator("[data-testid=results] img")
    assert results.count() == 2
    # The tiles were just swapped in: wait until the browser has loaded both files.
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=results] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    widths = page.evaluate(
        "[...document.querySelectorAll('[data-testid=results] img')].map(i => i.naturalWidth)"
    )
    assert widths == [256, 256]
    screenshot(page, "generation")

    # The image page: share it, with the link shown.
    results.first.click()
    page.wait_for_url(re.compile(r".*/i/[0-9a-f-]+/$"))
    screenshot(page, "image", dark=True)
    _accessible(page, "image", problems)
    page.click("section[aria-labelledby=share-title] button[type=submit]")
    share_url = page.locator("#share-link").inner_text().strip()
    slug = share_url.rsplit("/", 1)[-1]
    image_url = page.url

    # Edit: paint a mask over the top-left corner on the canvas, then prompt.
    page.goto(image_url + "edit")
    page.wait_for_load_state("load")
    box = page.locator("canvas.mask-layer").bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    page.fill("textarea[name=prompt]", "a lighthouse with a red roof")
    screenshot(page, "edit")
    _accessible(page, "edit", problems)
    page.click("form[data-mask-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*/g/[0-9a-f-]+/$"))
    page.wait_for_selector("#progress[data-status=succeeded]", timeout=60_000)
    assert "Edit (inpainting)" in page.content()

    # Extend: the image on a 1.5x canvas growing right (one frame), painted and stitched.
    page.goto(image_url + "extend")
    page.check("input[name=scale][value='1.5']")
    page.wait_for_selector("[data-testid=extend-plan]:has-text('384×256 canvas · 1 frame')")
    page.fill("textarea[name=prompt]", "a lighthouse on a long beach")
    screenshot(page, "extend")
    _accessible(page, "extend", problems)
    page.click("button:has-text('Extend for 1 credit')")
    page.wait_for_url(re.compile(r".*/x/[0-9a-f-]+/$"))
    page.wait_for_selector("#extension-progress[data-status=succeeded]", timeout=60_000)
    result = page.locator("[data-testid=extension-result]")
    result.evaluate("i => i.decode()")
    assert result.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [384, 256]
    screenshot(page, "extension")
    _accessible(page, "extension", problems)

    page.goto(base + "/history/")
    screenshot(page, "history")
    _accessible(page, "history", problems)

    # Logged out: the share page unfurls (OpenGraph) and takes a report.
    visitor = browser.new_context(viewport={"width": 390, "height": 844})
    public = visitor.new_page()
    response = public.goto(f"{base}/s/{slug}")
    assert response.status == 200
    assert (
        public.locator("meta[property='og:image']").get_attribute("content")
        == f"{base}/s/{slug}/image.png"
    )
    assert (
        public.locator("meta[name='twitter:card']").get_attribute("content")
        == "summary_large_image"
    )
    assert (
        public.evaluate("document.querySelector('[data-testid=shared-image] img').naturalWidth")
        == 256
    )
    screenshot(public, "share")
    _accessible(public, "share", problems)
    public.click("#report summary")
    public.select_option("select[name=reason]", "violence")
    public.fill("textarea[name=details]", "This looks violent to me.")
    public.click("#report button[type=submit]")
    assert "A person on our team will look at this image" in public.content()
    public.goto(base + "/explore/")
    assert public.locator(f"a[href='/s/{slug}']").count() >= 1
    screenshot(public, "explore")
    _accessible(public, "explore", problems)

    # Staff with two-factor: log in with the code, find the case, reveal, remove the image.
    secret = generate_totp_secret()
    staff = UserFactory(is_staff=True, email=f"reviewer-{slug.lower()}@example.com")
    TOTP.activate(staff, secret)
    reviewer = browser.new_context(viewport={"width": 1280, "height": 900})
    console = reviewer.new_page()
    _log_in(console, base, staff.email)
    console.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/.*"))
    console.fill("input[name=code]", _totp_code(secret))
    console.click("form button[type=submit]")
    console.wait_for_load_state()
    console.goto(base + "/console/?source=report")
    screenshot(console, "console-queue")
    _accessible(console, "console-queue", problems)
    case = Case.objects.get(source=Case.Source.REPORT, state=Case.State.OPEN)
    console.click(f"a[href='/console/cases/{case.pk}/']")
    console.wait_for_url(re.compile(rf".*/console/cases/{case.pk}/$"))
    console.wait_for_load_state("load")  # the shortcuts script is loaded
    console.keyboard.press("c")  # claim
    console.wait_for_selector("text=Case claimed")
    console.wait_for_load_state("load")
    assert console.locator(".reveal-wrap.revealed").count() == 0
    console.keyboard.press("v")  # reveal every image
    assert console.locator(".reveal-wrap.revealed").count() == 1
    screenshot(console, "console-case")
    _accessible(console, "console-case", problems)
    console.keyboard.press("r")  # action: remove the image
    console.keyboard.press("u")  # resolution: upheld; the focus moves to the reason
    console.keyboard.type("Graphic violence: removed under the policy.")
    assert console.is_checked("input[name=actions][value=remove_image]")
    console.uncheck("input[name=next]")
    console.click("form[action$='/resolve'] button[type=submit]")
    console.wait_for_url(re.compile(r".*/console/$"))
    case.refresh_from_db()
    assert case.state == Case.State.RESOLVED and case.resolution == Case.Resolution.UPHELD

    for name, path in (
        ("console-users", "/console/users/"),
        (
            "console-user",
            f"/console/users/{Image.objects.get(share__slug=slug).generation.user_id}/",
        ),
        ("console-figures", "/console/figures/"),
        ("console-policy", "/console/policy/"),
        ("console-transparency", "/console/transparency/"),
        ("console-audit", "/console/audit/"),
    ):
        console.goto(base + path)
        screenshot(console, name)
        _accessible(console, name, problems)

    # The share page is gone at once, for everyone.
    gone = public.goto(f"{base}/s/{slug}")
    assert gone.status == 410
    assert Image.objects.get(share__slug=slug).status == Image.Status.REMOVED
    public.goto(base + "/explore/")
    assert public.locator(f"a[href='/s/{slug}']").count() == 0

    assert not problems, "\n".join(problems)


def test_purchase_through_checkout_and_webhook_then_the_new_balance(live_easel, browser):  # type: ignore[no-untyped-def]
    ensure_tiers()
    base = live_easel.url
    stripe = live_easel.stripe
    problems: list[str] = []
    buyer = UserFactory(email=f"buyer-{int(time.time() * 1000)}@example.com")
    before = balance_summary(user=buyer).balance
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, base, buyer.email)
    page.wait_for_load_state()
    page.goto(base + "/billing/")
    assert page.locator("[data-testid=balance]").inner_text() == str(before)
    screenshot(page, "billing")
    _accessible(page, "billing", problems)
    for name, path in (
        ("developers", "/developers/"),
        ("account", "/account/"),
        ("collections", "/collections/"),
    ):
        page.goto(base + path)
        screenshot(page, name)
        _accessible(page, name, problems)

    # Buy: the browser is sent to Stripe Checkout (the local Stripe answers for it).
    page.goto(base + "/billing/")
    with page.expect_request(lambda request: request.url.startswith(stripe.url)) as checkout:
        page.click("form[action='/billing/buy'] button[type=submit]")
    assert checkout.value.url.startswith(stripe.url)
    session_id = next(
        obj["id"]
        for obj in stripe.state.objects.values()
        if obj.get("object") == "checkout.session"
        and obj.get("client_reference_id") in (str(buyer.pk), None)
    )

    # The customer pays; Stripe sends the signed webhook to the live server.
    session = stripe.pay_checkout_session(session_id)
    payload = json.dumps(stripe.event("checkout.session.completed", session)).encode()
    from tests.billing.stripe_server import TEST_WEBHOOK_SECRET

    answer = httpx.post(
        base + WEBHOOK_PATH,
        content=payload,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": signature_header(payload, TEST_WEBHOOK_SECRET),
        },
    )
    assert answer.status_code == 200

    # The worker grants the credits; the billing page shows the new balance.
    expected = str(before + 115)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto(base + "/billing/?checkout=success")
        if page.locator("[data-testid=balance]").inner_text() == expected:
            break
        time.sleep(0.5)
    assert page.locator("[data-testid=balance]").inner_text() == expected
    assert page.locator("a[href*='pay.stripe.com/receipts/']").count() == 1
    assert not problems, "\n".join(problems)
