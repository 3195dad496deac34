"""The signed local image view: how images in a local folder are served, until their URL expires."""

import mimetypes

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from generation.services.cdn import media_cache_headers
from generation.services.storage import is_quarantine_key, signed_key_load, storage


@require_GET
def media_signed(request: HttpRequest, token: str) -> FileResponse:
    key = signed_key_load(token=token)
    # A forged, expired or dangling link looks the same from outside: not found.
    # Quarantined files are staff-only whatever a token says (the console serves them itself).
    if key is None or is_quarantine_key(key) or not storage().exists(key):
        raise Http404("This image link has expired or does not exist.")
    content_type = mimetypes.guess_type(key)[0] or "image/png"  # the key ends in its format
    response = FileResponse(storage().open(key, "rb"), content_type=content_type)
    media_cache_headers(response, storage_key=key, private=True)
    return response
