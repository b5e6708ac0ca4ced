"""The member's support pages: requests from a referral, an appeal for a flagged or suspended account, and the
list and answers (docs/program-rules.md section 10). Every request is written, checked on a confirmation step,
and only then sent."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import program_member_required
from referrals.explain import explain
from referrals.models import Referral
from referrals.selectors.cards import mask_name
from support import selectors, services
from support.forms import SupportMessageForm


def _two_steps(request: HttpRequest, *, required: bool) -> tuple[SupportMessageForm, bool]:
    """The form, and whether it is confirmed (written, then checked on the confirmation step, then sent)."""
    form = SupportMessageForm(request.POST or None, required=required)
    confirmed = request.method == "POST" and form.is_valid() and form.cleaned_data["confirmed"]
    return form, bool(confirmed) and "edit" not in request.POST


def _confirming(request: HttpRequest, form: SupportMessageForm) -> bool:
    """Written and valid: show the confirmation step (unless the member went back to change the message)."""
    return request.method == "POST" and form.is_valid() and "edit" not in request.POST


@require_http_methods(["GET", "POST"])
@program_member_required
def open_for_referral(request: HttpRequest, referral_id: int) -> HttpResponse:
    """From a referral card: write a message (optional), check it, send; the referral's evidence rides along."""
    referral = Referral.objects.select_related("friend").filter(pk=referral_id, referrer=request.user).first()
    if referral is None:
        raise Http404("No such referral")
    decision = explain(referral, now=timezone.now())
    form, confirmed = _two_steps(request, required=False)
    if confirmed:
        try:
            support_request, created = services.open_referral_request(
                member=request.user, referral_id=referral_id, message=form.cleaned_data["message"]
            )
        except Referral.DoesNotExist:
            raise Http404("No such referral") from None
        except services.RequestNotAllowed as refusal:
            messages.error(request, str(refusal))
            return redirect(reverse("referrals:invite") + f"#referral-{referral_id}")
        if created:
            messages.success(
                request,
                _("Support request #%(number)s is sent. We attached the details of this referral.")
                % {"number": support_request.pk},
            )
        else:
            messages.info(
                request,
                _("Support request #%(number)s for this referral is already open.") % {"number": support_request.pk},
            )
        return redirect("support:detail", pk=support_request.pk)
    context = {
        "form": form,
        "confirming": _confirming(request, form),
        "title": decision.support_label or _("Ask support"),
        "about": mask_name(referral.friend.first_name, referral.friend.last_name),
        "action": reverse("support:open", args=[referral_id]),
        "back": reverse("referrals:invite") + f"#referral-{referral_id}",
        "attached": _("The details of this referral are attached for you: link share, sign-up, first order."),
    }
    return render(request, "support/compose.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required
def appeal(request: HttpRequest) -> HttpResponse:
    """A flagged or suspended member asks support to look at their account (the one support page open to them)."""
    if request.user.may_use_program:
        messages.info(request, _("Your account is in good standing: there is nothing to appeal."))
        return redirect("support:list")
    form, confirmed = _two_steps(request, required=True)
    if confirmed:
        support_request, created = services.open_appeal(member=request.user, message=form.cleaned_data["message"])
        if created:
            messages.success(
                request,
                _("Your appeal #%(number)s is sent. Our team answers you here.") % {"number": support_request.pk},
            )
        else:
            messages.info(request, _("Your appeal #%(number)s is already open.") % {"number": support_request.pk})
        return redirect("support:detail", pk=support_request.pk)
    context = {
        "form": form,
        "confirming": _confirming(request, form),
        "title": _("Contact support about your account"),
        "about": "",
        "action": reverse("support:appeal"),
        "back": reverse("support:list"),
        "attached": _("We attach your account's status for our team."),
    }
    return render(request, "support/compose.html", context, status=400 if form.errors else 200)


@require_GET
@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "support/list.html",
        {
            "requests": selectors.requests_for_member(member=request.user),
            "may_appeal": not request.user.may_use_program,
        },
    )


@require_GET
@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    support_request = selectors.request_for_member(member=request.user, pk=pk)
    if support_request is None:
        raise Http404("No such support request")
    friend = support_request.referral.friend if support_request.referral else None
    return render(
        request,
        "support/detail.html",
        {
            "req": support_request,
            "friend_name": mask_name(friend.first_name, friend.last_name) if friend else "",
            "evidence": {
                key: parse_datetime(value) if key.endswith("_at") and isinstance(value, str) else value
                for key, value in (support_request.evidence or {}).items()
            },
        },
    )
