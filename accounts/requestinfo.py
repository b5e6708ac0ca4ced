"""What a request tells us about who is behind it: client IP and the device cookie."""

from __future__ import annotations

import ipaddress
import secrets

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

DEVICE_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
_DEVICE_SALT = "accounts.device"


def client_ip(request: HttpRequest) -> str:
    """The client's IP: REMOTE_ADDR, or behind our one trusted proxy (BEHIND_PROXY) the right-most
    X-Forwarded-For entry, the address that proxy saw. Entries to its left are the client's own
    claims and can be forged, so they are never used."""
    if settings.BEHIND_PROXY:
        candidate = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR", "") or ""


def read_device_cookie(request: HttpRequest) -> str | None:
    """The raw device id from the signed cookie, or None when absent or tampered with."""
    raw = request.COOKIES.get(settings.DEVICE_COOKIE_NAME)
    if not raw:
        return None
    try:
        return signing.loads(raw, salt=_DEVICE_SALT)
    except signing.BadSignature:
        return None


def new_device_id() -> str:
    return secrets.token_urlsafe(18)


def set_device_cookie(response: HttpResponse, device_id: str) -> None:
    response.set_cookie(
        settings.DEVICE_COOKIE_NAME,
        signing.dumps(device_id, salt=_DEVICE_SALT),
        max_age=DEVICE_COOKIE_MAX_AGE,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


class DeviceCookieMiddleware:
    """Gives every browser a signed, long-lived, first-party device id on its first visit.

    Sets `request.device_id` (raw id; stored only as a keyed hash). The Device
    row is created lazily by `accounts.services.device_for_request` when an
    event that matters (sign-up, login, click, order) records it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        device_id = read_device_cookie(request)
        is_new = device_id is None
        request.device_id = device_id or new_device_id()
        response = self.get_response(request)
        if is_new and not getattr(response, "streaming", False):
            set_device_cookie(response, request.device_id)
        return response
