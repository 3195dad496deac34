"""Reference images for the model's IP-Adapter: their storage keys, and their count (the
batching key: a job with references runs alone)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generation', '0008_generation_image_options'),
    ]

    operations = [
        migrations.AddField(
            model_name='generation',
            name='input_reference_keys',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='generation',
            name='reference_count',
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
