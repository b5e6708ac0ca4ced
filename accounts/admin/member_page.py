"""The member page staff work from: what the member sees, their referrals with timelines, coupons, ledger,
devices, linked accounts, behaviour, support requests and the audited actions taken on them.

It replaces Django's raw "Change user" form (password hash, permission pickers) on `/admin/accounts/user/<id>/
change/`; superusers can still open that form with `?edit=1`. Every figure comes from the selector that the
member's own pages use (`referrals.selectors.meter`, `cards.tab_counts`, `funnel.channel_funnel`), so staff
and member read the same numbers. Lists are capped (`LIST_LIMIT`) with a link to the full admin list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import AccountDevice, AccountStatus, User
from accounts.selectors import region_for_country
from coupons.models import Coupon, LedgerEntry
from orders.models import PaymentCard
from referrals.admin.panels import render_behaviour, timeline_prefetch
from referrals.models import Referral, ReferralCode
from referrals.reasons import FLAGGED_MESSAGE, staff_label
from referrals.selectors import cards, funnel, meter
from support.models import AuditLog, SupportRequest

LIST_LIMIT = 50
AUDIT_LIMIT = 30


@dataclass(frozen=True)
class ReadinessItem:
    """One thing that decides whether the member's link can earn, as staff read it."""

    ok: bool
    label: str
    detail: str


def linked_accounts(*, member: User) -> list[User]:
    """Other accounts sharing a device or a payment card with `member` (one query, at most 100), by signal.

    Here rather than in accounts.selectors: the card half reads the orders app, above accounts."""
    devices = AccountDevice.objects.filter(user=member).values("device_id")
    card_prints = PaymentCard.objects.filter(user=member).values("fingerprint")
    # The candidates come from the device and card indexes (a UNION of user ids), not from a walk over every
    # member in join order testing each one (300,000 members: 300 ms).
    sharing = (
        AccountDevice.objects.filter(device_id__in=devices)
        .values("user_id")
        .union(PaymentCard.objects.filter(fingerprint__in=card_prints).values("user_id"))
    )
    return list(
        User.objects.filter(pk__in=sharing)
        .exclude(pk=member.pk)
        .annotate(
            shares_device=Exists(AccountDevice.objects.filter(user=OuterRef("pk"), device_id__in=devices)),
            shares_card=Exists(PaymentCard.objects.filter(user=OuterRef("pk"), fingerprint__in=card_prints)),
        )
        .filter(Q(shares_device=True) | Q(shares_card=True))
        .order_by("-date_joined")[:100]
    )


def readiness(*, member: User, region, code: ReferralCode | None) -> list[ReadinessItem]:
    """What stands between the member and a link that earns (docs/program-rules.md sections 2 and 9)."""
    items = []
    if member.status == AccountStatus.ACTIVE:
        items.append(ReadinessItem(True, _("Account in good standing"), _("Active.")))
    else:
        items.append(
            ReadinessItem(
                False,
                _("Account %(status)s") % {"status": member.get_status_display().lower()},
                _("Reason code %(code)s. Every program page shows the member only: “%(sentence)s”")
                % {"code": member.status_reason or "—", "sentence": FLAGGED_MESSAGE},
            )
        )
    if member.phone_verified_at:
        items.append(ReadinessItem(True, _("Phone verified"), member.phone))
    else:
        items.append(
            ReadinessItem(
                False,
                _("Phone not verified"),
                _("Friends who sign up through the link are not referrals (REFERRER_INACTIVE) until it is."),
            )
        )
    if region.is_in_program:
        items.append(ReadinessItem(True, _("Country in the program"), str(member.country.name)))
    else:
        items.append(
            ReadinessItem(
                False,
                _("Country outside the program"),
                _("%(country)s does not take part: the link earns nothing (REGION_RESTRICTED).")
                % {"country": member.country.name},
            )
        )
    if code is None:
        items.append(ReadinessItem(True, _("Referral code"), _("Made the first time the member opens Invite Friends.")))
    elif code.is_active:
        items.append(ReadinessItem(True, _("Referral code active"), code.code))
    else:
        items.append(ReadinessItem(False, _("Referral code disabled"), code.code))
    return items


