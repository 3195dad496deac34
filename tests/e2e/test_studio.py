"""The studio as a customer uses it, in headless Chromium, phone and desktop, under production's
CSP: every spending button says its price and follows the form as it changes, forms offer only
what the plan allows, live progress comes over Server-Sent Events (steps in place, a partial
preview when an event carries one) and falls back to polling without EventSource, an image of
one's own is uploaded with the face-consent step and repainted, and the appeals page says what
an overturn put right. Screenshots go to artifacts/screenshots/; axe finds no serious problem.
"""

import base64
import io
import re
import time

import pytest
from PIL import Image as PILImage

from accounts.models import Tier
from generation.models import Generation
from generation.services.progress import channel_name, progress_publish
from moderation.services.appeals import appeal_create
from tests.e2e.conftest import assert_fits_the_screen, screenshot, serious_accessibility_violations
from tests.factories import TEST_PASSWORD, GenerationFactory, UserFactory, ensure_tiers
from tests.generation.test_native_api import _wait_for_subscriber
from tests.moderation.process_helpers import make_staff
from tests.moderation.test_remedies import _resolve, _suspended_by_strikes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def _check(page, name: str, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    screenshot(page, name)
    problems.extend(f"{name}: {line}" for line in serious_accessibility_violations(page))
    try:
        assert_fits_the_screen(page)
    except AssertionError as error:
        problems.append(f"{name}: {error}")


def _signed_in(browser, base: str, user):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/create/$"))
    return context, page


def _png_file(tmp_path, side: int = 256) -> str:
    path = tmp_path / "mine.png"
    PILImage.new("RGB", (side, side), (40, 120, 200)).save(path, format="PNG")
    return str(path)


def _preview_b64() -> str:
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 64), (220, 60, 60)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_prices_plan_limits_uploads_and_a_real_job(live_easel, browser, tmp_path):  # type: ignore[no-untyped-def]
    ensure_tiers()
    base = live_easel.url
    problems: list[str] = []
    person = UserFactory(
        email=f"studio-{int(time.time() * 1000)}@example.com", tier=Tier.objects.get(name="pro")
    )
    context, page = _signed_in(browser, base, person)

    # Create: the button carries the price and follows n and size as they change.
    button = page.locator("form.prompt-box [data-cost-button]")
    assert button.inner_text() == "Generate (1 credit)"
    page.fill("input[name=n]", "3")
    assert button.inner_text() == "Generate (3 credits)"
    page.select_option("select[name=size]", "1024x1024")
    assert button.inner_text() == "Generate (6 credits)"
    _check(page, "studio-create-price", problems)

    # A real job on the worker; the page follows it over the API's event stream.
    streams: list[int] = []
    page.on(
        "response",
        lambda response: streams.append(response.status) if "/events" in response.url else None,
    )
    page.select_option("select[name=size]", "256x256")
    page.fill("input[name=n]", "1")
    page.fill("textarea[name=prompt]", "a lighthouse on a cliff at dawn, watercolour")
    page.click("form.prompt-box button[type=submit]")
    page.wait_for_url(re.compile(r".*/g/[0-9a-f-]+/$"), timeout=120_000)
    page.wait_for_selector("#progress[data-status=succeeded]", timeout=120_000)
    assert streams and streams[0] == 200, streams
    run_again = page.locator("[data-testid=run-again] [data-cost-button]")
    assert run_again.inner_text() == "Run again (1 credit)"
    _check(page, "studio-generation-done", problems)

    # The image page: variations offer the plan's counts and say the price as it changes.
    page.locator("[data-testid=results] a").first.click()
    page.wait_for_url(re.compile(r".*/i/[0-9a-f-]+/$"))
    image_url = page.url
    options = page.locator("#variation-n option").all_inner_texts()
    assert options == [str(n) for n in range(1, person.tier.max_n + 1)]
    variations = page.locator("[data-cost-button='Make variations']")
    assert variations.inner_text() == "Make variations (4 credits)"
    page.select_option("#variation-n", "2")
    assert variations.inner_text() == "Make variations (2 credits)"
    _check(page, "studio-image-prices", problems)

    # Edit: no more images than the plan, the price on the button.
    page.goto(image_url + "edit")
    assert page.locator("input[name=n]").get_attribute("max") == str(person.tier.max_n)
    repaint = page.locator("[data-cost-button=Repaint]")
    assert repaint.inner_text() == "Repaint (1 credit)"
    page.fill("input[name=n]", "5")
    assert repaint.inner_text() == "Repaint (5 credits)"

    # An image of one's own: consent for a face, then a repaint painted on the canvas.
    page.goto(base + "/create/")
    page.click("a[href='/create/upload']")
    page.wait_for_url(re.compile(r".*/create/upload$"))
    assert page.locator("[data-mask-editor]").is_hidden()  # variations need no painting
    page.set_input_files("input[name=image]", _png_file(tmp_path))
    reference = tmp_path / "reference.png"
    PILImage.new("RGB", (96, 96), (220, 200, 40)).save(reference, format="PNG")
    page.set_input_files("input[name=references]", [str(reference)])  # steers the result
    page.check("input[name=action][value=edit]")
    assert page.locator("[data-mask-editor]").is_visible()
    page.wait_for_function("document.querySelector('canvas.image-layer').width === 256")
    box = page.locator("canvas.mask-layer").bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    page.fill("textarea[name=prompt]", "a lighthouse with a red roof")
    page.check("input[name=face_consent]")
    page.fill("input[name=n]", "2")
    assert page.locator("[data-cost-button=Start]").inner_text() == "Start (2 credits)"
    _check(page, "studio-upload", problems)
    page.click("[data-cost-button=Start]")
    page.wait_for_url(re.compile(r".*/g/[0-9a-f-]+/$"), timeout=60_000)
    upload_job = Generation.objects.filter(user=person, operation="edit").get()
    assert upload_job.input_mask_key and upload_job.n == 2 and upload_job.reference_count == 1
    context.close()
    assert not problems, "\n".join(problems)


