"""Accounts on one device that refer each other are all flagged (docs/program-rules.md section 6).

Called by `register_referral` when a friend signs up on a device the referrer has used
(same device cookie): the friend, the referrer and every other pair of accounts seen on
that device and linked by a referral (in either direction, any state) are flagged with
DEVICE_RING through `accounts.services.flag_account`, each with an automatic audit row
(no actor) naming the device by its hash prefix. Staff clear flags in the member admin.

The audit log is support's, and support sits above referrals: the result lists each flag with its audit
row's content (`RingResult.flags`), and the sign-up flow (`flows.signup.register_referral`) writes the rows
through support in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from accounts.models import AccountDevice, AccountStatus, StatusReason, User
from accounts.services import flag_account
from referrals.models import Referral

logger = logging.getLogger(__name__)

# Enough referral rows to show staff the ring; a device holds at most a handful of program accounts.
RING_REFERRALS_SHOWN = 50
AUDIT_ACTION = "member.flag"


@dataclass(frozen=True)
class RingFlag:
    """One account flagged now, with the content of its automatic (actor-less) audit row."""

    member: User
    reason: str
    details: dict
    action: str = AUDIT_ACTION


@dataclass(frozen=True)
class RingResult:
    """Who was flagged now, who was left as they were (already flagged or suspended), and why."""

    device: str  # the device's hash prefix, as shown to staff
    referral_ids: tuple[int, ...]
    flagged: tuple[int, ...] = ()
    unchanged: tuple[int, ...] = ()
    flags: tuple[RingFlag, ...] = ()

    def as_signals(self) -> dict:
        return {
            "device": self.device,
            "referral_ids": list(self.referral_ids),
            "flagged_account_ids": list(self.flagged),
            "already_flagged_or_suspended_ids": list(self.unchanged),
        }


@transaction.atomic
def flag_device_ring(*, device_hash: str, referral: Referral) -> RingResult:
    """Flag (DEVICE_RING) every active account on `device_hash` linked to another one there by a referral.

    `referral` is the sign-up that revealed the ring (its friend and referrer are always part of it).
    Safe to call again: accounts already flagged or suspended keep their status and reason, and only
    accounts whose status changed get an audit row.
    """
    on_device = AccountDevice.objects.filter(device__id_hash=device_hash).values("user_id")
    links = list(
        Referral.objects.filter(referrer_id__in=on_device, friend_id__in=on_device)
        .order_by("pk")
        .values_list("pk", "referrer_id", "friend_id")[:RING_REFERRALS_SHOWN]
    )
    referral_ids = sorted({pk for pk, _, _ in links} | {referral.pk})
    account_ids = {referral.referrer_id, referral.friend_id}
    for _, referrer_id, friend_id in links:
        account_ids.update((referrer_id, friend_id))
    prefix = device_hash[:12]

    # Locked in id order, so two sign-ups revealing overlapping rings cannot deadlock.
    users = list(User.objects.select_for_update().filter(pk__in=account_ids).order_by("pk"))
    # Callers hold these objects (the view tells the friend from `referral.friend`): keep them current.
    known = {referral.referrer_id: referral.referrer, referral.friend_id: referral.friend}
    flagged: list[int] = []
    unchanged: list[int] = []
    flags: list[RingFlag] = []
    for locked in users:
        if locked.status != AccountStatus.ACTIVE:
            unchanged.append(locked.pk)
            continue
        user = known.get(locked.pk, locked)
        flag_account(member=user, reason_code=StatusReason.DEVICE_RING, actor=None)
        flagged.append(locked.pk)
        others = ", ".join(f"#{pk}" for pk in sorted(account_ids - {locked.pk}))
        flags.append(
            RingFlag(
                member=user,
                reason=(
                    f"Automatic: accounts on device {prefix}… refer each other (DEVICE_RING); "
                    f"linked accounts {others}; found at the sign-up of referral #{referral.pk}."
                ),
                details={
                    "automatic": True,
                    "status": AccountStatus.FLAGGED,
                    "reason_code": StatusReason.DEVICE_RING,
                    "device": prefix,
                    "referral_ids": referral_ids,
                    "linked_account_ids": sorted(account_ids - {locked.pk}),
                    "trigger_referral_id": referral.pk,
                },
            )
        )
    if flagged:
        logger.warning(
            "device ring on %s…: flagged %s (unchanged %s), referrals %s", prefix, flagged, unchanged, referral_ids
        )
    return RingResult(
        device=prefix,
        referral_ids=tuple(referral_ids),
        flagged=tuple(flagged),
        unchanged=tuple(unchanged),
        flags=tuple(flags),
    )
