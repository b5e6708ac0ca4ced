from __future__ import annotations

from django.conf import settings
from django.db.models import CharField, Expression, OuterRef, Subquery, Value
from django.db.models.functions import Concat
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.decorators import program_member_required
from accounts.selectors import region_for_country
from coupons import selectors
from coupons.forms import CalculatorForm
from lib import pagecache
from lib.money import active_money_locale
from referrals.models import MonthlyRewardCounter, Referral
from referrals.selectors.friend import welcome_package_pending
from referrals.selectors.meter import monthly_progress


def _referral_version_parts() -> dict[str, Expression]:
    """What My Coupons shows from the referral program, as parts of its one-query version:
    - "Referral coupons this month": the member's latest MonthlyRewardCounter (month and count), as on Invite
      Friends (the current month's counter is always the latest; a new month comes with the key's minute bucket);
    - the welcome-pending note: the state and updated_at of the referral the member received."""
    counter = MonthlyRewardCounter.objects.filter(referrer=OuterRef("pk")).order_by("-month")
    received = Referral.objects.filter(friend=OuterRef("pk")).order_by()
    state = Concat("state", Value("/"), selectors.version_text("updated_at"), output_field=CharField())
    return {
        "received_v": Subquery(received.annotate(v=state).values("v")[:1]),
        "counter_month": Subquery(counter.values("month")[:1]),
        "counter_n": Subquery(counter.values("count")[:1]),
    }


def _wallet_content(request: HttpRequest, *, tab: str, now) -> str:
    """The page's main content (everything in the content block), with the CSRF placeholder."""
    member = request.user
    region = region_for_country(str(member.country))
    month = monthly_progress(member=member, now=now, region=region)  # the same meter as Invite Friends
    wallet = selectors.wallet_for(member=member, referral_month=month, tab=tab, at=now, region=region)
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
    request; a cache error only means rendering (docs/program-rules.md G1).
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
            selectors.wallet_page_version(member=user, also=_referral_version_parts),
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


TABS = [("platform", _("Platform")), ("store", _("Store")), ("history", _("Used & expired"))]
