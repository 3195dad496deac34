"""factory_boy factories shared by every app's tests."""

import importlib

import factory
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from accounts.models import DEFAULT_TIER_NAME, Tier, User
from generation.models import Generation, Image

TEST_PASSWORD = "correct-horse-battery-staple"


def ensure_tiers() -> None:
    """Transactional tests flush every table, the seeded tiers with them: put them back."""
    from django.apps import apps

    importlib.import_module("accounts.migrations.0005_tier_max_pixels").seed(apps, None)


def _verified(user: User, create: bool, extracted: bool | None, **kwargs: object) -> None:
    """Users are verified unless a test asks for `verified=False`."""
    user.save()
    if create and extracted is not False:
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    tier = factory.LazyFunction(lambda: Tier.objects.get(name=DEFAULT_TIER_NAME))
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    verified = factory.post_generation(_verified)


def staff_with_two_factor(**fields: object) -> User:
    """A staff member with TOTP set up: the console, the admin and the staff API require it."""
    staff = UserFactory.create(is_staff=True, **fields)
    TOTP.activate(staff, generate_totp_secret())
    return staff


class GenerationFactory(factory.django.DjangoModelFactory[Generation]):
    """A generation row written directly, for tests that need the rows rather than the pipeline.
    Pass every field a test depends on; the defaults are only the ones most tests share."""

    class Meta:
        model = Generation

    user = factory.SubFactory(UserFactory)
    source = "native_api"
    operation = "generate"
    model = "easel/tiny"
    prompt = "a lighthouse at dusk"
    n = 1
    size = 256
    width = factory.SelfAttribute("size")
    height = factory.SelfAttribute("size")
    steps = 2
    guidance_scale = 0.0
    seed = 1


class ImageFactory(factory.django.DjangoModelFactory[Image]):
    """An image row of a generation; no file is written (a test that needs one stores it)."""

    class Meta:
        model = Image

    generation = factory.SubFactory(GenerationFactory)
    index = 0
    seed = 1
    width = 256
    height = 256
    status = "delivered"
