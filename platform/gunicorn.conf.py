# Production web server: gunicorn managing uvicorn workers (ASGI, so held OpenAI-style requests
# wait on Redis without holding a thread). Use:
#   gunicorn -c platform/gunicorn.conf.py config.asgi:application
import os

bind = f"{os.environ.get('EASEL_WEB_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
worker_class = "uvicorn.workers.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Image requests wait for the GPU; OpenAI's own client waits up to 10 minutes.
timeout = int(os.environ.get("WEB_TIMEOUT", "660"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
