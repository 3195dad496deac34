"""Content credentials (C2PA) as c2pa-python's own Reader sees them, for PNG, JPEG and WebP;
and provenance_check: who learns what, from the manifest or else the watermark."""

import datetime
import io
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.utils import timezone
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from common.errors import InvalidRequest, RateLimitExceeded
from generation.provenance.certificates import signing_chain_create
from generation.provenance.credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    CredentialsUnavailable,
    credentials_read,
    credentials_sign,
)
from generation.provenance.marks import image_mark
from generation.services.provenance import provenance_check
from tests.factories import GenerationFactory, ImageFactory, UserFactory
from tests.generation.credentials_helpers import active_manifest, manifest_actions, trusted_reader

FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
PROMPT = "a secret prompt about a lighthouse"


def photo(side: int = 512) -> PILImage.Image:
    from skimage import data

    return PILImage.fromarray(data.astronaut()).resize((side, side))


def encoded(picture: PILImage.Image, mime_type: str) -> bytes:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format=FORMATS[mime_type])
    return buffer.getvalue()


def signed(mime_type: str = "image/png", **overrides) -> tuple[bytes, uuid.UUID]:  # type: ignore[no-untyped-def]
    image_id = uuid.uuid4()
    arguments = {
        "image_id": image_id,
        "model": "easel/tiny",
        "operation": "generate",
        "created_at": timezone.now(),
        **overrides,
    }
    return credentials_sign(encoded(photo(256), mime_type), mime_type, **arguments), image_id


# --- The manifest, as a C2PA reader sees it ----------------------------------------------------


@pytest.mark.parametrize("mime_type", list(FORMATS))
def test_every_format_carries_a_manifest_that_validates(mime_type):
    when = datetime.datetime(2026, 5, 4, 3, 2, 1, tzinfo=datetime.UTC)
    data, image_id = signed(mime_type, created_at=when)
    PILImage.open(io.BytesIO(data)).load()  # still an ordinary image file
    reader = trusted_reader(data, mime_type)
    assert reader.get_validation_state() == "Trusted", reader.get_validation_results()
    assert reader.get_validation_results()["activeManifest"]["failure"] == []
    manifest = active_manifest(reader)
    assert manifest["claim_generator_info"][0]["name"] == "Easel"
    assert manifest["instance_id"] == f"urn:uuid:{image_id}"
    (created,) = manifest_actions(manifest)
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "easel/tiny"
    assert datetime.datetime.fromisoformat(created["when"]) == when
    assert manifest["signature_info"]["issuer"] == "Easel (development only)"


@pytest.mark.parametrize("operation", ["edit", "variation"])
def test_an_edit_or_variation_records_edited_with_the_input_as_ingredient(operation):
    source = encoded(photo(256).rotate(90), "image/png")
    data, _ = signed("image/png", operation=operation, ingredient=source)
    reader = trusted_reader(data, "image/png")
    assert reader.get_validation_state() == "Trusted"
    manifest = active_manifest(reader)
    assert [a["action"] for a in manifest_actions(manifest)] == ["c2pa.opened", "c2pa.edited"]
    (ingredient,) = manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf" and ingredient["format"] == "image/png"
    assert "thumbnail" not in ingredient  # a hash of the input, not a copy of its pixels


def test_the_manifest_holds_no_prompt_and_no_person(db):
    person = UserFactory(email="someone.private@example.com")
    generation = GenerationFactory(user=person, source="web", prompt=PROMPT, steps=1)
    data, _ = signed("image/png", image_id=ImageFactory(generation=generation).pk)
    everything = trusted_reader(data, "image/png").detailed_json()
    for private in (PROMPT, person.email, "someone.private", str(generation.pk)):
        assert private not in everything and private.encode() not in data


def test_a_changed_pixel_breaks_the_manifest():
    data, _ = signed("image/png")
    tampered = bytearray(data)
    tampered[tampered.find(b"IDAT") + 200] ^= 0xFF
    reader = trusted_reader(bytes(tampered), "image/png")
    assert reader.get_validation_state() == "Invalid"
    reading = credentials_read(bytes(tampered), "image/png")
    assert reading is not None and reading.state == "invalid" and not reading.by_easel


def test_a_manifest_signed_by_someone_else_is_not_easels(settings, tmp_path):
    data, _ = signed("image/png")
    assert credentials_read(data, "image/png").by_easel
    other = signing_chain_create(folder=tmp_path / "other", organisation="Some other signer")
    settings.EASEL_C2PA_CERTIFICATE, settings.EASEL_C2PA_PRIVATE_KEY = other.chain, other.key
    forged, _ = signed("image/png")
    reading = credentials_read(forged, "image/png")
    # A valid signature, but from a certificate no trust anchor vouches for, naming another.
    assert reading is not None and reading.state == "valid" and not reading.by_easel
    assert reading.signer == "Some other signer"
    assert credentials_read(encoded(photo(), "image/png"), "image/png") is None


def test_a_kms_callback_signs_instead_of_a_key_file(settings):
    """EASEL_C2PA_SIGN_CALLBACK: the key never leaves the signing service; here a function
    with the development key plays that service."""
    key = serialization.load_pem_private_key(
        Path(settings.EASEL_C2PA_PRIVATE_KEY).read_bytes(), password=None
    )
    calls = []

    def sign(payload: bytes) -> bytes:
        calls.append(len(payload))
        r, s = decode_dss_signature(key.sign(payload, ec.ECDSA(hashes.SHA256())))  # type: ignore[call-arg, union-attr]
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # COSE's raw r || s

    settings.EASEL_C2PA_SIGN_CALLBACK = sign
    settings.EASEL_C2PA_PRIVATE_KEY = "/nonexistent/key.pem"  # not needed with a callback
    data, _ = signed("image/jpeg")
    assert calls and trusted_reader(data, "image/jpeg").get_validation_state() == "Trusted"


