"""Site-wide views: the home page, the language switcher, the health check and error pages."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.i18n import set_language as django_set_language

from accounts import services as account_services
from accounts.selectors import region_for_country
from referral_portal.celery import app

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    """The program in one page, with the amounts of the reader's region (a visitor: the default region's)."""
    country = str(request.user.country) if request.user.is_authenticated else ""
    region = region_for_country(country)
    return render(request, "home.html", {"region": region, "welcome_total": region.welcome_coupons().total})


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The language switcher (every page's footer): a POST with `language` and `next` (the page it came from).

    Django's `set_language` checks the language, keeps the choice in the language cookie and redirects to
    `next` only when it is a safe URL on this site (else the referring page or the home page). A signed-in
    member's choice is also their profile language, which their pages, e-mails and notices follow.
    """
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in {code for code, _name in settings.LANGUAGES}:
        account_services.set_language(member=request.user, language=language)
    return response


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("healthz: database check failed")
        return False


def _broker_ok() -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.exception("healthz: broker check failed")
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with each dependency's status, or 503 naming what is down."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    down = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not down else "unavailable", **{k: "ok" if v else "down" for k, v in checks.items()}}
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: rendering must not depend on anything that may have failed.
    return HttpResponse(loader.get_template("errors/500.html").render(), status=500)
