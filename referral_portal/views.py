"""Site-wide views: the home page, the health check and error pages."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from referral_portal import monitoring

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for the load balancer: this process can serve members (the database answers).

    Redis is deliberately not checked: the portal serves members through a Redis outage (docs/deployment.md),
    and a check on it would take every web node out of the load balancer exactly then."""
    if monitoring.database_ok():
        return JsonResponse({"status": "ok", "database": "ok"})
    return JsonResponse({"status": "unavailable", "database": "down", "down": ["database"]}, status=503)


@never_cache
@require_GET
def healthz_dependencies(request: HttpRequest) -> JsonResponse:
    """Every dependency and the backlogs, for monitoring (staff or the metrics token): 503 naming what is down."""
    if not monitoring.monitoring_allowed(request):
        return JsonResponse({"error": "forbidden"}, status=403)
    report, down = monitoring.dependency_report()
    body = {"status": "ok" if not down else "degraded", **report}
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (staff or `Authorization: Bearer <METRICS_TOKEN>`)."""
    if not monitoring.monitoring_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(monitoring.prometheus_text(), content_type=CONTENT_TYPE_LATEST)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: rendering must not depend on anything that may have failed.
    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)
