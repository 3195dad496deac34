from django.db import migrations

from moderation.policy import DEFAULT_RULES


def seed(apps, schema_editor):
    PolicyVersion = apps.get_model("moderation", "PolicyVersion")
    PolicyVersion.objects.get_or_create(
        version=1, defaults={"rules": {k: dict(v) for k, v in DEFAULT_RULES.items()}, "reason": "Initial policy."}
    )


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
