from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from coupons import selectors


@login_required
def wallet(request: HttpRequest) -> HttpResponse:
    return render(request, "coupons/wallet.html", {"coupons": selectors.usable_coupons(owner=request.user)})
