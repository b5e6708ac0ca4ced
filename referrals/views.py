from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_safe

from referrals import services


@login_required
def invite(request: HttpRequest) -> HttpResponse:
    code = services.ensure_referral_code(user=request.user)
    link = request.build_absolute_uri(f"/r/{code.code}")
    return render(request, "referrals/invite.html", {"code": code, "link": link})


def rules(request: HttpRequest) -> HttpResponse:
    return render(request, "referrals/rules.html")


# --- Invitation links: click, landing (PROGRAM_RULES.md section 1) -------------------------


@require_safe
def click(request: HttpRequest, code: str) -> HttpResponse:
    """/r/<code>: record the click, set the attribution cookie, go to the landing page.

    Hot path: on PostgreSQL one statement checks the code and writes device, IP sighting and
    click (`record_click_fast`); elsewhere the ORM path (`usable_code` + `record_click`).
    Unknown, disabled and flagged codes get the plain sign-up page with no cookie, so a
    visitor cannot tell them apart. Redirects only to internal pages (any `next` is ignored).
    """
    from accounts.identity import keyed_hash
    from accounts.requestinfo import client_ip
    from referrals.selectors import usable_code
    from referrals.services import attribution

    ip = client_ip(request)
    channel = attribution.normalize_channel(request.GET.get("ch"))
    ip_hash = keyed_hash(ip or "-", purpose="ip")
    allowed = attribution.click_allowed(ip_hash=ip_hash)
    click_id, clicked_at = None, timezone.now()
    if allowed and connection.vendor == "postgresql":
        found = attribution.record_click_fast(request=request, raw_code=code, channel=channel, ip=ip, ip_hash=ip_hash)
        if found is None:
            return redirect("accounts:signup")
        code_value, click_id, clicked_at = found
    else:
        referral_code = usable_code(code)
        if referral_code is None:
            return redirect("accounts:signup")
        code_value = referral_code.code
        if allowed:
            recorded = attribution.record_click(request=request, code=referral_code, channel=channel)
            click_id, clicked_at = recorded.pk, recorded.clicked_at
    response = redirect("referrals:landing")
    attribution.set_attribution_cookie(response, code=code_value, click_id=click_id, clicked_at=clicked_at)
    return response


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    """The friend's landing page: who invited them, their welcome package, what we already know won't work."""
    from accounts.identity import ip_country
    from accounts.requestinfo import client_ip
    from accounts.selectors import region_for_country
    from referrals.selectors import device_has_account, usable_code
    from referrals.services.attribution import read_attribution

    if request.user.is_authenticated:
        # Members are bound for good: a link clicked after sign-up changes nothing.
        return redirect("referrals:invite")
    found = read_attribution(request)
    code = usable_code(found.code) if found else None
    if code is None:
        return redirect("accounts:signup")
    ip = client_ip(request)
    region = region_for_country(ip_country(ip) if ip else "")
    package = [
        {"value": Decimal(str(item["value"])), "min_spend": Decimal(str(item.get("min_spend", "0")))}
        for item in region.welcome_package
    ]
    context = {
        "inviter_name": code.user.first_name,
        "region": region,
        "package": package,
        "package_total": sum((item["value"] for item in package), Decimal("0")),
        "device_known": device_has_account(device_id=getattr(request, "device_id", "") or ""),
        "region_blocked": not region.is_in_program,
    }
    return render(request, "referrals/landing.html", context)
