"""/verify in headless Chromium against the live server and the real worker with the tiny model.

A person generates an image, downloads it and checks it, signed in: Easel made it, from its
content credentials, and it is theirs. A stranger, signed out, drops a JPEG copy (its
credentials gone) on the page: Easel made it, found by the watermark, with when and which
model, but nothing that says whose it is. Another signed-in person learns no more than the
stranger. A photo Easel did not make is answered as such.
"""

import base64
import io
import re
import time

import pytest
from PIL import Image as PILImage

from generation.models import Image
from tests.e2e.conftest import screenshot, serious_accessibility_violations
from tests.factories import TEST_PASSWORD, UserFactory, ensure_tiers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

DROP_FILE = """([data, name, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  return transfer;
}"""


def _log_in(page, base: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def _drop(page, data: bytes, name: str, mime_type: str) -> None:  # type: ignore[no-untyped-def]
    """Drops a file on the drop zone as a person dragging it from their desktop does."""
    transfer = page.evaluate_handle(DROP_FILE, [base64.b64encode(data).decode(), name, mime_type])
    with page.expect_navigation():
        page.dispatch_event("[data-drop-zone]", "drop", {"dataTransfer": transfer})


def _result(page):  # type: ignore[no-untyped-def]
    return page.locator("[data-testid=verify-result]")


def test_verify_an_image_signed_in_and_signed_out(live_easel, browser, tmp_path):  # type: ignore[no-untyped-def]
    ensure_tiers()
    base = live_easel.url
    owner = UserFactory(email=f"verifier-{int(time.time() * 1000)}@example.com")
    problems: list[str] = []

    # The owner makes an image with the real worker, and downloads it.
    own = browser.new_context(viewport={"width": 1280, "height": 900})
    page = own.new_page()
    _log_in(page, base, owner.email)
    page.goto(base + "/create/")
    page.fill("textarea[name=prompt]", "a kite over a green hill")
    page.fill("input[name=n]", "1")
    page.select_option("select[name=size]", "256x256")
    page.click("form.prompt-box button[type=submit]")
    page.wait_for_url(re.compile(r".*/g/[0-9a-f-]+/$"))
    page.wait_for_selector("#progress[data-status=succeeded]", timeout=90_000)
    image = Image.objects.get(generation__user=owner)
    download = page.request.get(f"{base}/i/{image.pk}/image.png?download=1")
    assert download.ok
    delivered = download.body()

    # Signed in, from the footer link: content credentials, and it is theirs.
    page.goto(base + "/")
    page.click("footer >> text=Verify an image")
    page.wait_for_url(re.compile(r".*/verify$"))
    path = tmp_path / "mine.png"
    path.write_bytes(delivered)
    with page.expect_navigation():
        page.set_input_files("input[name=image]", str(path))  # chosen: checked at once
    result = _result(page)
    assert result.get_attribute("data-made-by-easel") == "yes"
    assert "content credentials" in result.inner_text()
    assert page.locator("[data-testid=verify-model]").inner_text() == "easel/tiny"
    assert page.locator("[data-testid=verify-yours] a").get_attribute("href") == (f"/i/{image.pk}/")
    screenshot(page, "verify-owner")
    problems += [f"verify (owner): {line}" for line in serious_accessibility_violations(page)]

    # Signed out: a JPEG copy (its credentials gone) dropped on the page.
    copy = io.BytesIO()
    PILImage.open(io.BytesIO(delivered)).convert("RGB").save(copy, format="JPEG", quality=75)
    stranger = browser.new_context(viewport={"width": 390, "height": 844})
    public = stranger.new_page()
    assert public.goto(base + "/verify").status == 200
    _drop(public, copy.getvalue(), "found-online.jpg", "image/jpeg")
    result = _result(public)
    assert result.get_attribute("data-made-by-easel") == "yes"
    text = result.inner_text()
    assert "invisible watermark" in text and "easel/tiny" in text
    assert public.locator("[data-testid=verify-created]").get_attribute("datetime")
    assert public.locator("[data-testid=verify-yours]").count() == 0
    page_text = public.content()
    for private in ("a kite over a green hill", owner.email, str(image.pk)):
        assert private not in page_text
    screenshot(public, "verify-anonymous")
    problems += [f"verify (anonymous): {line}" for line in serious_accessibility_violations(public)]

    # Another person, signed in, learns what the stranger did and no more.
    other = UserFactory()
    someone = browser.new_context().new_page()
    _log_in(someone, base, other.email)
    someone.goto(base + "/verify")
    _drop(someone, copy.getvalue(), "copy.jpg", "image/jpeg")
    assert _result(someone).get_attribute("data-made-by-easel") == "yes"
    assert someone.locator("[data-testid=verify-yours]").count() == 0

    # A photo Easel did not make.
    from skimage import data

    photo = io.BytesIO()
    PILImage.fromarray(data.chelsea()).save(photo, format="PNG")
    _drop(public, photo.getvalue(), "cat.png", "image/png")
    assert _result(public).get_attribute("data-made-by-easel") == "no"
    assert "Easel's marks are not in this image." in _result(public).inner_text()

    assert problems == [], "\n".join(problems)
