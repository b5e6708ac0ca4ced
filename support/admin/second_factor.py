"""A second factor for staff (docs/program-rules.md G5): the admin opens only to a verified session.

With `STAFF_REQUIRE_2FA` on (the default whenever DEBUG is off) a staff member who signed in with
their password reaches /admin/ only after entering a code from an authenticator app (TOTP, RFC 6238,
django-otp). The first time, the page enrols the app: a QR code and the key to type, confirmed by a
first valid code, and only in a session that followed a one-time set-up link e-mailed to the staff member
(or created for them by a superuser; support/enrolment.py), so a stolen password alone enrols nothing. The key is
never shown again once confirmed (and never in the admin: OTP_ADMIN_HIDE_SENSITIVE_DATA). Codes are single
use (a code accepted once is refused after), wrong codes slow down exponentially per device, and every
enrolment and verification is in the audit log.

A staff member who lost their phone asks a superuser to delete their device in the admin
(Django OTP › TOTP devices); they enrol again at their next sign-in, through a new set-up link
(docs/deployment.md).
"""

from __future__ import annotations

import logging
import math
from base64 import b32encode
from datetime import datetime
from functools import lru_cache

import segno
from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core import checks
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from support.audit import record_staff_action
from support.enrolment import (
    ENROLMENT_LINK_TTL,
    EnrolmentLinkRefused,
    email_enrolment_link,
    redeem_enrolment_link,
)

logger = logging.getLogger(__name__)

DEVICE_NAME = "Authenticator app"


def second_factor_required(user) -> bool:
    """True when this signed-in staff member must still verify a code in this session."""
    verified = getattr(user, "is_verified", None)  # set by django_otp's OTPMiddleware
    return bool(settings.STAFF_REQUIRE_2FA and user.is_active and user.is_staff and not (verified and verified()))


@lru_cache(maxsize=1024)
def _admin_url(urlconf, prefix: str, site: str, name: str, app_label: str | None = None) -> str | None:
    """An admin URL without arguments (or an app's list), None when it does not exist (as Django's app list)."""
    try:
        return reverse(name, kwargs={"app_label": app_label} if app_label else None, current_app=site)
    except NoReverseMatch:
        return None


class PortalAdminSite(admin.AdminSite):
    """Django's admin site, closed to staff sessions that have not passed the second factor."""

    site_header = _("Referral Portal staff console")
    site_title = _("Referral Portal staff")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Every admin action is an audited staff action with its own permission (support.admin.staff_actions);
        # Django's bulk "delete selected" is neither.
        self.disable_action("delete_selected")

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not second_factor_required(request.user)

    def _build_app_dict(self, request, label=None):
        """Django's, with the admin URLs reversed once per process (they depend only on the URLconf and the
        script prefix) and the names translated once: Django reverses two URLs per registered model and
        compares lazy names while sorting on every admin page (the app list of the nav sidebar and the index),
        about 20 ms a page with 43 models."""
        models = (
            {m: m_a for m, m_a in self._registry.items() if m._meta.app_label == label} if label else self._registry
        )
        urlconf, prefix = get_urlconf(), get_script_prefix()
        app_dict: dict = {}
        for model, model_admin in models.items():
            app_label = model._meta.app_label
            has_module_perms = model_admin.has_module_permission(request)
            if not has_module_perms:
                continue
            perms = model_admin.get_model_perms(request)
            if True not in perms.values():
                continue
            base = f"admin:{app_label}_{model._meta.model_name}"
            model_dict = {
                "model": model,
                "name": capfirst(str(model._meta.verbose_name_plural)),
                "object_name": model._meta.object_name,
                "perms": perms,
                "admin_url": None,
                "add_url": None,
            }
            if perms.get("change") or perms.get("view"):
                model_dict["view_only"] = not perms.get("change")
                model_dict["admin_url"] = _admin_url(urlconf, prefix, self.name, f"{base}_changelist")
            if perms.get("add"):
                model_dict["add_url"] = _admin_url(urlconf, prefix, self.name, f"{base}_add")
            if app_label in app_dict:
                app_dict[app_label]["models"].append(model_dict)
            else:
                app_dict[app_label] = {
                    "name": str(apps.get_app_config(app_label).verbose_name),
                    "app_label": app_label,
                    "app_url": _admin_url(urlconf, prefix, self.name, "admin:app_list", app_label),
                    "has_module_perms": has_module_perms,
                    "models": [model_dict],
                }
        return app_dict

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        # Signed in with the password but not verified yet: the code page, not the admin's login form.
        if request.user.is_authenticated and second_factor_required(request.user):
            target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
            return redirect_to_login(target, reverse("staff_second_factor"))
        return super().login(request, extra_context)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code"),
        min_length=6,
        max_length=8,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9 ]*", "autofocus": True}
        ),
        help_text=_("From your authenticator app. A new code appears every 30 seconds."),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].replace(" ", "")
        if not code.isdigit():
            raise forms.ValidationError("Enter the digits only, as your app shows them.")
        return code


def _device_for(user) -> tuple[TOTPDevice, bool]:
    """The member's confirmed device, or their pending one (created on first visit); and whether confirmed."""
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if confirmed is not None:
        return confirmed, True
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if pending is None:
        pending = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return pending, False


def _seconds_to_wait(device: TOTPDevice) -> int:
    """How long until django-otp lets this device try again (1, 2, 4, 8 … seconds after n failures)."""
    if not device.throttling_failure_count or device.throttling_failure_timestamp is None:
        return 0
    delay = device.get_throttle_factor() * (2 ** (device.throttling_failure_count - 1))
    elapsed = (timezone.now() - device.throttling_failure_timestamp).total_seconds()
    return max(0, math.ceil(delay - elapsed))


