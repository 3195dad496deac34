"""Image screening models: face detection, face identity, photo-realism and NSFW scores.

Every model loads lazily on first use and is cached per process (see `_models.py`), so the web
process pays nothing until it screens an upload and a GPU worker loads each model once.
A worker parent may call `image_libraries_import()` before forking (imports only, no models).
"""

from moderation.images._models import image_libraries_import

__all__ = ["image_libraries_import"]
