"""What the link, landing and sign-up pages and the eligibility service read."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from referrals.codes import looks_valid, normalize_code
from referrals.models import Referral, ReferralCode
from referrals.reasons import ReferralState

RECENT_SIGHTINGS = timedelta(days=30)


def usable_code(raw: str) -> ReferralCode | None:
    """The active code of a member who is not flagged, with its member; one query (none for garbage).

    Unknown, disabled and flagged codes all answer None, so callers cannot tell them apart.
    """
    code = normalize_code(raw)
    if not looks_valid(code):
        return None
    return (
        ReferralCode.objects.select_related("user")
        .filter(code=code, is_active=True)
        .exclude(user__status="flagged")
        .first()
    )


def program_participants() -> Q:
    """Filter on users: taking part in the program as friend or referrer of a referral not rejected."""
    live = Referral.objects.exclude(state=ReferralState.REJECTED)
    return Q(pk__in=live.values("friend_id")) | Q(pk__in=live.values("referrer_id"))


def signup_facts(
    *, friend, referrer, device_hash: str, ip_hash: str, ip_country: str, user_agent: str, arrived_at: datetime
):
    """Gather everything `referrals.eligibility.decide` needs about one sign-up (a fixed number of queries)."""
    import phonenumbers

    from accounts.models import AccountDevice, IPSighting, User
    from accounts.selectors import region_for_country
    from orders.models import PaymentCard
    from referrals.eligibility import AccountFacts, SignupFacts

    def account(user) -> AccountFacts:
        return AccountFacts(
            user_id=user.pk,
            country=str(user.country),
            status=user.status,
            email_normalized=user.email_normalized,
            phone=user.phone,
            phone_verified=user.phone_verified_at is not None,
            region_in_program=region_for_country(str(user.country)).is_in_program,
            device_hashes=frozenset(AccountDevice.objects.filter(user=user).values_list("device__id_hash", flat=True)),
            card_fingerprints=frozenset(PaymentCard.objects.filter(user=user).values_list("fingerprint", flat=True)),
        )

    friend_facts = account(friend)
    referrer_facts = account(referrer) if referrer is not None else None
    others = User.objects.exclude(pk=friend.pk)
    if referrer is not None:
        # The referrer sharing a signal is SELF_REFERRAL, not ALREADY_REGISTERED.
        others = others.exclude(pk=referrer.pk)

    phone_country = ""
    if friend.phone:
        try:
            phone_country = phonenumbers.region_code_for_number(phonenumbers.parse(friend.phone)) or ""
        except phonenumbers.NumberParseException:
            phone_country = ""

    on_device = User.objects.exclude(pk=friend.pk)
    participants = program_participants()
    since = timezone.now() - RECENT_SIGHTINGS
    referrer_sightings = (
        IPSighting.objects.filter(user=referrer, ip_hash=ip_hash, seen_at__gte=since)
        if referrer is not None and ip_hash
        else IPSighting.objects.none()
    )
    return SignupFacts(
        friend=friend_facts,
        referrer=referrer_facts,
        device_hash=device_hash,
        ip_hash=ip_hash,
        ip_country=ip_country,
        user_agent=user_agent,
        phone_country=phone_country,
        accounts_with_email=others.filter(email_normalized=friend.email_normalized).count(),
        accounts_with_phone=others.filter(phone=friend.phone).count() if friend.phone else 0,
        accounts_with_card=(
            others.filter(payment_cards__fingerprint__in=friend_facts.card_fingerprints).distinct().count()
            if friend_facts.card_fingerprints
            else 0
        ),
        device_non_program_accounts=(
            on_device.filter(
                account_devices__device__id_hash=device_hash, account_devices__first_seen_at__lt=arrived_at
            )
            .exclude(participants)
            .distinct()
            .count()
            if device_hash
            else 0
        ),
        device_program_accounts=(
            on_device.filter(participants, account_devices__device__id_hash=device_hash).distinct().count()
            if device_hash
            else 0
        ),
        referrer_shares_ip=referrer_sightings.exists(),
        referrer_shares_ip_and_agent=bool(user_agent) and referrer_sightings.filter(user_agent=user_agent).exists(),
        ip_signups_last_day=(
            IPSighting.objects.filter(kind="signup", ip_hash=ip_hash, seen_at__gte=timezone.now() - timedelta(days=1))
            .exclude(user=None)
            .values("user")
            .distinct()
            .count()
            if ip_hash
            else 0
        ),
    )


def inviter_name(*, request, typed_code: str = "") -> str:
    """First name of the member whose invitation a sign-up would use ("" when none): typed code wins."""
    from referrals.services.attribution import read_attribution

    code = usable_code(typed_code) if typed_code else None
    if code is None:
        attribution = read_attribution(request)
        code = usable_code(attribution.code) if attribution else None
    return code.user.first_name if code else ""


def device_has_account(*, device_id: str) -> bool:
    """Whether any account was already seen on this browser's device cookie."""
    from accounts.identity import keyed_hash
    from accounts.models import AccountDevice

    if not device_id:
        return False
    return AccountDevice.objects.filter(device__id_hash=keyed_hash(device_id, purpose="device")).exists()
