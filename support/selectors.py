"""What the support pages read: only the member's own requests."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from support.models import SupportRequest


def requests_for_member(*, member) -> QuerySet[SupportRequest]:
    """The member's requests, newest first."""
    return SupportRequest.objects.filter(member=member).select_related("referral").order_by("-created_at", "-id")


def request_for_member(*, member, pk: int) -> SupportRequest:
    """One of the member's requests; anybody else's answers 404."""
    return get_object_or_404(
        SupportRequest.objects.select_related("referral", "referral__friend"), pk=pk, member=member
    )