def check_code(*, device_id: int, code: str) -> tuple[bool, str | None]:
    """Verify `code` on the device under its row lock, so one code can never be accepted twice."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device_id)
        if not device.verify_is_allowed()[0]:
            wait = max(_seconds_to_wait(device), 1)
            return (
                False,
                ngettext(
                    "Too many wrong codes in a row: wait %(wait)s second, then enter the newest code.",
                    "Too many wrong codes in a row: wait %(wait)s seconds, then enter the newest code.",
                    wait,
                )
                % {"wait": wait},
            )
        if device.verify_token(code):
            if not device.confirmed:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            return True, None
    problem = gettext("That code is not right. Enter the newest code your app shows.")
    if device.throttling_failure_count >= 3:
        wait = _seconds_to_wait(device)
        problem += " " + ngettext(
            "After %(count)s wrong codes, the next try waits %(wait)s second.",
            "After %(count)s wrong codes, the next try waits %(wait)s seconds.",
            wait,
        ) % {"count": device.throttling_failure_count, "wait": wait}
    return False, problem


def _qr_data_uri(device: TOTPDevice) -> str:
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def _secret_for_typing(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


@never_cache
@csrf_protect
@sensitive_post_parameters("code")
def second_factor(request: HttpRequest) -> HttpResponse:
    """/admin/second-factor/: enrol an authenticator app (first time) or enter its code (every sign-in)."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not (user.is_active and user.is_staff):
        return HttpResponseRedirect(reverse("admin:login"))
    if not second_factor_required(user):
        return HttpResponseRedirect(_safe_next(request))
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists() and not may_enrol(request):
        return _link_needed(request)
    device, confirmed = _device_for(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ok, problem = check_code(device_id=device.pk, code=form.cleaned_data["code"])
        if ok:
            device.refresh_from_db()
            otp_login(request, device)
            request.session.pop(ENROLMENT_SESSION_KEY, None)
            with transaction.atomic():
                record_staff_action(
                    actor=user,
                    action="second factor verified" if confirmed else "second factor enrolled",
                    target=device,
                    target_repr=f"{DEVICE_NAME} of {user.get_username()}",
                )
            return HttpResponseRedirect(_safe_next(request))
        logger.warning("second factor: wrong or throttled code for staff user %s", user.pk)
        form.add_error("code", problem)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Confirm it's you") if confirmed else gettext("Set up your authenticator app"),
        "form": form,
        "enrolling": not confirmed,
        "next": _safe_next(request),
        "qr_data_uri": "" if confirmed else _qr_data_uri(device),
        "secret": "" if confirmed else _secret_for_typing(device),
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "admin/second_factor.html", context)


# Set for the session that followed a valid one-time set-up link (support/enrolment.py): until when it may enrol.
ENROLMENT_SESSION_KEY = "second_factor_enrolment"


def may_enrol(request: HttpRequest) -> bool:
    """True when this session followed a valid set-up link for its user and the link's time is not over."""
    grant = request.session.get(ENROLMENT_SESSION_KEY) or {}
    until = grant.get("until")
    return grant.get("user") == request.user.pk and bool(until) and datetime.fromisoformat(until) > timezone.now()


def _link_needed(request: HttpRequest, *, problem: str = "", status: int = 200) -> HttpResponse:
    """A staff member without an authenticator: the set-up needs the one-time link e-mailed to them."""
    sent = None
    if request.method == "POST" and "send_link" in request.POST:
        sent = email_enrolment_link(
            user=request.user,
            url_for_token=lambda token: request.build_absolute_uri(reverse("staff_second_factor_enrol", args=[token])),
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Set up your authenticator app"),
        "link_needed": True,
        "sent": sent,
        "problem": problem,
        "minutes": int(ENROLMENT_LINK_TTL.total_seconds() // 60),
    }
    return render(request, "admin/second_factor.html", context, status=status)


@never_cache
@csrf_protect
def enrol_with_link(request: HttpRequest, token: str) -> HttpResponse:
    """/admin/second-factor/enrol/<token>/: GET asks to confirm (a mail scanner opening the link uses nothing),
    POST uses the one-time link and opens the set-up page for this session until the link's expiry."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not (user.is_active and user.is_staff):
        return HttpResponseRedirect(reverse("admin:login"))
    if request.method != "POST":
        context = {
            **admin.site.each_context(request),
            "title": _("Set up your authenticator app"),
            "confirm_link": True,
        }
        return render(request, "admin/second_factor.html", context)
    try:
        link = redeem_enrolment_link(user=user, token=token)
    except EnrolmentLinkRefused as refused:
        return _link_needed(request, problem=refused.message, status=400)
    request.session[ENROLMENT_SESSION_KEY] = {"user": user.pk, "until": link.expires_at.isoformat()}
    with transaction.atomic():
        record_staff_action(
            actor=user,
            action="second factor link used",
            target=link,
            details={"created_by": link.created_by_id, "expires_at": link.expires_at.isoformat()},
        )
    return HttpResponseRedirect(reverse("staff_second_factor"))


@checks.register(checks.Tags.security, deploy=True)
def check_staff_second_factor(app_configs, **kwargs):
    """`check --deploy`: production admin must ask staff for a second factor."""
    if settings.STAFF_REQUIRE_2FA:
        return []
    return [
        checks.Warning(
            "STAFF_REQUIRE_2FA is off: staff reach the admin with a password only.",
            hint="Unset STAFF_REQUIRE_2FA (it defaults to on when DEBUG is off) or set it to 1.",
            id="portal.W001",
        )
    ]
