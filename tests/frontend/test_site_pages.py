"""Pages a newcomer meets around the studio: the API reference served from Easel's own files,
the favicon, styled error pages, billing history one row per generation, singular credits,
and the console's shortcut hints."""

import re
from typing import cast

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings

from billing.services.credits import credits_capture, credits_reserve
from generation.models import Generation
from moderation.models import Case
from moderation.services.cases import case_open
from tests.factories import GenerationFactory

pytestmark = pytest.mark.django_db


def test_the_api_reference_loads_only_easel_own_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    body = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', body)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    assert "/static/frontend/api-docs.js" in sources
    assert not [url for url in sources if url.startswith(("http:", "https:", "//"))]
    assert "<script>" not in body and " style=" not in body  # nothing the CSP would refuse
    assert 'data-schema-url="/api/schema/"' in body
    for path in (
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
        "frontend/api-docs.js",
    ):
        assert finders.find(path), path


def test_every_page_names_a_favicon_and_favicon_ico_points_at_it(client):
    assert (
        '<link rel="icon" href="/static/frontend/favicon.svg"' in client.get("/").content.decode()
    )
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.url == "/static/frontend/favicon.svg"
    assert finders.find("frontend/favicon.svg")


@override_settings(DEBUG=False)
def test_a_missing_page_is_easels_own_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "There is nothing here" in body and 'class="site-header"' in body


@override_settings(DEBUG=False)
def test_a_customer_in_the_console_gets_easels_own_403(user_client):
    response = user_client.get("/console/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "The console is for Easel's staff." in body and 'class="site-header"' in body


def test_a_server_error_is_easels_own_500_without_a_request_context(rf):
    from django.views.defaults import server_error

    response = server_error(rf.get("/"))  # as Django renders it: no context, no request
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def _charged_generation(user, *, reserve: int, spend: int) -> Generation:  # type: ignore[no-untyped-def]
    generation = cast(
        Generation,
        GenerationFactory(
            user=user, prompt="a lighthouse", n=reserve, size=256, guidance_scale=0.0, seed=3
        ),
    )
    credits_reserve(user=user, generation_id=generation.pk, amount=reserve, api_key=None, size=256)
    credits_capture(generation_id=generation.pk, amount=spend)
    return generation


def test_billing_history_is_one_row_per_generation_with_a_link(user_client, user):
    generation = _charged_generation(user, reserve=2, spend=1)  # one image withheld
    body = user_client.get("/billing/").content.decode()
    rows = re.findall(r'<tr data-testid="ledger-row">(.*?)</tr>', body, re.S)
    assert len(rows) == 2  # the sign-up grant and the generation: not reserve + capture + release
    newest, grant = rows
    assert "Generation: 1 credit spent" in newest and f'href="/g/{generation.pk}/"' in newest
    assert '<td class="num amount-neg">-1</td>' in newest
    assert "<td>Sign-up credits</td>" in grant
    assert "1 credits" not in body


def test_billing_history_says_what_a_running_or_returned_generation_holds(user_client, user):
    from billing.services.credits import credits_release

    running = GenerationFactory(user=user, prompt="a", n=1, size=256, guidance_scale=0.0, seed=1)
    credits_reserve(user=user, generation_id=running.pk, amount=1, api_key=None, size=256)
    failed = GenerationFactory(user=user, prompt="b", n=2, size=256, guidance_scale=0.0, seed=2)
    credits_reserve(user=user, generation_id=failed.pk, amount=2, api_key=None, size=256)
    credits_release(generation_id=failed.pk)
    body = user_client.get("/billing/").content.decode()
    assert "Generation in progress: 1 credit held" in body
    assert "Generation: nothing charged, the held credits were returned" in body


def test_the_claim_key_hint_shows_only_where_claiming_is_possible(staff_client, user, staff_user):
    case = case_open(source=Case.Source.REPORT, subject_user=user, summary="a report")
    open_page = staff_client.get(f"/console/cases/{case.pk}/").content.decode()
    assert "<kbd>c</kbd> claim" in open_page
    staff_client.post(f"/console/cases/{case.pk}/claim")
    claimed = staff_client.get(f"/console/cases/{case.pk}/").content.decode()
    assert "<kbd>c</kbd> claim" not in claimed and "<kbd>v</kbd> reveal" in claimed


def test_the_navigation_lists_every_section(user_client):
    body = user_client.get("/create/").content.decode()
    nav = body[body.index('<nav class="nav"') : body.index("</nav>")]
    for path in (
        "/create/",
        "/history/",
        "/collections/",
        "/explore/",
        "/billing/",
        "/developers/",
        "/account/",
    ):
        assert f'href="{path}"' in nav, path
    assert "hide-phone" not in nav  # nothing is hidden from signed-in phones
