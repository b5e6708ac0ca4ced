from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from accounts.decorators import program_member_required
from coupons import selectors
from coupons.forms import CalculatorForm
from referral_portal import pagecache
from referral_portal.templatetags.money import active_money_locale
from referrals.selectors import welcome_package_pending


def _wallet_content(request: HttpRequest, *, tab: str, now) -> str:
    """The page's main content (everything in the content block), with the CSRF placeholder."""
    wallet = selectors.wallet_for(member=request.user, tab=tab, at=now)
    form = CalculatorForm(
        request.GET if "pick" in request.GET else None, coupon_ids=[w.coupon.pk for w in wallet.usable]
    )
    picked = set(form.picked())
    if picked:
        wallet.calculator = selectors.savings_calculator(
            [w for w in wallet.usable if w.coupon.pk in picked], currency=wallet.currency
        )
    context = {
        "wallet": wallet,
        "form": form,
        "picked": picked,
        "tabs": TABS,
        "welcome_pending": welcome_package_pending(friend=request.user),
        "csrf_token": pagecache.CSRF_PLACEHOLDER,  # overrides the context processor's token: never cached
    }
    return render_to_string("coupons/_wallet_content.html", context, request=request)


@program_member_required
def wallet(request: HttpRequest) -> HttpResponse:
    """My Coupons: tabs, referral coupons this month, coins and the savings calculator.

    The plain page (no calculator picks) keeps its main content WALLET_PAGE_CACHE_SECONDS in the shared
    cache under a key made of the member (id and date joined), tab, language, money locale, time zone, country, the
    current minute and
    `selectors.wallet_page_version` (one query that changes with anything the content shows; its
    docstring lists what and why). A hit costs the session, the user, the version query and one cache
    GET. With "pick" parameters the page is always rendered. Header, messages and CSRF token stay per
    request; a cache error only means rendering (RELIABILITY.md section 1).
    """
    user = request.user
    now = timezone.now()
    tab = request.GET.get("tab", "platform")
    if tab not in selectors.WALLET_TABS:
        tab = "platform"
    ttl = settings.WALLET_PAGE_CACHE_SECONDS
    key = None
    if ttl > 0 and "pick" not in request.GET:
        parts = [
            selectors.wallet_page_version(member=user),
            tab,
            get_language() or "",
            active_money_locale(),  # language + country, or the region's locale (accounts.locales)
            timezone.get_current_timezone_name(),
            str(user.country),
            user.date_joined.isoformat(),  # a reused id (a deleted account's) never meets the old content
            now.strftime("%Y%m%d%H%M"),  # "expires in", badge tones, usable vs expired follow the clock
        ]
        key = pagecache.content_key(f"wallet:page:v1:{user.pk}", parts)
    html = pagecache.cached_content(
        key=key, ttl=ttl, render=lambda: _wallet_content(request, tab=tab, now=now), name="wallet"
    )
    html = pagecache.with_csrf_token(request, html)
    return render(request, "coupons/wallet.html", {"wallet_content": mark_safe(html)})  # noqa: S308 - our own render


TABS = [("platform", "Platform"), ("store", "Store"), ("history", "Used & expired")]
