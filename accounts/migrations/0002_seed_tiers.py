"""Seeds the tiers. Staff edit them afterwards in the admin; docs/tiers.md explains the defaults."""

from django.db import migrations

TIERS = [
    {
        "name": "free",
        "display_name": "Free",
        "sort_order": 0,
        "monthly_price_cents": 0,
        "monthly_credits": 15,
        "requests_per_minute": 5,
        "images_per_minute": 10,
        "concurrent_jobs": 1,
        "queue_lane": 0,
        "max_n": 4,
        "allowed_sizes": [256, 512],
        "uploads_allowed": True,
        "face_uploads_allowed": False,
        "private_images_allowed": False,
    },
    {
        "name": "plus",
        "display_name": "Plus",
        "sort_order": 1,
        "monthly_price_cents": 1500,
        "monthly_credits": 150,
        "requests_per_minute": 20,
        "images_per_minute": 50,
        "concurrent_jobs": 3,
        "queue_lane": 1,
        "max_n": 10,
        "allowed_sizes": [256, 512, 1024],
        "uploads_allowed": True,
        "face_uploads_allowed": True,
        "private_images_allowed": True,
    },
    {
        "name": "pro",
        "display_name": "Pro",
        "sort_order": 2,
        "monthly_price_cents": 4500,
        "monthly_credits": 500,
        "requests_per_minute": 60,
        "images_per_minute": 150,
        "concurrent_jobs": 8,
        "queue_lane": 2,
        "max_n": 10,
        "allowed_sizes": [256, 512, 1024],
        "uploads_allowed": True,
        "face_uploads_allowed": True,
        "private_images_allowed": True,
    },
    {
        "name": "enterprise",
        "display_name": "Enterprise",
        "is_public": False,
        "sort_order": 3,
        "monthly_price_cents": 0,
        "monthly_credits": 0,
        "requests_per_minute": 300,
        "images_per_minute": 1000,
        "concurrent_jobs": 32,
        "queue_lane": 2,
        "max_n": 10,
        "allowed_sizes": [256, 512, 1024],
        "uploads_allowed": True,
        "face_uploads_allowed": True,
        "private_images_allowed": True,
    },
]


def seed(apps, schema_editor):
    Tier = apps.get_model("accounts", "Tier")
    for values in TIERS:
        Tier.objects.update_or_create(name=values["name"], defaults=values)


def unseed(apps, schema_editor):
    apps.get_model("accounts", "Tier").objects.filter(name__in=[t["name"] for t in TIERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
