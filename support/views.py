from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import program_member_required
from referrals.models import Referral
from referrals.selectors.cards import mask_name
from support import selectors, services


@require_POST
@program_member_required
def open_for_referral(request: HttpRequest, referral_id: int) -> HttpResponse:
    """One click from a referral card: open (or show the already open) request with its evidence."""
    try:
        support_request, created = services.open_referral_request(member=request.user, referral_id=referral_id)
    except Referral.DoesNotExist:
        raise Http404("No such referral") from None
    except services.RequestNotAllowed as refusal:
        messages.error(request, str(refusal))
        return redirect(reverse("referrals:invite") + f"#referral-{referral_id}")
    if created:
        messages.success(
            request,
            _("Support request #%(number)s is open. We attached the details of this referral.")
            % {"number": support_request.pk},
        )
    else:
        messages.info(
            request,
            _("Support request #%(number)s for this referral is already open.") % {"number": support_request.pk},
        )
    return redirect("support:detail", pk=support_request.pk)


@require_GET
@program_member_required
def request_list(request: HttpRequest) -> HttpResponse:
    return render(request, "support/list.html", {"requests": selectors.requests_for_member(member=request.user)})


@require_GET
@program_member_required
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
