"""Every web form, posted with hostile values, answers without a server error and changes nothing.

What schemathesis does for the API (tests/generation/test_schema.py), for the web: every page of
the web app and the staff console is found from the URL resolver (a page added later is fuzzed
too, or this test fails until it has a sample for its arguments), every form on it is read from
its HTML as a browser would, and each field in turn is sent hostile values while the others keep
the page's own (valid) ones: NUL characters, numbers past the database's columns, strings past
the declared length, broken URLs and dates, and unicode. No answer may be a 5xx. Where the value
breaks a rule the page declares (a NUL anywhere; past `maxlength`, `max` or `min`; not a URL,
number or date for such an input), no row may change either (row counts and the latest
`updated_at` of every table). The customer has no credits, so no form can start a GPU job.
"""

import functools
import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.services.api_keys import api_key_create
from generation.models import Collection, Image
from generation.services.sharing import share_enable
from generation.services.webhooks import webhook_endpoint_create
from moderation.models import Case, Decision, LikenessEnrolment
from moderation.services.cases import case_open_for_report
from moderation.services.enforcement import suspension_for_days
from tests.factories import UserFactory, staff_with_two_factor
from tests.frontend.conftest import stored_image
from tests.moderation.process_helpers import make_decision

pytestmark = pytest.mark.django_db

NUL_VALUES = ["\x00", "name\x00", "名前\x00テスト"]
NUMBERS_PAST_COLUMNS = ["2147483648", "-2147483649", "9" * 40, "1e309", "NaN"]
# str.isdigit() says yes to these; int() says no to the first and reads the second as 123.
UNICODE_DIGITS = ["²", "١٢٣"]
BROKEN_URLS = ["https://[::1/", "https://host:99999/", "http://", "not a url"]
BROKEN_DATES = ["9999-99-99", "0000-00-00", "2024-02-30", "10000-01-01"]
# Long enough to pass every `maxlength` of the web app's text fields (prompts: 1,000).
OVERLONG_TEXT = "x" * 5000
OVERLONG_UNICODE = "\u202edéjà vu 🎨 " * 500

# Forms that are not about input: signing out would end the session the crawl uses.
SKIPPED_ACTIONS = {"/accounts/logout/"}
# Routes with no page of their own to read forms from (files, fragments, POST-only actions:
# their forms are on the pages that link to them, and are fuzzed there).
NOT_PAGES = {
    "frontend:share_image",
    "frontend:image_file",
    "frontend:extension_file",
    "frontend:generation_progress",
    "frontend:extension_progress",
    "console:image_file",
}


@dataclass
class Form:
    action: str
    method: str
    enctype: str
    fields: list[dict] = field(default_factory=list)  # name, tag, type, value, attrs

    def signature(self) -> tuple:
        return (self.method, self.action, tuple(sorted(f["name"] for f in self.fields)))


