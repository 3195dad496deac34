"""A per-process cache for the image models (and the threads that run one beside the others):
each loads once, on first use.

Celery's prefork pool forks children from the parent. A model loaded before the fork (mediapipe's
graph runs its own threads) is not safe to use in the child, so the cache is keyed on the process
id: a forked child that inherits a loaded model loads its own copy instead.
"""

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_cache: dict[tuple[int, str], Any] = {}


def cached_model(name: str, load: Callable[[], T]) -> T:
    key = (os.getpid(), name)
    model = _cache.get(key)
    if model is None:
        with _lock:
            model = _cache.get(key)
            if model is None:
                model = load()
                _cache[key] = model
    return model


def image_libraries_import() -> None:
    """Import the image libraries without creating any model: safe before a fork.

    For a Celery worker parent's `worker_init`, so children do not pay the ~3 s of imports
    inside their first task's time limit. Creating a model here would not be safe: a child
    forked after mediapipe built a detector hangs (see faces.py).
    """
    import cv2  # noqa: F401
    import dlib  # noqa: F401
    import mediapipe  # noqa: F401
    import onnxruntime  # noqa: F401
