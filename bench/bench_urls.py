"""Bench-only URLs: the portal's URLs plus a bare page (50 rows from one query) to compare against."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from coupons.models import Coupon
from referral_portal.urls import handler404, handler500  # noqa: F401
from referral_portal.urls import urlpatterns as portal_urlpatterns

# Compiled once, as the cached template loader does for the real pages.
BARE = engines["django"].from_string(
    "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Bare</title></head><body><table>"
    "{% for c in rows %}<tr><td>{{ c.pk }}</td><td>{{ c.currency }} {{ c.value }}</td>"
    "<td>{{ c.min_spend }}</td><td>{{ c.expires_at|date:'j M Y' }}</td></tr>{% endfor %}</table></body></html>"
)


def bare(request: HttpRequest) -> HttpResponse:
    """The floor: one query, 50 rows, a tiny template, no session, no base template."""
    rows = list(Coupon.objects.order_by("id")[:50])
    return HttpResponse(BARE.render({"rows": rows}))


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *portal_urlpatterns]
