from __future__ import annotations

import logging
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_safe

from accounts.decorators import program_member_required
from accounts.locales import region_money_locale_choice
from accounts.selectors import region_for_country
from coupons.selectors import sale_event_to_share
from referral_portal import pagecache
from referral_portal.templatetags.money import active_money_locale, format_money, use_money_locale
from referrals import selectors, services
from referrals.sharing import channel_link, qr_svg, qr_svg_document, share_links
from referrals.tips import SALE_LOOKAHEAD, SaleEvent, pick_tips

logger = logging.getLogger(__name__)


def _invite_link(request: HttpRequest, code: str) -> str:
    return request.build_absolute_uri(f"/r/{code}")


# The QR code depends only on the link: made once per process and link (≈ 4 ms with segno).
@lru_cache(maxsize=1024)
def _qr_svg(link: str) -> str:
    return qr_svg(link, title="QR code of your invitation link")


# --- Invite Friends (owned by the invite page; link-click/landing views go below) ---


def _page_number(raw: str | None) -> str:
    """The page number as the paginator will read it, bounded so the cache key space stays small."""
    if not raw or not raw.isdigit():
        return "1"  # what Paginator.get_page does with anything that is not a number
    return str(min(int(raw), 1_000_000))  # beyond the last page: the last page, either way


def _sale_for_tips(region, now) -> SaleEvent | None:
    event = sale_event_to_share(at=now, currency=region.currency, within=SALE_LOOKAHEAD)
    return SaleEvent(name=event.name, starts_at=event.starts_at, ends_at=event.ends_at) if event else None


def _invite_content(request: HttpRequest, *, user, code, tab: str, page_number: str, now) -> str:
    """The page's main content (everything in the content block), with the CSRF placeholder."""
    link = _invite_link(request, code.code)
    region = region_for_country(str(user.country))
    welcome_total = sum((Decimal(str(c.get("value", 0))) for c in region.welcome_package), Decimal(0))
    welcome_text = format_money(welcome_total, region.currency) if welcome_total else ""
    reward_text = format_money(region.reward_amount, region.currency)
    message = (
        f"Join me on the marketplace: sign up with my link and get {welcome_text} in welcome coupons."
        if welcome_text
        else "Join me on the marketplace: sign up with my link and get welcome coupons."
    )
    counts = selectors.tab_counts(user=user)
    page = selectors.referral_page(user=user, tab=tab, page=page_number, region=region, count=counts[tab])
    cards = selectors.referral_cards(page.object_list, now=now)
    # The exact counts in the key: a sign-up or a reward shows in the funnel at once (only opens may lag).
    version = "-".join(str(counts[key]) for key in selectors.TABS)
    funnel = selectors.cached_channel_funnel(user=user, code=code.code, version=version)
    progress = selectors.monthly_progress(user=user, now=now, region=region)
    context = {
        "code": code,
        "link": link,
        "copy_link": channel_link(link, "copy"),
        "instagram_link": channel_link(link, "instagram"),
        "qr_link": channel_link(link, "qr"),
        "qr_svg": _qr_svg(channel_link(link, "qr")),
        "share_links": share_links(link, message=message, subject="A welcome gift for you"),
        "share_message": message,
        "region": region,
        "reward_text": reward_text,
        "welcome_text": welcome_text,
        "progress": progress,
        "earnings": selectors.referral_earnings(user=user),
        # The tiles beside the meter are exact (tab counts); only the funnel may lag by its cache TTL.
        "signups_total": counts["all"],
        "credited_total": counts["credited"],
        "funnel": funnel,
        "tips": pick_tips(funnel, progress, welcome_total=welcome_text, sale=_sale_for_tips(region, now), now=now),
        "tabs": [(key, label, counts[key]) for key, (label, _) in selectors.TABS.items()],
        "tab": tab,
        "page": page,
        "cards": cards,
        "csrf_token": pagecache.CSRF_PLACEHOLDER,  # overrides the context processor's token: never cached
    }
    return render_to_string("referrals/_invite_content.html", context, request=request)


