from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import program_member_required
from coupons import selectors
from coupons.forms import CalculatorForm
from referrals.selectors import welcome_package_pending


@program_member_required
def wallet(request: HttpRequest) -> HttpResponse:
    """My Coupons: tabs, referral coupons this month, coins and the savings calculator."""
    wallet = selectors.wallet_for(member=request.user, tab=request.GET.get("tab", "platform"))
    form = CalculatorForm(
        request.GET if "pick" in request.GET else None, coupon_ids=[w.coupon.pk for w in wallet.usable]
    )
    picked = set(form.picked())
    if picked:
        wallet.calculator = selectors.savings_calculator(
            [w for w in wallet.usable if w.coupon.pk in picked], currency=wallet.currency
        )
    return render(
        request,
        "coupons/wallet.html",
        {
            "wallet": wallet,
            "form": form,
            "picked": picked,
            "tabs": TABS,
            "welcome_pending": welcome_package_pending(friend=request.user),
        },
    )


TABS = [("platform", "Platform"), ("store", "Store"), ("history", "Used & expired")]