def test_signing_without_a_certificate_fails_loudly(settings, tmp_path):
    settings.EASEL_C2PA_CERTIFICATE = str(tmp_path / "missing.pem")
    with pytest.raises(CredentialsUnavailable):
        signed("image/png")
    with pytest.raises(ValueError):
        credentials_sign(b"GIF89a", "image/gif", image_id=uuid.uuid4(), model="m",
                         operation="generate", created_at=timezone.now())  # fmt: skip


# --- provenance_check: who learns what ---------------------------------------------------------


@pytest.fixture
def delivered(db):  # type: ignore[no-untyped-def]
    """An image as the worker delivers it (marks, then credentials), and its owner."""
    owner = UserFactory()
    generation = GenerationFactory(user=owner, source="web", prompt=PROMPT, steps=1)
    # A fixed id: the half-size JPEG copy below keeps the watermark readable for most ids, not
    # all (36 of 40 random ids on this photo), and a test must not pass by chance.
    image = ImageFactory(
        generation=generation, id=uuid.UUID("5d1e3c0a-7b2f-4c89-9a41-0f6b2d8e7c13")
    )
    marked = image_mark(
        photo(), model=generation.model, seed=1, generation_id=generation.pk, image_id=image.pk
    )
    data = credentials_sign(
        marked,
        "image/png",
        image_id=image.pk,
        model=generation.model,
        operation="generate",
        created_at=image.created_at,
    )
    return image, data


def check(data: bytes, asker=None, address: str = "203.0.113.9"):  # type: ignore[no-untyped-def]
    return provenance_check(image_bytes=data, asker=asker, address=address)


def test_a_stranger_learns_when_and_which_model_from_the_manifest(delivered):
    image, data = delivered
    result = check(data)
    assert result.made_by_easel and result.found_by == "content_credentials"
    assert result.created_at == image.created_at and result.model == image.generation.model
    assert result.credentials.state == "trusted"
    assert result.own_image is None  # nothing that says whose, or which


def test_only_the_owner_learns_which_image_it_is(delivered):
    image, data = delivered
    assert check(data, asker=image.generation.user).own_image == image
    assert check(data, asker=UserFactory()).own_image is None


def test_a_jpeg_copy_has_lost_its_manifest_but_the_watermark_speaks(delivered):
    image, data = delivered
    buffer = io.BytesIO()
    PILImage.open(io.BytesIO(data)).convert("RGB").resize((256, 256)).save(
        buffer, "JPEG", quality=75
    )
    result = check(buffer.getvalue(), asker=image.generation.user)
    assert result.made_by_easel and result.found_by == "watermark"
    assert result.credentials is None and result.created_at == image.created_at
    assert result.own_image == image
    assert check(buffer.getvalue()).own_image is None


def test_metadata_alone_proves_nothing(delivered):
    image, _ = delivered
    info = PngInfo()
    info.add_text("easel:image_id", str(image.pk))
    forged = io.BytesIO()
    photo().save(forged, format="PNG", pnginfo=info)
    result = check(forged.getvalue(), asker=image.generation.user)
    assert not result.made_by_easel and result.own_image is None
    assert result.metadata["easel:image_id"] == str(image.pk)  # reported as a claim only


@pytest.mark.django_db
def test_what_is_not_an_image_is_refused():
    with pytest.raises(InvalidRequest) as raised:
        check(b"not an image at all")
    assert raised.value.param == "image"


@pytest.mark.django_db
def test_checks_are_limited_per_address_and_per_account(settings):
    settings.EASEL_PROVENANCE_CHECKS_PER_MINUTE = 2
    picture = encoded(photo(128), "image/png")
    # Counts live in Redis across runs: a fresh IPv6 /64 and a fresh account each time.
    address = "2001:db8:{:x}:{:x}::1".format(*divmod(uuid.uuid4().int % 2**32, 2**16))
    for _ in range(2):
        check(picture, address=address)
    with pytest.raises(RateLimitExceeded) as refused:
        check(picture, address=address)
    assert int(refused.value.headers["retry-after"]) >= 1
    with pytest.raises(RateLimitExceeded):
        check(picture, address=address.replace("::1", "::2"))  # the same /64: the same caller
    check(picture, address="192.0.2.77")  # another address has its own allowance
    person = UserFactory()
    for _ in range(2):
        check(picture, asker=person, address=address)  # an account counts on its own
    with pytest.raises(RateLimitExceeded):
        check(picture, asker=person, address="192.0.2.78")


def test_an_edit_whose_input_is_gone_still_says_what_was_done():
    """A withheld edit released from the quarantine after its job settled: no input to name."""
    data, _ = signed("image/png", operation="edit", ingredient=None)
    reader = trusted_reader(data, "image/png")
    assert reader.get_validation_state() == "Trusted"
    manifest = active_manifest(reader)
    (action,) = manifest_actions(manifest)
    assert action["digitalSourceType"].endswith("compositeWithTrainedAlgorithmicMedia")
    assert "no longer kept" in action["description"] and "ingredients" not in manifest
