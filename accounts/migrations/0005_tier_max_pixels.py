"""Tiers cap pixels per image instead of listing squares (any WxH the model renders).

A tier that offered 1024x1024 gets 1792x1024's pixels, the largest size OpenAI's clients name
(1536x1024 and its portrait too); a tier whose largest square was smaller keeps that square's
pixels. Going back lists the squares that fit under the cap."""

import importlib

from django.db import migrations, models

SQUARES = (256, 512, 1024)
LARGEST_CLIENT_SIZE = 1792 * 1024


def max_pixels_for(allowed_sizes: list[int]) -> int:
    largest = max(allowed_sizes or [256])
    return LARGEST_CLIENT_SIZE if largest >= 1024 else largest * largest


def seed(apps, schema_editor):
    """The seeded tiers as they are after this migration (tests put them back with it after a
    transactional test empties the tables)."""
    Tier = apps.get_model("accounts", "Tier")
    for seeded in importlib.import_module("accounts.migrations.0002_seed_tiers").TIERS:
        values = {key: value for key, value in seeded.items() if key != "allowed_sizes"}
        values["max_pixels"] = max_pixels_for(seeded["allowed_sizes"])
        Tier.objects.update_or_create(name=values["name"], defaults=values)


def caps_from_squares(apps, schema_editor):
    Tier = apps.get_model("accounts", "Tier")
    for tier in Tier.objects.all():
        tier.max_pixels = max_pixels_for(tier.allowed_sizes)
        tier.save(update_fields=["max_pixels"])


def squares_from_caps(apps, schema_editor):
    Tier = apps.get_model("accounts", "Tier")
    for tier in Tier.objects.all():
        tier.allowed_sizes = [side for side in SQUARES if side * side <= tier.max_pixels]
        tier.save(update_fields=["allowed_sizes"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_api_key_management_scopes")]

    operations = [
        migrations.AddField(
            model_name="tier",
            name="max_pixels",
            field=models.PositiveIntegerField(
                default=262144, help_text="The most pixels (width x height) one image may have."
            ),
        ),
        migrations.RunPython(caps_from_squares, squares_from_caps),
        migrations.RemoveField(model_name="tier", name="allowed_sizes"),
    ]
