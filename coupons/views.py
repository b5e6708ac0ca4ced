from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.decorators import program_member_required
from accounts.selectors import region_for_country
from coupons import selectors
from coupons.forms import CalculatorForm
from referrals.selectors.friend import welcome_package_pending
from referrals.selectors.meter import monthly_progress


def _wallet_content(request: HttpRequest, *, tab: str, now) -> str:
    """The page's main content (everything in the content block), rendered by the Jinja2 engine
    (`coupons/jinja2/coupons/_wallet_content.html`, referral_portal/jinja2.py)."""
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
    }
    return render_to_string("coupons/_wallet_content.html", context, request=request, using="jinja2")


@program_member_required
def wallet(request: HttpRequest) -> HttpResponse:
    """My Coupons: tabs, referral coupons this month, coins and the savings calculator.

    Rendered on every request from the data as it is now (no page cache, so nothing can be stale): a constant
    number of queries whatever the number of coupons (tests/perf/test_constant_queries.py), the main content
    through Jinja2 (docs/performance.md, issue 20).
    """
    tab = request.GET.get("tab", "platform")
    if tab not in selectors.WALLET_TABS:
        tab = "platform"
    html = _wallet_content(request, tab=tab, now=timezone.now())
    return render(request, "coupons/wallet.html", {"wallet_content": mark_safe(html)})  # noqa: S308 - our own render


TABS = [("platform", _("Platform")), ("store", _("Store")), ("history", _("Used & expired"))]
