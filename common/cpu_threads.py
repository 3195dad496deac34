"""The numerical libraries' own thread pools, held to one thread in the processes that serve.

Easel runs its CPU work side by side on threads of its own: a GPU worker's delivery pool
screens, marks and encodes the images of a batch at once, beside the pipeline, and a web
process serves requests on threads. OpenBLAS (under numpy, scipy and OpenCV, each with its own
copy) and OpenCV start a pool of one thread per core for their calls, and OpenBLAS's threads
spin between calls: there they only take the same cores from the threads beside them. Measured
on the 2-core box, the NSFW classifier's run beside a loop of watermark embeds (numpy and
OpenCV): 30-43 ms with the pools, 21-24 ms with both held to one thread (21 ms alone); one
256 px job's image delivery through bench/api_overhead.py, 51 ms p50 with the pools and
37-44 ms without.

torch's threads (the pipeline's) and onnxruntime's are set where those libraries are used, and
are not touched here.
"""

from types import ModuleType


def library_threads_limit() -> None:
    """Holds every OpenBLAS copy and OpenCV to one thread each in this process (web entry
    points and worker children call it at start). The libraries are imported here, not when
    this module is: the limit applies only to those already loaded, and a process that never
    calls it (a management command) pays for none of them."""
    import numpy  # noqa: F401 - loads its OpenBLAS
    import scipy.linalg  # noqa: F401 - and scipy's copy
    from threadpoolctl import threadpool_limits

    opencv = _opencv()  # and OpenCV's copy
    threadpool_limits(limits=1, user_api="blas")
    if opencv is not None:
        opencv.setNumThreads(1)


def _opencv() -> ModuleType | None:
    """OpenCV, imported (it loads an OpenBLAS of its own); None on an install without image
    screening (the `moderation-images` extra)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2
