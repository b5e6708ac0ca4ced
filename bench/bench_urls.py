"""Bench-only URLs: the portal's URLs plus a bare page (50 rows from one query) to compare against."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from coupons.models import Coupon
from referral_portal.urls import handler404, handler500  # noqa: F401
from referral_portal.urls import urlpatterns as portal_urlpatterns


def bare(request: HttpRequest) -> HttpResponse:
    """The floor: one query, 50 rows, a plain template file extending a minimal base; no session, no auth.

    Rendered with `render()` (the request context processors run, as on every real page) through the
    same middleware; the template loops over the rows and prints six fields each.
    """
    rows = list(Coupon.objects.order_by("id")[:50])
    return render(request, "bench/bare.html", {"rows": rows})


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *portal_urlpatterns]
