"""Login throttling policy for django-axes (settings.AXES_*).

Goal: stop password guessing without locking a member out of a browser they
have used before.

- From an unknown device, failures count per IP address *and* per e-mail
  (`["ip_address", "username"]`): one IP cannot try many accounts, and many
  IPs cannot try one account.
- From a device that has already logged in to (or signed up for) this very
  account — an AccountDevice row for the signed device cookie and the e-mail —
  failures count only for that e-mail *from that IP*
  (`[["username", "ip_address"]]`). A stranger's guessing elsewhere then never
  locks the member out of their own browser, while someone at that browser
  is still limited to AXES_FAILURE_LIMIT tries.

The device cookie is signed, so it cannot be forged to claim a known device.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render

from accounts.identity import keyed_hash
from accounts.models import AccountDevice
from lib.client import client_ip as portal_client_ip
from lib.client import read_device_cookie

UNKNOWN_DEVICE_PARAMETERS: list = ["ip_address", "username"]
KNOWN_DEVICE_PARAMETERS: list = [["username", "ip_address"]]


def login_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """The e-mail being tried, lower-cased so that changing its case does not reset the count."""
    value = None
    if credentials:
        value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        value = request.POST.get("username")
    return value.strip().lower() if isinstance(value, str) else None


def is_known_device(request: HttpRequest, email: str | None) -> bool:
    """True when this browser's device cookie has been seen on the account with `email`."""
    device_id = read_device_cookie(request)
    if not (device_id and email):
        return False
    return AccountDevice.objects.filter(
        device__id_hash=keyed_hash(device_id, purpose="device"), user__email=email
    ).exists()


def lockout_parameters(request_or_attempt, credentials: dict | None = None) -> list:
    """AXES_LOCKOUT_PARAMETERS: narrower keys for a member's own known device (see module docstring)."""
    if not isinstance(request_or_attempt, HttpRequest):
        return UNKNOWN_DEVICE_PARAMETERS
    if is_known_device(request_or_attempt, login_username(request_or_attempt, credentials)):
        return KNOWN_DEVICE_PARAMETERS
    return UNKNOWN_DEVICE_PARAMETERS


def client_ip(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: the same client IP the rest of the portal uses."""
    return portal_client_ip(request)


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None):
    """AXES_LOCKOUT_CALLABLE: a normal page (status 429) telling the person what to do."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "registration/locked_out.html",
        {"cooloff_minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
