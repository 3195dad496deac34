# Production web server: gunicorn managing uvicorn workers (ASGI, so held OpenAI-style requests
# wait on Redis without holding a thread). Use:
#   gunicorn -c platform/gunicorn.conf.py config.asgi:application
import os

bind = f"{os.environ.get('EASEL_WEB_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "uvicorn.workers.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Image requests wait for the GPU; OpenAI's own client waits up to 10 minutes.
timeout = int(os.environ.get("WEB_TIMEOUT", "660"))
# Held requests may wait up to EASEL_API_WAIT_TIMEOUT: Kubernetes sets this above it on shutdown.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus (common/metrics.py): the workers write their samples into PROMETHEUS_MULTIPROC_DIR
# and /metrics adds them up; the master empties it at start and forgets each worker that exits.


def on_starting(server):  # type: ignore[no-untyped-def]
    from common.metrics import multiprocess_folder_reset

    multiprocess_folder_reset()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from common.metrics import process_exited

    process_exited(worker.pid)
