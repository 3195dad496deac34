"""The admin: tiers editable by staff, keys revocable but never showing or taking a hash."""

import pytest

from accounts.models import ApiKey, Tier
from accounts.services.api_keys import api_key_create
from tests.factories import staff_with_two_factor


@pytest.fixture
def admin_client(client, db):  # type: ignore[no-untyped-def]
    staff = staff_with_two_factor(is_superuser=True)
    client.force_login(staff)
    return client


def test_api_key_pages_never_show_the_hash_and_cannot_create(admin_client, user):
    created = api_key_create(user=user, name="visible")
    page = admin_client.get(f"/admin/accounts/apikey/{created.key.pk}/change/").content.decode()
    assert created.key.prefix in page
    assert created.key.secret_hash not in page and "secret_hash" not in page
    assert admin_client.get("/admin/accounts/apikey/add/").status_code == 403
    listing = admin_client.get("/admin/accounts/apikey/").content.decode()
    assert created.key.secret_hash not in listing


def test_staff_revoke_keys_from_the_list(admin_client, user):
    created = api_key_create(user=user, name="leaked")
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [created.key.pk]},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=created.key.pk).revoked_at is not None


def test_staff_edit_a_tier(admin_client):
    free = Tier.objects.get(name="free")
    page = admin_client.get(f"/admin/accounts/tier/{free.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data["requests_per_minute"] = 7
    data["max_pixels"] = 65536
    for flag in ("is_public", "uploads_allowed", "face_uploads_allowed", "private_images_allowed"):
        if not data.get(flag):
            data.pop(flag, None)
    response = admin_client.post(f"/admin/accounts/tier/{free.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    free.refresh_from_db()
    assert (
        free.requests_per_minute == 7 and free.max_pixels == 65536 and free.allowed_sizes == [256]
    )


def test_user_pages_open(admin_client, user):
    assert admin_client.get("/admin/accounts/user/").status_code == 200
    assert admin_client.get(f"/admin/accounts/user/{user.pk}/change/").status_code == 200
    assert admin_client.get("/admin/accounts/user/add/").status_code == 200
