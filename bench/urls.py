"""URLs for benchmarks only (settings: BENCH_VIEWS=1 sets ROOT_URLCONF here): the portal plus a bare baseline."""

from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path

from accounts.models import IPSighting
from referral_portal.urls import urlpatterns as portal_urlpatterns


def bare_insert_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """The floor a click can reach: one INSERT and a 302, through the same middleware."""
    IPSighting.objects.create(kind="click", ip_hash="bench-baseline")
    return HttpResponseRedirect("/join/")


urlpatterns = [*portal_urlpatterns, path("bench/bare", bare_insert_redirect, name="bench-bare")]
