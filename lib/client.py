"""What a request tells us about who is behind it: client IP, user agent, device cookie, fingerprint.

Views build a `ClientInfo` with `client_info(request)` and pass it to services: services take values,
never an HttpRequest (docs/architecture.md).
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

DEVICE_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
_DEVICE_SALT = "accounts.device"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is behind a request, as plain values: raw IP (hashed before it is stored, section 6 of
    docs/program-rules.md), user agent, the signed first-party device id and the browser fingerprint."""

    ip: str = ""
    user_agent: str = ""
    device_id: str = ""
    fingerprint: str = ""


def client_info(request: HttpRequest, *, fingerprint: str = "") -> ClientInfo:
    """The `ClientInfo` of a request (device id from DeviceCookieMiddleware, else from the cookie)."""
    device_id = getattr(request, "device_id", None) or read_device_cookie(request) or ""
    return ClientInfo(
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        device_id=device_id,
        fingerprint=fingerprint,
    )


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
        device_id = device_id or new_device_id()
        # An attribute of our own on the request (read back by client_info), unknown to HttpRequest's stubs.
        request.device_id = device_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        if is_new and not getattr(response, "streaming", False):
            set_device_cookie(response, device_id)
        return response