def _figures(*, member: User, region, now: datetime) -> dict:
    """The numbers the member's own pages show, from the selectors those pages use."""
    tab_counts = cards.tab_counts(member=member)
    return {
        "progress": meter.monthly_progress(member=member, now=now, region=region),
        "earnings": meter.referral_earnings(member=member),
        "tab_counts": tab_counts,
        "tabs": [(key, label, tab_counts[key]) for key, (label, _states) in cards.TABS.items()],
        "funnel": funnel.channel_funnel(member=member).total,
    }


def member_page_context(*, request: HttpRequest, member: User, now: datetime) -> dict:
    """Everything the member page shows; a fixed number of queries whatever the member's history."""
    user = request.user
    region = region_for_country(str(member.country))
    code = ReferralCode.objects.filter(user=member).first()
    made = (
        Referral.objects.filter(referrer=member)
        .select_related("friend")
        .prefetch_related(timeline_prefetch())
        .order_by("-registered_at", "-id")
    )
    received = (
        Referral.objects.filter(friend=member).select_related("referrer").prefetch_related(timeline_prefetch()).first()
    )
    coupons = Coupon.objects.filter(owner=member).select_related("store").order_by("-issued_at", "-id")
    ledger = (
        LedgerEntry.objects.filter(member=member)
        .select_related("actor", "coupon")
        .order_by("-created_at", "-id")[:LIST_LIMIT]
    )
    devices = (
        AccountDevice.objects.filter(user=member)
        .select_related("device")
        .annotate(accounts_on_device=Count("device__account_devices"))
        .order_by("-last_seen_at")[:LIST_LIMIT]
    )
    audit = (
        AuditLog.objects.filter(target_type=member._meta.label_lower, target_id=str(member.pk))
        .select_related("actor")
        .order_by("-created_at", "-id")[:AUDIT_LIMIT]
    )
    requests = SupportRequest.objects.filter(member=member).select_related("referral").order_by("-created_at")
    can = {
        "view_referrals": user.has_perm("referrals.view_referral"),
        "view_devices": user.has_perm("accounts.view_accountdevice"),
        "void": user.has_perm("accounts.void_coupon"),
        "flag": user.has_perm("accounts.flag_member"),
        "view_requests": user.has_perm("support.view_supportrequest"),
        "view_audit": user.has_perm("support.view_auditlog"),
        "edit_raw": user.is_superuser,
    }
    made_list = list(made[: LIST_LIMIT + 1])
    coupon_list = list(coupons[: LIST_LIMIT + 1])
    return {
        "member": member,
        "region": region,
        "code": code,
        "readiness": readiness(member=member, region=region, code=code),
        **_figures(member=member, region=region, now=now),
        "referrals_made": [(r, staff_label(r.reason_code) if r.reason_code else "") for r in made_list[:LIST_LIMIT]],
        "referrals_made_more": len(made_list) > LIST_LIMIT,
        "referrals_made_url": reverse("admin:referrals_referral_changelist") + f"?referrer__exact={member.pk}",
        "referral_received": received,
        "referral_received_reason": staff_label(received.reason_code) if received and received.reason_code else "",
        "coupons": coupon_list[:LIST_LIMIT],
        "coupons_more": len(coupon_list) > LIST_LIMIT,
        "ledger": list(ledger),
        "devices": list(devices),
        "linked": linked_accounts(member=member) if can["view_devices"] else [],
        "behaviour": render_behaviour(member) if can["view_referrals"] else "",
        "support_requests": list(requests[:LIST_LIMIT]) if can["view_requests"] else [],
        "audit": list(audit),
        "can": can,
        "actions": _action_links(member=member, can_flag=can["flag"]),
    }


def _action_links(*, member: User, can_flag: bool) -> list[tuple[str, str]]:
    """The audited status actions that apply to this member now: (label, URL of its reason form)."""
    if not can_flag:
        return []
    names = []
    if member.status == AccountStatus.ACTIVE:
        names += [("flag_for_review", _("Flag for review…")), ("suspend", _("Suspend…"))]
    elif member.status == AccountStatus.FLAGGED:
        names += [("clear_flags", _("Clear flag…")), ("suspend", _("Suspend…"))]
    else:
        names += [("reactivate_accounts", _("Reactivate…"))]
    return [(label, reverse("admin:accounts_user_act", args=[member.pk, name])) for name, label in names]
