"""Bench-only URLs: the portal's URLs plus two bare baselines to compare against.

Served only under bench/bench_settings.py (DJANGO_SETTINGS_MODULE=bench.bench_settings, set by both
benches), never by the running portal.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path

from accounts.models import IPSighting
from coupons.models import Coupon
from referral_portal.urls import handler404, handler500  # noqa: F401
from referral_portal.urls import urlpatterns as portal_urlpatterns


def bare_page(request: HttpRequest) -> HttpResponse:
    """The floor a page of rows can reach: one query, 50 rows, a plain template file extending a minimal base.

    Rendered with `render()` (the request context processors run, as on every real page) through the
    same middleware; the template loops over the rows and prints six fields each (bench/pages_bench.py).
    """
    rows = list(Coupon.objects.order_by("id")[:50])
    return render(request, "bench/bare.html", {"rows": rows})


def bare_page_raw_labels(request: HttpRequest) -> HttpResponse:
    """The same page printing the stored source and status values instead of their translated labels: Django's
    `get_FOO_display` hashes every (lazily translated) choice label of the field on each call, which made the bare
    page itself about 1.8× slower once the labels became translatable (issue 17). The benches report the member
    pages against both, so neither floor flatters them."""
    rows = list(Coupon.objects.order_by("id")[:50])
    return render(request, "bench/bare_raw.html", {"rows": rows})


def bare_click(request: HttpRequest) -> HttpResponseRedirect:
    """The floor a click can reach: one INSERT and a 302, through the same middleware (bench/click_bench.py)."""
    IPSighting.objects.create(kind="click", ip_hash="bench-baseline")
    return HttpResponseRedirect("/join/")


urlpatterns = [
    path("bench/bare/", bare_page, name="bench-bare"),
    path("bench/bare-raw/", bare_page_raw_labels, name="bench-bare-raw"),
    path("bench/bare-click", bare_click, name="bench-bare-click"),
    *portal_urlpatterns,
]
