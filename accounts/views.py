from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import services
from accounts.forms import SignupForm
from referrals.selectors import inviter_name
from referrals.services import register_referral


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("referrals:invite")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.register_member(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            first_name=form.cleaned_data["first_name"],
            last_name=form.cleaned_data["last_name"],
            country=form.cleaned_data["country"],
        )
        services.record_sighting(request=request, kind="signup", user=user)
        register_referral(friend=user, request=request, typed_code=form.cleaned_data.get("referral_code", ""))
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.first_name}! Your account is ready.")
        return redirect("referrals:invite")
    typed = form.cleaned_data.get("referral_code", "") if form.is_bound else ""
    inviter = inviter_name(request=request, typed_code=typed)
    return render(request, "accounts/signup.html", {"form": form, "inviter_name": inviter})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/profile.html")