@require_GET
@program_member_required
def invite(request: HttpRequest) -> HttpResponse:
    """Invite Friends: link, share, QR, this month's meter, funnel, tips and the referral cards.

    The main content is kept INVITE_PAGE_CACHE_SECONDS in the shared cache under a key made of the
    member, their code, tab, page, language, money locale, time zone, country, scheme and host, the current
    minute and `selectors.invite_page_version` (one query that changes with anything the content
    shows; its docstring lists what and why). A hit costs the session, the user, the code, the
    version query and one cache GET. Header, messages and CSRF token stay per request; a cache
    error only means rendering (RELIABILITY.md section 1).
    """
    user = request.user
    now = timezone.now()
    code = services.ensure_referral_code(user=user)
    tab = request.GET.get("tab", "all")
    if tab not in selectors.TABS:
        tab = "all"
    page_number = _page_number(request.GET.get("page"))
    ttl = settings.INVITE_PAGE_CACHE_SECONDS
    key = None
    if ttl > 0:
        parts = [
            selectors.invite_page_version(user=user),
            tab,
            page_number,
            get_language() or "",
            active_money_locale(),  # language + country, or the region's locale (accounts.locales)
            timezone.get_current_timezone_name(),
            str(user.country),
            request.scheme,
            request.get_host(),
            now.strftime("%Y%m%d%H%M"),  # "expires in", 24 h / 48 h, the month's reset follow the clock
        ]
        key = pagecache.content_key(f"invite:page:v1:{user.pk}:{code.code}", parts)
    html = pagecache.cached_content(
        key=key,
        ttl=ttl,
        render=lambda: _invite_content(request, user=user, code=code, tab=tab, page_number=page_number, now=now),
        name="invite",
    )
    html = pagecache.with_csrf_token(request, html)
    return render(request, "referrals/invite.html", {"invite_content": mark_safe(html)})  # noqa: S308 - our own render


@require_GET
@program_member_required
def invite_qr(request: HttpRequest) -> HttpResponse:
    """The QR code of the member's link (?ch=qr) as an SVG file to download and print."""
    code = services.ensure_referral_code(user=request.user)
    svg = qr_svg_document(channel_link(_invite_link(request, code.code), "qr"))
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Disposition"] = f'attachment; filename="invite-{code.code.lower()}-qr.svg"'
    return response


def rules(request: HttpRequest) -> HttpResponse:
    region = region_for_country(str(request.user.country) if request.user.is_authenticated else "")
    welcome = [
        {"value": Decimal(str(c.get("value", 0))), "min_spend": Decimal(str(c.get("min_spend", 0)))}
        for c in region.welcome_package
    ]
    return render(
        request,
        "referrals/rules.html",
        {
            "region": region,
            "welcome": welcome,
            "welcome_total": sum((c["value"] for c in welcome), Decimal(0)),
        },
    )


# --- Invitation links: click, landing (PROGRAM_RULES.md section 1) -------------------------


# The click's two redirect targets, reversed once per process (per script prefix and URLconf)
# instead of on every click (≈ 50 µs each).
@lru_cache(maxsize=16)
def _reversed(name: str, script_prefix: str, urlconf: str | None) -> str:
    return reverse(name, urlconf=urlconf)


def _url(name: str) -> str:
    return _reversed(name, get_script_prefix(), get_urlconf())


@require_safe
def click(request: HttpRequest, code: str) -> HttpResponse:
    """/r/<code>: record the click, set the attribution cookie, go to the landing page.

    Hot path: on PostgreSQL one call of the PL/pgSQL function `referrals_record_click` checks the
    code and writes device, IP sighting and click (`record_click_fast`); elsewhere the ORM path
    (`usable_code` + `record_click`).
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
            return HttpResponseRedirect(_url("accounts:signup"))
        code_value, click_id, clicked_at = found
    else:
        referral_code = usable_code(code)
        if referral_code is None:
            return HttpResponseRedirect(_url("accounts:signup"))
        code_value = referral_code.code
        if allowed:
            recorded = attribution.record_click(request=request, code=referral_code, channel=channel)
            click_id, clicked_at = recorded.pk, recorded.clicked_at
    response = HttpResponseRedirect(_url("referrals:landing"))
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
    # The welcome package is shown in the region's currency: in its locale too when the language matches.
    with use_money_locale(region_money_locale_choice(region)):
        return render(request, "referrals/landing.html", context)
