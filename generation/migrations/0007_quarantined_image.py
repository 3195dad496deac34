import datetime

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def record_existing_take_down_copies(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Images taken down before this kept a copy at `quarantine/<their key>` with no record;
    record them, so they are restorable, shown to staff and purged like the rest."""
    Image = apps.get_model("generation", "Image")
    QuarantinedImage = apps.get_model("generation", "QuarantinedImage")
    purge_after = timezone.now() + datetime.timedelta(days=settings.EASEL_QUARANTINE_RETENTION_DAYS)
    removed = Image.objects.filter(status="removed", deleted_at__isnull=True)
    QuarantinedImage.objects.bulk_create(
        QuarantinedImage(
            image_id=image.pk,
            reason="removed",
            storage_key=f"quarantine/generations/{image.generation_id}/{image.index}.png",
            purge_after=purge_after,
        )
        for image in removed.only("pk", "generation_id", "index").iterator()
    )


class Migration(migrations.Migration):
    dependencies = [("generation", "0006_outbox_sent_at_and_frame_claims")]

    operations = [
        migrations.CreateModel(
            name="QuarantinedImage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "reason",
                    models.CharField(
                        choices=[("withheld", "Withheld"), ("removed", "Removed")], max_length=16
                    ),
                ),
                ("storage_key", models.CharField(max_length=255)),
                ("purge_after", models.DateTimeField()),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                ("purged_at", models.DateTimeField(blank=True, null=True)),
                (
                    "image",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="quarantine",
                        to="generation.image",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("purged_at__isnull", True), ("released_at__isnull", True)),
                        fields=["purge_after"],
                        name="quarantine_due",
                    )
                ],
            },
        ),
        migrations.RunPython(record_existing_take_down_copies, migrations.RunPython.noop),
    ]
