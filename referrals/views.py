from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from referrals import services


@login_required
def invite(request: HttpRequest) -> HttpResponse:
    code = services.ensure_referral_code(user=request.user)
    link = request.build_absolute_uri(f"/r/{code.code}")
    return render(request, "referrals/invite.html", {"code": code, "link": link})


def rules(request: HttpRequest) -> HttpResponse:
    return render(request, "referrals/rules.html")
