"""Content credentials: a signed C2PA manifest in every delivered image, and reading one back.

The manifest says only what a verifier needs: made by Easel, how (created from text by a
trained model, or an edit or variation of an input, which is its ingredient: a hash, no
pixels), with which model, when, and the image's id (its `instance_id`, which only the owner
can use). Never the prompt, never who asked. It is signed with the operator's certificate:
a key file (EASEL_C2PA_CERTIFICATE and EASEL_C2PA_PRIVATE_KEY) or a signing callback (a key in
a KMS, EASEL_C2PA_SIGN_CALLBACK). Signing happens after encoding, in the delivered format: a
manifest covers the exact bytes it ships in, and any later re-encoding drops it (the watermark
is what survives that).

Reading never goes to the network: no remote manifests, no OCSP. A manifest counts as Easel's
only when its signature and hashes validate, its certificate chains to a trust anchor
(EASEL_C2PA_TRUST_ANCHORS, plus c2pa's own), and the certificate names Easel's signer.
"""

import datetime
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import c2pa
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings

MIME_TYPES = ("image/png", "image/jpeg", "image/webp")
_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = _SOURCE_TYPES + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = _SOURCE_TYPES + "compositeWithTrainedAlgorithmicMedia"
CLAIM_GENERATOR = "Easel"
_ALGORITHMS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ps384": c2pa.C2paSigningAlg.PS384,
    "ps512": c2pa.C2paSigningAlg.PS512,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}
# What each operation did to its input, in C2PA's words.
_EDITS = {
    "edit": (COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, "Repainted the masked area of the input."),
    "variation": (TRAINED_ALGORITHMIC_MEDIA, "Made a variation of the input."),
}
INGREDIENT_LABEL = "input"


class CredentialsUnavailable(RuntimeError):
    """The operator's certificate or key is missing or unreadable: nothing can be signed."""


@dataclass(frozen=True)
class CredentialsReading:
    state: str  # "trusted", "valid" (signature good, chain not trusted) or "invalid"
    by_easel: bool  # trusted, and signed with this deployment's certificate
    signer: str  # the signing certificate's organisation, as the file states it
    image_id: uuid.UUID | None
    model: str | None
    action: str | None  # "c2pa.created" or "c2pa.edited"
    created_at: datetime.datetime | None


