"""The web's operating endpoints: /healthz (liveness), /readyz (readiness), /metrics."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from common import health, metrics


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is checked, so a database outage restarts no pod."""
    return JsonResponse({"status": "alive"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, broker and the prompt and image screens: a pod that cannot serve a request says
    so."""
    checks = {
        "database": health.database_ready(),
        "broker": health.broker_ready(),
        "prompt_screening": health.prompt_screening_ready(),
    }
    if settings.MODERATION_PRELOAD:  # else the models load on first use: nothing to wait for
        checks["image_screening"] = health.image_screening_ready()
    ok, report = health.summary(checks)
    return JsonResponse(report, status=200 if ok else 503)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: this server's processes, and the fleet's state from PostgreSQL.

    With EASEL_METRICS_TOKEN set it answers only `Authorization: Bearer <token>` (the Ingress
    reaches this path too; Prometheus sends the token)."""
    token = settings.EASEL_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return HttpResponse("metrics need the bearer token\n", status=401)
    body = metrics.exposition(extra=[metrics.FleetStateCollector()])
    return HttpResponse(body, content_type=metrics.CONTENT_TYPE)
