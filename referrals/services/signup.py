"""A friend's sign-up: bind to one code forever, decide eligibility, welcome package."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.identity import ip_country, keyed_hash
from accounts.locales import as_member
from accounts.models import Device, User
from accounts.notify import notify
from coupons.services import issue_coupon
from lib.client import ClientInfo
from lib.errors import DomainError
from referrals.eligibility import decide, welcome_package_due
from referrals.models import Channel, Click, Referral, ReferralCode
from referrals.reasons import ReferralState
from referrals.selectors.cards import mask_name
from referrals.selectors.facts import signup_facts
from referrals.selectors.links import usable_code
from referrals.services.attribution import Attribution
from referrals.services.device_ring import RingResult, flag_device_ring
from referrals.services.timeline import record_start
from referrals.terms import referral_terms, snapshot_for

logger = logging.getLogger(__name__)

_STATE_FOR_OUTCOME = {
    "allowed": ReferralState.REGISTERED,
    "under_review": ReferralState.UNDER_REVIEW,
    "rejected": ReferralState.REJECTED,
}


class WelcomePackageNotDue(DomainError):
    """The referral is under review, or rejected on the friend's side: no welcome package (approve it first)."""

    code = "WELCOME_PACKAGE_NOT_DUE"


def _bound_code(
    *, attribution: Attribution | None, typed_code: str
) -> tuple[ReferralCode | None, Click | None, str, Attribution | None]:
    """Which code the friend joins with: a typed code wins over the attribution cookie (last click)."""
    code = usable_code(typed_code) if typed_code else None
    if code is not None and (attribution is None or attribution.code != code.code):
        return code, None, Channel.TYPED, None
    if attribution is None:
        return None, None, "", None
    if code is None:
        # A referrer flagged after the click is still bound (and rejected ACCOUNT_FLAGGED, for staff);
        # a code disabled since then no longer refers anyone.
        code = ReferralCode.objects.select_related("user").filter(code=attribution.code, is_active=True).first()
        if code is None:
            return None, None, "", None
    click = Click.objects.filter(pk=attribution.click_id, referral_code=code).first() if attribution.click_id else None
    return code, click, (click.channel if click else Channel.OTHER), attribution


@dataclass(frozen=True)
class SignupResult:
    """The friend's referral (None: no code bound), and the device ring this sign-up revealed, if any: its
    flags carry the audit rows the sign-up flow writes (flows.signup)."""

    referral: Referral | None
    ring: RingResult | None = None