class FormParser(HTMLParser):
    """The forms of a page, with the values a browser would submit untouched."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: dict | None = None
        self._select: dict | None = None

    def handle_starttag(self, tag: str, attrs_list: list) -> None:
        attrs = {name: value or "" for name, value in attrs_list}
        if tag == "form":
            action = attrs.get("action") or self.page_url
            self._form = Form(
                action=urlsplit(action).path or self.page_url,
                method=attrs.get("method", "get").lower(),
                enctype=attrs.get("enctype", ""),
            )
            self.forms.append(self._form)
            return
        if self._form is None or "name" not in attrs:
            if tag == "option" and self._select is not None:
                self._option(attrs)
            return
        if tag == "input":
            kind = attrs.get("type", "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                # Known as a field (to fuzz it), sent only when checked.
                self._form.fields.append(
                    {"name": attrs["name"], "type": kind, "value": None, "attrs": attrs}
                )
                return
            value = attrs.get("value", "on" if kind in ("checkbox", "radio") else "")
            self._form.fields.append(
                {"name": attrs["name"], "type": kind, "value": value, "attrs": attrs}
            )
        elif tag == "textarea":
            self._textarea = {"name": attrs["name"], "type": "textarea", "value": ""}
            self._textarea["attrs"] = attrs
            self._form.fields.append(self._textarea)
        elif tag == "select":
            self._select = {"name": attrs["name"], "type": "select", "value": None, "attrs": attrs}
            self._form.fields.append(self._select)

    def _option(self, attrs: dict) -> None:
        assert self._select is not None
        if self._select["value"] is None or "selected" in attrs:
            self._select["value"] = attrs.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea["value"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def _routes(patterns: list, prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    """(name, route) of every URL pattern under the web app's and the console's namespaces."""
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace or ""
            found += _routes(pattern.url_patterns, prefix + str(pattern.pattern), inner or "")
        elif isinstance(pattern, URLPattern) and namespace in ("frontend", "console"):
            found.append((f"{namespace}:{pattern.name}", prefix + str(pattern.pattern)))
    return found


@dataclass
class World:
    customer: object
    staff: object
    samples: dict[str, str]


@pytest.fixture
def world(settings) -> World:  # type: ignore[no-untyped-def]
    settings.BILLING_SIGNUP_GRANT = 0  # no credits: no form can queue a job
    customer = UserFactory.create()
    staff = staff_with_two_factor()
    image = stored_image(user=customer)
    share = share_enable(user=customer, image_id=image.pk)
    collection = Collection.objects.create(user=customer, name="mine", slug="mine-fuzz")
    key = api_key_create(user=customer, name="fuzz").key
    endpoint = webhook_endpoint_create(user=customer, url="https://hooks.example.com/easel")
    make_decision(user=customer, stage=Decision.Stage.PROMPT)  # something to appeal
    case = case_open_for_report(image_id=image.pk, reporter=None, reason="violence")
    suspension = suspension_for_days(user=customer, days=1, reason="fuzz", actor=staff)
    enrolment = LikenessEnrolment.objects.create(user=customer, consent_text="fuzz")
    samples = {
        "generation_id": str(image.generation_id),
        "image_id": str(image.pk),
        "extension_id": str(uuid.uuid4()),  # none exists: its pages answer 404, no forms
        "share_slug": share.slug,
        "collection_slug": collection.slug,
        "prefix": key.prefix,
        "endpoint_id": str(endpoint.pk),
        "case_id": str(case.pk),
        "user_id": str(customer.pk),
        "suspension_id": str(suspension.pk),
        "enrolment_id": str(enrolment.pk),
    }
    return World(customer=customer, staff=staff, samples=samples)


def _fill(name: str, route: str, samples: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        argument = match[1]
        if argument == "slug":
            argument = "share_slug" if route.startswith("s/") else "collection_slug"
        assert argument in samples, f"{name}: add a sample for <{argument}> to this test"
        return samples[argument]

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


def _pages(world: World) -> list[tuple[str, str]]:
    """(url, who) for every page: customers' pages as the customer, console pages as staff."""
    pages = []
    for name, route in _routes(get_resolver().url_patterns):
        if name in NOT_PAGES:
            continue
        pages.append((_fill(name, route, world.samples), name.partition(":")[0]))
    return pages


def _forms(clients: dict[str, Client], pages: list[tuple[str, str]]) -> dict[tuple, tuple]:
    forms: dict[tuple, tuple] = {}
    for url, who in pages:
        response = clients[who].get(url)
        assert response.status_code < 500, (url, response.status_code)
        if "text/html" not in response.get("Content-Type", ""):
            continue
        parser = FormParser(url)
        parser.feed(response.content.decode())
        for form in parser.forms:
            if form.action in SKIPPED_ACTIONS or not form.fields:
                continue
            forms.setdefault(form.signature(), (form, who))
    return forms


def _breaks_a_declared_rule(entry: dict, value: str) -> bool:
    attrs, kind = entry["attrs"], entry["type"]
    if "\x00" in value:
        return True
    if "maxlength" in attrs and len(value) > int(attrs["maxlength"]):
        return True
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            return True
        if number != number or abs(number) == float("inf"):  # NaN, infinity
            return True
        if "max" in attrs and number > float(attrs["max"]):
            return True
        if "min" in attrs and number < float(attrs["min"]):
            return True
        return number != int(number) or abs(number) > 2**31 - 1
    if kind == "url":
        return value in BROKEN_URLS
    if kind == "date":
        return value in BROKEN_DATES
    return False


def _hostile(entry: dict) -> list[str]:
    # Numbers for every field: ids travel in radios, selects and hidden fields too.
    values = [*NUL_VALUES, OVERLONG_TEXT, OVERLONG_UNICODE, *NUMBERS_PAST_COLUMNS, *UNICODE_DIGITS]
    kind = entry["type"]
    if kind == "url" or "url" in entry["name"]:
        values += BROKEN_URLS
    if kind == "date":
        values += BROKEN_DATES
    return values


