from __future__ import annotations

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import phone as phone_codes
from accounts import selectors, services
from accounts.decorators import program_member_required
from accounts.devices import record_sighting
from accounts.forms import LoginForm, PhoneCodeForm, PhoneForm, ProfileForm, SignupForm
from accounts.levels import standing_for
from accounts.models import User
from coupons import coins, events
from coupons.rewards import rewards_wallet
from flows.phone import confirm_phone
from flows.signup import register_referral
from lib.client import client_info, client_ip
from referrals.cookies import read_attribution
from referrals.eligibility import welcome_package_due
from referrals.selectors.friend import friend_signup_notice
from referrals.selectors.links import inviter_name


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("referrals:invite")
    form = SignupForm(request.POST or None)
    # Every POST counts, valid or not: repeated submissions must not probe typed codes (docs/program-rules.md 1).
    if request.method == "POST" and not services.signup_attempt_allowed(ip=client_ip(request)):
        form.refuse(services.SIGNUP_RATE_LIMITED_MESSAGE)
        response = _signup_page(request, form, status=429)
        response["Retry-After"] = str(services.SIGNUP_RATE_WINDOW_SECONDS)
        return response
    if request.method == "POST" and form.is_valid():
        # One transaction: an account never exists without its sign-up signals and referral decision.
        with transaction.atomic():
            user = services.register_member(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                country=form.cleaned_data["country"],
                language=get_language() or "",
            )
            client = client_info(request, fingerprint=form.cleaned_data.get("fingerprint", ""))
            record_sighting(client=client, kind="signup", member=user)
            referral = register_referral(
                friend=user,
                client=client,
                attribution=read_attribution(request),
                typed_code=form.cleaned_data.get("referral_code", ""),
            )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request,
            _("Welcome, %(name)s! Your account is ready. We sent a link to confirm your e-mail.")
            % {"name": user.first_name},
        )
        if referral is None:
            return redirect("referrals:invite")
        # Seeing the welcome coupons is how a friend knows the invitation worked; a friend whose
        # invitation could not be applied is told so, in words for the friend (docs/program-rules.md section 2).
        notice = friend_signup_notice(referral=referral)
        if not user.may_use_program:
            # Flagged by this very sign-up (a device ring): the security sentence only, on a page that is
            # not a program action (Invite Friends would answer the same sentence as a refusal).
            messages.warning(request, notice)
            return redirect("home")
        if referral.state in ("registered", "under_review") or welcome_package_due(
            state=referral.state, signals=referral.signals
        ):
            messages.info(request, notice)
            return redirect("coupons:wallet")
        if notice:
            messages.warning(request, notice)
        return redirect("referrals:invite")
    return _signup_page(request, form, status=200)


def _signup_page(request: HttpRequest, form: SignupForm, *, status: int) -> HttpResponse:
    # A refused attempt has no cleaned code: the banner then names only the clicked link's inviter.
    typed = form.cleaned_data.get("referral_code", "") if form.is_bound else ""
    attribution = read_attribution(request)
    inviter = inviter_name(typed_code=typed, attributed_code=attribution.code if attribution else "")
    return render(request, "accounts/signup.html", {"form": form, "inviter_name": inviter}, status=status)


class MemberLoginView(auth_views.LoginView):
    """Django's LoginView; a successful login also records this device and IP (the login sighting)."""

    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: LoginForm) -> HttpResponse:
        response = super().form_valid(form)
        record_sighting(
            client=client_info(self.request, fingerprint=form.cleaned_data["fingerprint"]),
            kind="login",
            member=form.get_user(),
        )
        return response


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    # A separate instance: an invalid form must not change the name shown in the header.
    form = ProfileForm(request.POST or None, instance=User.objects.get(pk=request.user.pk))
    if request.method == "POST" and form.is_valid():
        user = services.update_profile(member=request.user, **form.cleaned_data)
        messages.success(request, _("Your profile is saved."))
        response = redirect("accounts:profile")
        # Anonymous pages (after logout) keep the member's language too.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            user.language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
        return response
    context = {"form": form, **selectors.profile_summary(member=request.user)}
    return render(request, "accounts/profile.html", context)