def register_referral(
    *, friend: User, client: ClientInfo, attribution: Attribution | None, typed_code: str = ""
) -> SignupResult:
    """Bind a new member to at most one referral code, forever, with the eligibility decision and its signals.

    1. the code: typed at sign-up, else the attribution cookie's (30 days, last click wins; read by the view
       with `referrals.cookies.read_attribution`); none → None;
    2. under a row lock on the friend's Device (so two sign-ups cannot both take a device's last slot),
       gather the facts, apply `referrals.eligibility.decide`, create the Referral and its first timeline row;
       a friend on the referrer's own device flags the device's ring (`services.device_ring`) in the same transaction;
    3. not rejected → notify the referrer; allowed, or rejected on the referrer's side only → issue the
       welcome package (`referrals.eligibility.welcome_package_due`).
    Calling it again for the same friend returns the existing referral and changes nothing.
    """
    existing = Referral.objects.filter(friend=friend).first()
    if existing is not None:
        return SignupResult(existing)
    code, click, channel, attribution = _bound_code(attribution=attribution, typed_code=typed_code)
    if code is None or code.user_id == friend.pk:
        return SignupResult(None)
    ring = None

    device_hash = keyed_hash(client.device_id, purpose="device") if client.device_id else ""
    ip = client.ip
    if click is not None:
        arrived_at = click.clicked_at
    elif attribution is not None:
        arrived_at = attribution.clicked_at
    else:
        arrived_at = friend.date_joined

    with transaction.atomic():
        if device_hash:
            # Serialises sign-ups on one device: the count below sees every committed referral.
            list(Device.objects.select_for_update().filter(id_hash=device_hash).values_list("pk", flat=True))
        facts = signup_facts(
            friend=friend,
            referrer=code.user,
            device_hash=device_hash,
            ip_hash=keyed_hash(ip, purpose="ip") if ip else "",
            ip_country=ip_country(ip) if ip else "",
            user_agent=client.user_agent[:300],
            arrived_at=arrived_at,
        )
        decision = decide(facts)
        # decide() answers None only without a referrer; here the referrer is the code's owner, never None.
        assert decision is not None
        state = _STATE_FOR_OUTCOME[decision.outcome]
        now = timezone.now()
        try:
            with transaction.atomic():
                referral = Referral.objects.create(
                    referrer=code.user,
                    friend=friend,
                    code=code,
                    channel=channel,
                    click=click,
                    state=state,
                    reason_code=decision.reason_code,
                    signals=decision.signals,
                    # What this invitation promises, frozen now (docs/program-rules.md section 7).
                    terms=snapshot_for(
                        friend_country=str(friend.country), referrer_country=str(code.user.country), at=now
                    ),
                    review_requested_at=now if state == ReferralState.UNDER_REVIEW else None,
                    decided_at=now if state == ReferralState.REJECTED else None,
                )
        except IntegrityError:
            # The same friend registered twice at once: the first referral stands.
            return SignupResult(Referral.objects.get(friend=friend))
        note = f"Joined via {referral.get_channel_display()}"
        if decision.signals["checks"]["same_device_as_referrer"]:
            # The friend signed up on the referrer's device: the accounts on it that refer each other are
            # all flagged (docs/program-rules.md section 6), in this transaction, with the ring kept for staff.
            ring = flag_device_ring(device_hash=device_hash, referral=referral)
            referral.signals = {**referral.signals, "device_ring": ring.as_signals()}
            Referral.objects.filter(pk=referral.pk).update(signals=referral.signals)
            flagged = ", ".join(f"#{pk}" for pk in ring.flagged) or "none (already flagged or suspended)"
            note += (
                f". Device {ring.device}… shared with the referrer: "
                f"accounts flagged automatically (DEVICE_RING): {flagged}"
            )
        record_start(referral=referral, note=note)
        if state != ReferralState.REJECTED:
            with as_member(code.user):  # the referrer's language, not the friend's
                title = _("A friend joined with your link")
                body = _(
                    "%(friend)s signed up with your invitation. You get a coupon when their first order completes."
                ) % {"friend": mask_name(friend.first_name, friend.last_name)}
            notify(
                member=code.user,
                kind="friend_joined",
                title=title,
                body=body,
                link="/invite/",
                dedupe_key=f"friend-joined:{referral.pk}",
            )
        if welcome_package_due(state=state, signals=referral.signals):
            issue_welcome_package(referral=referral)
    logger.info(
        "referral %s: friend=%s referrer=%s state=%s reason=%s",
        referral.pk,
        friend.pk,
        code.user_id,
        state,
        decision.reason_code or "-",
    )
    return SignupResult(referral, ring)


@transaction.atomic
def issue_welcome_package(*, referral: Referral) -> list:
    """Issue the welcome coupons promised at sign-up (the referral's frozen terms) once per referral; safe to call
    again."""
    if not welcome_package_due(state=referral.state, signals=referral.signals):
        raise WelcomePackageNotDue(f"referral {referral.pk} is {referral.state}")
    friend = referral.friend
    welcome = referral_terms(referral).welcome
    coupons = []
    for i, item in enumerate(welcome.package.items):
        coupons.append(
            issue_coupon(
                member=friend,
                source="welcome",
                kind="platform",
                welcome_for=referral,
                value=item.value,
                min_spend=item.min_spend,
                currency=welcome.currency,
                valid_days=welcome.coupon_valid_days,
                idempotency_key=f"welcome:{referral.pk}:{i}",
                reason="Welcome package",
                title="Welcome coupon",
            )
        )
    return coupons