def image_mime_type(data: bytes) -> str | None:
    """PNG, JPEG or WebP by their first bytes (what a file claims to be does not matter)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# --- Signing -----------------------------------------------------------------------------------


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise CredentialsUnavailable(f"cannot read the C2PA {what} at {path!r}: {error}") from None


@lru_cache(maxsize=4)
def _signer_for(
    certificate_path: str,
    key_path: str,
    algorithm: str,
    timestamp_url: str,
    callback: Callable[[bytes], bytes] | None,
) -> c2pa.Signer:
    chain = _read(certificate_path, "certificate chain")
    tsa = timestamp_url or None
    try:
        if callback is not None:
            return c2pa.Signer.from_callback(callback, _ALGORITHMS[algorithm], chain.decode(), tsa)
        info = c2pa.C2paSignerInfo(
            _ALGORITHMS[algorithm], chain, _read(key_path, "private key"), tsa
        )
        return c2pa.Signer.from_info(info)
    except (c2pa.C2paError, KeyError) as error:
        raise CredentialsUnavailable(f"the C2PA signer cannot be made: {error}") from None


def _signer() -> c2pa.Signer:
    """One signer per process and configuration (it holds a native handle and the key)."""
    return _signer_for(
        str(settings.EASEL_C2PA_CERTIFICATE),
        str(settings.EASEL_C2PA_PRIVATE_KEY),
        settings.EASEL_C2PA_ALGORITHM.lower(),
        settings.EASEL_C2PA_TIMESTAMP_URL,
        settings.EASEL_C2PA_SIGN_CALLBACK,
    )


@lru_cache(maxsize=1)
def _signing_context() -> c2pa.Context:
    # No thumbnail: it would add tens of kilobytes to every image, and a second copy of the
    # pixels (and of an edit's input) that the manifest does not need.
    return c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))


def _manifest(
    *,
    mime_type: str,
    image_id: uuid.UUID,
    model: str,
    operation: str,
    created_at: datetime.datetime,
    has_ingredient: bool,
) -> dict[str, Any]:
    when = created_at.astimezone(datetime.UTC).isoformat()
    agent = {"name": model}
    if operation in _EDITS and not has_ingredient:
        # The input is no longer kept (an image released from the quarantine after its job
        # settled): the edit is stated, without an ingredient to point at.
        source_type, description = _EDITS[operation]
        actions = [
            {
                "action": "c2pa.created",
                "digitalSourceType": source_type,
                "softwareAgent": agent,
                "when": when,
                "description": f"{description} The input is no longer kept.",
            }
        ]
    elif operation in _EDITS:
        source_type, description = _EDITS[operation]
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": [INGREDIENT_LABEL]}},
            {
                "action": "c2pa.edited",
                "digitalSourceType": source_type,
                "softwareAgent": agent,
                "when": when,
                "description": description,
            },
        ]
    else:
        actions = [
            {
                "action": "c2pa.created",
                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": agent,
                "when": when,
            }
        ]
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR}],
        "title": f"{image_id}.{mime_type.split('/')[1]}",
        "format": mime_type,
        "instance_id": f"urn:uuid:{image_id}",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }


def credentials_sign(
    image_bytes: bytes,
    mime_type: str,
    *,
    image_id: uuid.UUID,
    model: str,
    operation: str,
    created_at: datetime.datetime,
    ingredient: bytes | None = None,
) -> bytes:
    """`image_bytes` (an encoded PNG, JPEG or WebP) with a signed manifest embedded.

    `operation` is the generation's ("generate", "edit", "variation"); an edit or a variation
    names `ingredient`, the input image's bytes, as the image it was made from (without it, the
    manifest states the edit and that its input is no longer kept)."""
    if mime_type not in MIME_TYPES:
        raise ValueError(f"content credentials are signed into {MIME_TYPES}, not {mime_type!r}")
    manifest = _manifest(
        mime_type=mime_type,
        image_id=image_id,
        model=model,
        operation=operation,
        created_at=created_at,
        has_ingredient=ingredient is not None,
    )
    signed = io.BytesIO()
    with c2pa.Builder(manifest, context=_signing_context()) as builder:
        if operation in _EDITS and ingredient is not None:
            builder.add_ingredient(
                {"title": "input", "relationship": "parentOf", "label": INGREDIENT_LABEL},
                image_mime_type(ingredient) or "image/png",
                io.BytesIO(ingredient),
            )
        builder.sign(_signer(), mime_type, io.BytesIO(image_bytes), signed)
    return signed.getvalue()


# --- Reading -----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _reading_context(anchors_path: str) -> c2pa.Context:
    verify = {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True}
    trust = {}
    if anchors_path:
        trust["user_anchors"] = _read(anchors_path, "trust anchors").decode()
    return c2pa.Context(c2pa.Settings.from_dict({"verify": verify, "trust": trust}))


@lru_cache(maxsize=4)
def _own_subject(certificate_path: str) -> tuple[str, str]:
    """(organisation, common name) of this deployment's signing certificate."""
    signing = x509.load_pem_x509_certificates(_read(certificate_path, "certificate chain"))[0]

    def first(oid: x509.ObjectIdentifier) -> str:
        values = signing.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""

    return first(NameOID.ORGANIZATION_NAME), first(NameOID.COMMON_NAME)


def _when(text: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _image_id(instance_id: Any) -> uuid.UUID | None:
    text = str(instance_id or "")
    if not text.startswith("urn:uuid:"):
        return None
    try:
        return uuid.UUID(text.removeprefix("urn:uuid:"))
    except ValueError:
        return None


def credentials_read(image_bytes: bytes, mime_type: str) -> CredentialsReading | None:
    """The file's active C2PA manifest, validated; None when it carries none."""
    try:
        reader = c2pa.Reader(
            mime_type,
            io.BytesIO(image_bytes),
            context=_reading_context(str(settings.EASEL_C2PA_TRUST_ANCHORS or "")),
        )
    except c2pa.C2paError:
        return None  # no manifest, or none that can be parsed
    with reader:
        store = json.loads(reader.json())
        state = (reader.get_validation_state() or "Invalid").lower()
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    signature = manifest.get("signature_info", {})
    actions: list[dict[str, Any]] = next(
        (
            assertion.get("data", {}).get("actions", [])
            for assertion in manifest.get("assertions", [])
            if str(assertion.get("label", "")).startswith("c2pa.actions")
        ),
        [],
    )
    made: dict[str, Any] = next(
        (a for a in actions if a.get("action") in ("c2pa.created", "c2pa.edited")), {}
    )
    generators = [info.get("name") for info in manifest.get("claim_generator_info", [])]
    subject = (signature.get("issuer", ""), signature.get("common_name", ""))
    try:
        ours = _own_subject(str(settings.EASEL_C2PA_CERTIFICATE))
    except CredentialsUnavailable:
        ours = None  # this process cannot sign, so nothing is recognised as its own
    by_easel = state == "trusted" and CLAIM_GENERATOR in generators and subject == ours
    return CredentialsReading(
        state=state if state in ("trusted", "valid") else "invalid",
        by_easel=by_easel,
        signer=str(signature.get("issuer", "")),
        image_id=_image_id(manifest.get("instance_id")) if by_easel else None,
        model=str(made.get("softwareAgent", {}).get("name", "")) or None,
        action=made.get("action"),
        created_at=_when(made.get("when")),
    )