FILLED_WHEN_EMPTY = {"text": "fuzz", "textarea": "fuzz", "number": "2"}


def _baseline(form: Form) -> dict[str, list[str]]:
    """What a person filling the form in would send: the page's values, "fuzz" or 2 in empty
    text and number fields, the first choice of a radio group none is checked in. So the fuzzed
    field is the only thing wrong with the submission."""
    data: dict[str, list[str]] = {}
    for entry in form.fields:
        value = entry["value"]
        if value is None:
            continue
        if value == "":
            value = FILLED_WHEN_EMPTY.get(entry["type"], "")
        data.setdefault(entry["name"], []).append(value)
    for entry in form.fields:
        if entry["type"] == "radio" and entry["name"] not in data:
            data[entry["name"]] = [entry["attrs"].get("value", "on")]
    return data


def _fuzzed_fields(form: Form) -> list[dict]:
    """One entry per field name (a radio group or checkbox list is one field)."""
    seen: dict[str, dict] = {}
    for entry in form.fields:
        if entry["name"] != "csrfmiddlewaretoken":
            seen.setdefault(entry["name"], entry)
    return list(seen.values())


@functools.cache
def _snapshot_query() -> str:
    tables = [
        table for table in connection.introspection.table_names() if table != "django_session"
    ]
    parts = []
    with connection.cursor() as cursor:
        for table in tables:
            description = connection.introspection.get_table_description(cursor, table)
            dated = any(column.name == "updated_at" for column in description)
            latest = "max(updated_at)::text" if dated else "NULL"
            parts.append(f"SELECT '{table}', count(*), {latest} FROM \"{table}\"")  # noqa: S608
    return " UNION ALL ".join(parts)


def _snapshot() -> dict[str, tuple]:
    """Row count and latest update of every table (sessions aside: messages live there)."""
    with connection.cursor() as cursor:
        cursor.execute(_snapshot_query())
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _submit(client: Client, form: Form, data: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    if form.method == "get":
        return client.get(form.action, data)
    if form.enctype == "multipart/form-data":
        return client.post(form.action, data)
    return client.post(
        form.action, urlencode(data, doseq=True), content_type="application/x-www-form-urlencoded"
    )


@pytest.mark.postgres
def test_every_web_form_survives_hostile_values_and_changes_nothing(world):
    clients = {
        "frontend": Client(raise_request_exception=False),
        "console": Client(raise_request_exception=False),
    }
    clients["frontend"].force_login(world.customer)
    clients["console"].force_login(world.staff)
    forms = _forms(clients, _pages(world))
    assert len(forms) >= 15, sorted(forms)  # the crawl found the app's forms

    failures = []
    for form, who in forms.values():
        client = clients[who]
        baseline = _baseline(form)
        for entry in _fuzzed_fields(form):
            for value in _hostile(entry):
                data = {**baseline, entry["name"]: [value]}
                strict = _breaks_a_declared_rule(entry, value)
                before = _snapshot() if strict else None
                response = _submit(client, form, data)
                where = f"{form.method.upper()} {form.action} {entry['name']}={value[:20]!r}"
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code}")
                elif strict and _snapshot() != before:
                    changed = {k for k, v in _snapshot().items() if before and before[k] != v}
                    failures.append(f"{where}: changed {sorted(changed)}")
    assert not failures, "\n".join(failures)


@pytest.mark.postgres
def test_the_malformed_inputs_once_seen_answer_400_not_500(world):
    """The cases that answered 500 before input was checked at the edge."""
    customer = Client()
    customer.force_login(world.customer)
    staff = Client()
    staff.force_login(world.staff)
    before = _snapshot()

    page = customer.get("/history/", {"q": "\x00"})
    assert page.status_code == 400 and b"NUL character" in page.content
    search = staff.get("/console/users/", {"q": "ada\x00"})
    assert search.status_code == 400
    form = customer.post(
        "/developers/keys",
        {"name": "big", "monthly_credit_cap": "2147483648", "scopes": ["images.read"]},
    )
    assert form.status_code == 302  # back to the page, with the field's error
    follow = customer.get("/developers/").content.decode()
    assert "Monthly credit cap" in follow
    hook = customer.post("/developers/webhooks", {"url": "https://[::1/"})
    assert hook.status_code == 302
    assert _snapshot() == before
    assert Image.objects.filter(generation__user=world.customer).count() == 1
    assert Case.objects.count() == 1
