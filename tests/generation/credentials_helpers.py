"""Reading content credentials as an outside verifier does: c2pa-python's own Reader, told to
trust the development root (as a verifier is told to trust a CA on the C2PA trust list)."""

import io
import json
from pathlib import Path

import c2pa
from django.conf import settings


def trusted_reader(data: bytes, mime_type: str) -> c2pa.Reader:
    anchors = Path(settings.EASEL_C2PA_TRUST_ANCHORS).read_text()
    context = c2pa.Context(
        c2pa.Settings.from_dict(
            {
                "trust": {"user_anchors": anchors},
                "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            }
        )
    )
    return c2pa.Reader(mime_type, io.BytesIO(data), context=context)


def active_manifest(reader: c2pa.Reader) -> dict:
    store = json.loads(reader.json())
    return store["manifests"][store["active_manifest"]]


def manifest_actions(manifest: dict) -> list[dict]:
    (assertion,) = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    return assertion["data"]["actions"]
