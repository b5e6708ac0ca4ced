"""What the support pages read (only the member's own requests), and support's part of the Invite Friends cards."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from accounts.models import User
from lib import sqlonce
from support.models import OPEN_STATUSES, SupportRequest


def requests_for_member(*, member: User) -> QuerySet[SupportRequest]:
    """The member's requests, newest first."""
    return SupportRequest.objects.filter(member=member).select_related("referral").order_by("-created_at", "-id")


def request_for_member(*, member: User, pk: int) -> SupportRequest | None:
    """One of the member's requests; None for anybody else's (the page answers 404 either way)."""
    return SupportRequest.objects.select_related("referral", "referral__friend").filter(pk=pk, member=member).first()


def _open_requests(*referral_ids: int) -> QuerySet[SupportRequest]:
    return SupportRequest.objects.filter(referral_id__in=referral_ids, status__in=OPEN_STATUSES).only(
        "id", "referral_id", "status", "kind", "created_at"
    )


def open_requests_by_referral(*, referral_ids: Iterable[int]) -> dict[int, SupportRequest]:
    """The open request of each referral that has one (the first in the staff queue's order): one query, none
    without ids. The Invite Friends cards show its number and status."""
    ids = list(referral_ids)
    if not ids:
        return {}
    found: dict[int, SupportRequest] = {}
    for request in sqlonce.instances(_open_requests, *ids):
        if request.referral_id is not None:  # always, by the filter
            found.setdefault(request.referral_id, request)
    return found
