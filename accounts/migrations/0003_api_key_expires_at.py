from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_seed_tiers")]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
