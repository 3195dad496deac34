"""Images of any shape and the options of today's Images API (generation/services/image_options).

Jobs from before were squares of `size`: their width and height are that side."""

from django.db import migrations, models
from django.db.models import F


def squares_fill(apps, schema_editor):
    Generation = apps.get_model("generation", "Generation")
    Generation.objects.update(width=F("size"), height=F("size"))


class Migration(migrations.Migration):
    dependencies = [("generation", "0007_quarantined_image")]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="width",
            field=models.PositiveSmallIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="generation",
            name="height",
            field=models.PositiveSmallIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.RunPython(squares_fill, migrations.RunPython.noop),
        migrations.AddField(
            model_name="generation",
            name="quality",
            field=models.CharField(default="auto", max_length=16),
        ),
        migrations.AddField(
            model_name="generation",
            name="output_format",
            field=models.CharField(default="png", max_length=8),
        ),
        migrations.AddField(
            model_name="generation",
            name="output_compression",
            field=models.PositiveSmallIntegerField(default=100),
        ),
        migrations.AddField(
            model_name="generation",
            name="background",
            field=models.CharField(default="auto", max_length=16),
        ),
        migrations.AddField(
            model_name="generation",
            name="moderation",
            field=models.CharField(default="auto", max_length=8),
        ),
        migrations.AddField(
            model_name="generation",
            name="input_fidelity",
            field=models.CharField(default="low", max_length=8),
        ),
        migrations.AddField(
            model_name="generation",
            name="input_tokens",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
