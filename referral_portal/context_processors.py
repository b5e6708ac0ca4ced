"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

# Which navigation item a page belongs to (pages not listed use their own view name).
_SECTIONS = {
    "orders:catalog": "shop",
    "orders:cart": "shop",
    "orders:checkout": "shop",
    "orders:my_orders": "orders",
    "orders:detail": "orders",
    "referrals:invite": "invite",
    "coupons:wallet": "coupons",
}


def navigation(request: HttpRequest) -> dict[str, str]:
    match = getattr(request, "resolver_match", None)
    view_name = match.view_name if match else ""
    section = _SECTIONS.get(view_name, view_name)
    if view_name.startswith("support:"):
        section = "support"
    return {"nav_section": section}