def _next_page(request: HttpRequest) -> str:
    """Where a form posted from another page (Invite Friends' phone form) returns: a local path, else ""."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts=None, require_https=request.is_secure()):
        return target
    return ""


def _phone_page(request: HttpRequest, *, phone_form: PhoneForm, code_form: PhoneCodeForm, status: int = 200):
    context = {
        "phone_form": phone_form,
        "code_form": code_form,
        # A form sent from Invite Friends with an error: the corrected one still goes back there.
        "next": _next_page(request),
        **selectors.profile_summary(member=request.user),
    }
    return render(request, "accounts/phone.html", context, status=status)


@login_required
def phone(request: HttpRequest) -> HttpResponse:
    """Enter a number and receive a code by SMS."""
    form = PhoneForm(request.POST or None, default_region=str(request.user.country))
    if request.method == "POST" and form.is_valid():
        try:
            phone_codes.request_phone_code(member=request.user, phone=form.cleaned_data["phone"])
        except phone_codes.PhoneVerificationError as error:
            form.add_error("phone", error.message)
        else:
            messages.success(
                request,
                _("We sent a 6-digit code to %(phone)s. It works for 10 minutes.")
                % {"phone": form.cleaned_data["phone"]},
            )
            return redirect(_next_page(request) or "accounts:phone")
    status = 400 if form.errors else 200
    return _phone_page(request, phone_form=form, code_form=PhoneCodeForm(), status=status)


@login_required
@require_POST
def phone_confirm(request: HttpRequest) -> HttpResponse:
    """Check the code; on success the number becomes the member's verified phone."""
    form = PhoneCodeForm(request.POST)
    if form.is_valid():
        try:
            confirmed = confirm_phone(member=request.user, code=form.cleaned_data["code"])
        except phone_codes.PhoneVerificationError as error:
            form.add_error("code", error.message)
        else:
            messages.success(request, _("Your phone number %(phone)s is verified.") % {"phone": confirmed.member.phone})
            if confirmed.closed_review is not None:
                # The friend's review closed itself on this phone (docs/program-rules.md section 2).
                messages.success(request, gettext("Thank you: the check on your invitation is complete."))
                return redirect("referrals:my_invitation")
            return redirect(_next_page(request) or "accounts:profile")
    phone_form = PhoneForm(default_region=str(request.user.country))
    return _phone_page(request, phone_form=phone_form, code_form=form, status=400)


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = services.verify_email(token=token)
    except services.EmailVerificationError as error:
        return render(request, "accounts/verify_email_failed.html", {"message": error.message}, status=400)
    messages.success(request, _("Thank you: %(email)s is confirmed.") % {"email": user.email})
    return redirect("accounts:profile" if request.user.is_authenticated else "accounts:login")


@login_required
@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    if request.user.email_verified_at is not None:
        messages.info(request, _("Your e-mail address is already confirmed."))
        return redirect("accounts:profile")
    try:
        services.send_verification_email(member=request.user)
    except services.EmailVerificationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("We sent a new confirmation link to %(email)s.") % {"email": request.user.email})
    return redirect("accounts:profile")


class MemberPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's reset view; a new password set from the e-mail also lifts a login lockout on that address."""

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        # Only the mailbox owner gets here, so unlocking their address is safe.
        axes_reset(username=form.user.email)
        return response


# --- Rewards: level, coins, events ---------------------------------------------------------


@login_required
@require_GET
def rewards(request: HttpRequest) -> HttpResponse:
    """The member's level (accounts) beside their coins, offers, sale events and coin history (the wallet)."""
    member = User.objects.get(pk=request.user.pk)
    context = {
        "standing": standing_for(member=member),
        "currency": selectors.region_for_country(str(member.country)).currency,
        **rewards_wallet(member=member, at=timezone.now()),
    }
    return render(request, "accounts/rewards.html", context)


@program_member_required
@require_POST
def rewards_check_in(request: HttpRequest) -> HttpResponse:
    try:
        result = coins.check_in(member=request.user)
    except coins.AlreadyCheckedIn as error:
        messages.info(request, error.message)
    else:
        day = result.check_in.streak
        text = _("You checked in: +%(coins)s coins.") % {"coins": result.check_in.coins}
        if day > 1:
            text = f"{text} {_('Day %(day)s of your streak!') % {'day': day}}"
        messages.success(request, text)
    return redirect("accounts:rewards")


@program_member_required
@require_POST
def rewards_exchange(request: HttpRequest) -> HttpResponse:
    try:
        coupon = coins.exchange_coins(
            member=request.user, offer_code=request.POST.get("offer", ""), request_token=request.POST.get("token", "")
        )
    except coins.CoinError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Done: your coupon “%(title)s” is in My Coupons.") % {"title": coupon.title})
    return redirect("accounts:rewards")


@program_member_required
@require_POST
def rewards_collect(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(events.events(), pk=campaign_id)
    try:
        events.collect_event_coupon(member=request.user, campaign=campaign)
    except events.EventCouponError as error:
        if error.code == events.ALREADY_COLLECTED:
            messages.info(request, error.message)
        else:
            messages.error(request, error.message)
    else:
        messages.success(request, _("Collected: your %(event)s coupon is in My Coupons.") % {"event": campaign.name})
    return redirect("accounts:rewards")


# --- Notification centre (docs/program-rules.md section 9) -------------------------------------------------

NOTICES_PER_PAGE = 30


@login_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """Every notice the member received (the same ones e-mail carries), newest first, with its link."""
    page = Paginator(selectors.notices_for_member(member=request.user), NOTICES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "accounts/notifications.html", {"page": page})


@login_required
@require_POST
def notifications_read(request: HttpRequest, notice_id: int | None = None) -> HttpResponse:
    """Mark one notice (or all) read; then back to the notification centre, or to the notice's own page."""
    services.mark_notices_read(member=request.user, notice_id=notice_id)
    selectors.forget_unread_notice_count(member=request.user)
    if notice_id is None:
        messages.success(request, _("All notifications are marked as read."))
    return redirect(_next_page(request) or "accounts:notifications")