def test_a_landscape_webp_with_a_transparent_background(live_easel, browser):  # type: ignore[no-untyped-def]
    """Shapes are priced by billing as they are chosen; JPEG turns the transparent box off and
    says why; a landscape WebP with a transparent background is queued as chosen."""
    from billing.selectors import image_price

    ensure_tiers()
    base = live_easel.url
    problems: list[str] = []
    person = UserFactory(
        email=f"shapes-{int(time.time() * 1000)}@example.com", tier=Tier.objects.get(name="pro")
    )
    context, page = _signed_in(browser, base, person)
    button = page.locator("form.prompt-box [data-cost-button]")
    page.select_option("select[name=size]", label="Landscape 3:2 1536×1024")
    landscape = image_price(pixels=1536 * 1024)
    assert button.inner_text() == f"Generate ({landscape} credits)"
    box = page.locator("input[name=transparent]")
    page.select_option("select[name=output_format]", "jpeg")
    assert box.is_disabled()
    assert "Not with JPEG" in page.locator("#transparent-help").inner_text()
    page.select_option("select[name=output_format]", "webp")
    assert box.is_enabled()
    page.check("input[name=transparent]")
    page.fill("textarea[name=prompt]", "a paper kite over dunes, flat colours")
    _check(page, "studio-create-shapes", problems)

    page.click("form.prompt-box button[type=submit]")
    page.wait_for_url(re.compile(r".*/g/[0-9a-f-]+/$"), timeout=60_000)
    # The tiny model's entry names a background remover (a tiny random segmentation model).
    job = Generation.objects.get(user=person)
    assert (job.width, job.height, job.output_format, job.background) == (
        1536,
        1024,
        "webp",
        "transparent",
    )
    _check(page, "studio-create-transparent-queued", problems)
    assert job.credits_reserved == landscape
    context.close()
    assert not problems, "\n".join(problems)


def test_live_progress_over_events_with_a_preview_and_polling_without(live_easel, browser):  # type: ignore[no-untyped-def]
    """A job no worker takes: the test publishes its progress as the worker would."""
    ensure_tiers()
    base = live_easel.url
    problems: list[str] = []
    person = UserFactory(email=f"live-{int(time.time() * 1000)}@example.com")
    job = GenerationFactory.create(
        user=person, n=2, size=256, steps=4, status=Generation.Status.QUEUED
    )
    context, page = _signed_in(browser, base, person)
    page.goto(f"{base}/g/{job.pk}/")
    _wait_for_subscriber(channel_name(generation_id=job.pk))
    Generation.objects.filter(pk=job.pk).update(status=Generation.Status.RUNNING)
    progress_publish(generation_id=job.pk, status="running", step=1, total=4)
    page.wait_for_selector("#progress[data-status=running]")
    page.evaluate("window.__easelSamePage = true")
    progress_publish(
        generation_id=job.pk,
        status="running",
        step=3,
        total=4,
        partial_image={"index": 0, "b64_json": _preview_b64()},  # as the worker publishes it
    )
    page.wait_for_selector("[data-tile-index='0'] img[data-testid=tile-preview]")
    assert page.locator("[data-step-text]").inner_text() == "Step 3 of 4"  # in place, no fetch
    assert page.locator("[data-tile-index='1'] img").count() == 0
    _check(page, "studio-live-preview", problems)
    Generation.objects.filter(pk=job.pk).update(status=Generation.Status.CANCELED)
    progress_publish(generation_id=job.pk, status="canceled", step=3, total=4)
    page.wait_for_selector("#progress[data-status=canceled]")
    assert page.evaluate("window.__easelSamePage === true")
    assert page.locator("#progress[data-events]").count() == 0  # final: the stream is closed
    context.close()

    # Without EventSource the page polls the fragment instead.
    other = GenerationFactory.create(user=person, status=Generation.Status.QUEUED)
    context, page = _signed_in(browser, base, person)
    page.add_init_script("delete window.EventSource")
    polls: list[str] = []
    page.on(
        "request", lambda request: polls.append(request.url) if "/progress" in request.url else None
    )
    page.goto(f"{base}/g/{other.pk}/")
    page.wait_for_timeout(2500)
    assert len(polls) >= 2, polls
    Generation.objects.filter(pk=other.pk).update(status=Generation.Status.SUCCEEDED)
    page.wait_for_selector("#progress[data-status=succeeded]", timeout=5000)
    context.close()
    assert not problems, "\n".join(problems)


def test_the_appeals_page_says_what_an_overturn_put_right(live_easel, browser, settings):  # type: ignore[no-untyped-def]
    ensure_tiers()
    base = live_easel.url
    problems: list[str] = []
    person = UserFactory(email=f"appeal-{int(time.time() * 1000)}@example.com")
    decisions = _suspended_by_strikes(person, settings)
    appeal = appeal_create(user=person, decision_id=decisions[0].pk, text="A history lesson.")
    context, page = _signed_in(browser, base, person)
    page.goto(base + "/appeals/")
    assert page.locator("[data-testid=appeal-waiting]").count() == 1
    _resolve(appeal.case, make_staff(), "overturned", "overturn")
    page.reload()
    outcome = page.locator("[data-testid=appeal-overturned]").inner_text()
    assert "overturned the decision" in outcome and "The suspension was lifted" in outcome
    assert page.locator("[data-testid=suspension-banner]").count() == 0
    _check(page, "appeal-overturned", problems)
    context.close()
    assert not problems, "\n".join(problems)
