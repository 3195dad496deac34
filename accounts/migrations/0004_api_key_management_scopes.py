"""Keys made before management scopes existed keep what they could do.

Before this, a key with both image scopes (the old default, and the only way to get "every
scope") could also manage keys, webhooks and billing and read the account, since those
endpoints asked for no scope. Such keys get every new scope, so no integration breaks on
deploy. A key its owner had narrowed (only `images.read`, say) keeps exactly its scopes: the
narrowing was the owner's intent, and what it could still reach is the hole this closes.
"""

from django.db import migrations

OLD_FULL = {"images.generate", "images.read"}
NEW_SCOPES = [
    "moderation.read",
    "moderation.write",
    "webhooks.read",
    "webhooks.write",
    "keys.read",
    "keys.write",
    "billing.read",
    "billing.write",
    "account.read",
]


def grant_management_scopes(apps, schema_editor):  # type: ignore[no-untyped-def]
    ApiKey = apps.get_model("accounts", "ApiKey")
    for key in ApiKey.objects.filter(revoked_at__isnull=True).only("pk", "scopes").iterator():
        if OLD_FULL <= set(key.scopes):
            ApiKey.objects.filter(pk=key.pk).update(
                scopes=sorted(set(key.scopes) | set(NEW_SCOPES))
            )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_api_key_expires_at")]

    operations = [migrations.RunPython(grant_management_scopes, migrations.RunPython.noop)]
