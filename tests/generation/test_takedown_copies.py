"""Take-down reaches copies already handed out: image responses say how long caches may keep
them and carry the tag a CDN purges by; a take-down, a delete and sharing turned off call the
CDN purge after they commit (a recording double here, and the HTTP purger against a real
local server)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlparse

import httpx
import pytest

from generation.services.cdn import HttpCdnPurger, media_cache_tag
from generation.services.images import image_delete, image_take_down
from generation.services.sharing import share_disable, share_enable
from generation.services.storage import signed_url
from tests.factories import UserFactory
from tests.frontend.conftest import stored_image
from tests.generation.cdn_double import RecordingCdnPurger

pytestmark = pytest.mark.django_db


@pytest.fixture
def cdn(settings):  # type: ignore[no-untyped-def]
    settings.SITE_URL = "https://easel.example"
    settings.EASEL_MEDIA_CACHE_SECONDS = 120
    settings.EASEL_CDN_PURGER = RecordingCdnPurger()
    return settings.EASEL_CDN_PURGER


@pytest.fixture
def shared(user):  # type: ignore[no-untyped-def]
    image = stored_image(user=user)
    return image, share_enable(user=user, image_id=image.pk)


def test_image_responses_bound_how_long_caches_keep_them(client, cdn, shared):
    image, share = shared
    public = client.get(f"/s/{share.slug}/image.png")
    assert public.status_code == 200
    assert public["Cache-Control"] == "public, max-age=120"
    assert (
        public["Cache-Tag"]
        == public["Surrogate-Key"]
        == media_cache_tag(storage_key=image.storage_key)
    )
    signed = client.get(urlparse(signed_url(key=image.storage_key)).path)
    assert signed.status_code == 200 and signed["Cache-Control"] == "private, max-age=120"
    assert signed["Cache-Tag"] == public["Cache-Tag"]
    assert client.get(f"/s/{share.slug}")["Cache-Control"] == "no-cache"  # the page: every time


def test_a_take_down_purges_the_share_link_and_the_file(
    cdn, shared, django_capture_on_commit_callbacks
):
    image, share = shared
    tag = media_cache_tag(storage_key=image.storage_key)
    with django_capture_on_commit_callbacks(execute=True):
        image_take_down(image_id=image.pk, actor=UserFactory(is_staff=True), reason="x")
    base = f"https://easel.example/s/{share.slug}"
    assert cdn.calls == [
        {"urls": [base, f"{base}/image.png", f"{base}/image.png?download=1"], "tags": [tag]}
    ]


def test_nothing_is_purged_before_the_take_down_commits(cdn, shared):
    image, _ = shared
    with pytest.raises(RuntimeError), django_transaction():
        image_take_down(image_id=image.pk, actor=None, reason="x")
        raise RuntimeError("rolled back")
    assert cdn.calls == []


def django_transaction():  # type: ignore[no-untyped-def]
    from django.db import transaction

    return transaction.atomic()


def test_a_delete_and_sharing_turned_off_purge_too(
    cdn, user, shared, django_capture_on_commit_callbacks
):
    image, share = shared
    with django_capture_on_commit_callbacks(execute=True):
        share_disable(user=user, image_id=image.pk)
    assert [call["tags"] for call in cdn.calls] == [[]]
    assert cdn.calls[0]["urls"][0] == f"https://easel.example/s/{share.slug}"
    key = image.storage_key
    with django_capture_on_commit_callbacks(execute=True):
        image_delete(image=image)
    assert cdn.calls[1]["tags"] == [media_cache_tag(storage_key=key)]


def test_a_cdn_outage_is_retried_not_lost(cdn):
    """The purge task retries while the CDN fails (Celery's eager mode runs the retries at
    once; a worker waits with backoff)."""
    from generation.tasks import cdn_purge

    cdn.failures_left = 1
    result = cdn_purge.apply(
        kwargs={"urls": ["https://easel.example/s/x"], "tags": []}, throw=False
    )
    assert result.state == "SUCCESS" and cdn.failures_left == 0
    assert cdn.calls == [{"urls": ["https://easel.example/s/x"], "tags": []}]


def test_without_a_cdn_nothing_is_called(settings, shared, django_capture_on_commit_callbacks):
    settings.EASEL_CDN_PURGER, settings.EASEL_CDN_PURGE_URL = None, ""
    image, _ = shared
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        image_take_down(image_id=image.pk, actor=None, reason="x")
    assert all("cdn_purge" not in repr(callback) for callback in callbacks)


class _PurgeEndpoint(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.headers.get("Authorization", ""), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def purge_endpoint():  # type: ignore[no-untyped-def]
    _PurgeEndpoint.received, _PurgeEndpoint.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _PurgeEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/purge", _PurgeEndpoint
    server.shutdown()


def test_the_http_purger_posts_urls_and_tags(settings, purge_endpoint, shared):
    url, endpoint = purge_endpoint
    settings.EASEL_CDN_PURGER = None
    settings.EASEL_CDN_PURGE_URL, settings.EASEL_CDN_PURGE_TOKEN = url, "cdn-token"
    HttpCdnPurger(endpoint=url, token="cdn-token").purge(urls=["https://a/b"], tags=["t1"])
    assert endpoint.received == [("Bearer cdn-token", {"urls": ["https://a/b"], "tags": ["t1"]})]
    endpoint.status = 503
    with pytest.raises(httpx.HTTPStatusError):
        HttpCdnPurger(endpoint=url).purge(urls=[], tags=["t2"])
