"""Template context shared by every page."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from django.http import HttpRequest

from accounts.selectors import cached_unread_notice_count

# Which navigation item a page belongs to (pages not listed use their own view name).
_SECTIONS = {
    "orders:catalog": "shop",
    "orders:cart": "shop",
    "orders:checkout": "shop",
    "orders:my_orders": "orders",
    "orders:detail": "orders",
    "referrals:invite": "invite",
    "coupons:wallet": "coupons",
    "accounts:rewards": "rewards",
    "accounts:notifications": "notifications",
}


def navigation(request: HttpRequest) -> dict[str, str]:
    match = getattr(request, "resolver_match", None)
    view_name = match.view_name if match else ""
    section = _SECTIONS.get(view_name, view_name)
    if view_name.startswith("support:"):
        section = "support"
    return {"nav_section": section}


def notifications(request: HttpRequest) -> dict[str, Callable[[], int]]:
    """The bell's unread count in the header, for signed-in members (read through the cache).

    A callable the template engine calls when the header uses it, once per request: pages that never show the
    bell (the admin, e-mails) pay nothing.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @cache
    def unread_notices() -> int:
        return cached_unread_notice_count(member=user)

    return {"unread_notices": unread_notices}
