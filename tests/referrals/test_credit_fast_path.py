"""The PostgreSQL credit path (`referrals_credit_referral`, migration 0014) writes what the ORM path writes.

`credit_referral` runs the function on PostgreSQL and `credit_referral_orm` (the set-of-one sweep code) elsewhere.
Each case runs the ORM path in a savepoint, records every row it wrote, rolls it back, then runs the function on
the same rows at the same instant and compares: if the function and the models or rules drift apart (a new column,
a changed note, a new notice) these tests fail. Concurrency (the limit exact, one reward per referral) is tested
on PostgreSQL through `credit_referral` itself in tests/referrals/test_crediting.py and test_milestones_concurrency.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.db import transaction
from django.forms.models import model_to_dict

from accounts.models import Notification, Region
from coupons.models import Coupon, LedgerEntry
from ops.models import OutboxMessage
from ops.services.outbox import relay
from referrals.models import MilestoneAward, MonthlyRewardCounter, QuarterCreditCounter, Referral, ReferralEvent
from referrals.reasons import ReferralState
from referrals.services.crediting import credit_referral, credit_referral_orm
from tests.factories import MilestoneTierFactory, OrderFactory, ReferralFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

WHEN = datetime(2026, 12, 31, 23, 30, 15, 123456, tzinfo=UTC)  # a month and quarter boundary in most zones


class Rollback(Exception):
    pass


def _coupon_ids(text: str) -> str:
    return re.sub(r"#\d+", "#<id>", text)


def written(referrer_ids: list[int]) -> dict:
    """Every row crediting writes for these referrers, without primary keys (coupon ids in notes masked)."""
    coupons = {c.pk: i for i, c in enumerate(Coupon.objects.filter(owner_id__in=referrer_ids).order_by("pk"))}
    return {
        "coupons": [model_to_dict(c, exclude=["id"]) for c in Coupon.objects.filter(pk__in=coupons).order_by("pk")],
        "ledger": [
            {**model_to_dict(e, exclude=["id", "coupon"]), "coupon": coupons.get(e.coupon_id)}
            for e in LedgerEntry.objects.filter(member_id__in=referrer_ids).order_by("pk")
        ],
        "referrals": [
            model_to_dict(r, exclude=["id"])
            for r in Referral.objects.filter(referrer_id__in=referrer_ids).order_by("pk")
        ],
        "timeline": [
            {**model_to_dict(e, exclude=["id"]), "note": _coupon_ids(e.note)}
            for e in ReferralEvent.objects.filter(referral__referrer_id__in=referrer_ids).order_by("pk")
        ],
        "month counters": list(
            MonthlyRewardCounter.objects.filter(referrer_id__in=referrer_ids).values("referrer", "month", "count")
        ),
        "quarter counters": list(
            QuarterCreditCounter.objects.filter(referrer_id__in=referrer_ids).values("referrer", "quarter", "count")
        ),
        "awards": [
            model_to_dict(a, exclude=["id", "coupon"])
            for a in MilestoneAward.objects.filter(referrer_id__in=referrer_ids).order_by("pk")
        ],
        "notices": [
            {**model_to_dict(n, exclude=["id"]), "dedupe_key": re.sub(r"milestone:\d+", "milestone:<id>", n.dedupe_key)}
            for n in Notification.objects.filter(user_id__in=referrer_ids).order_by("pk")
        ],
        # A single notice's e-mail names its row (a sequence value): only its target is compared.
        "outbox": [
            (m.kind, m.target, m.args if m.target != "accounts.notify.email_notice" else "<id>")
            for m in OutboxMessage.objects.order_by("pk")
        ],
    }


def both_paths(referral_ids: list[int], referrer_ids: list[int]) -> tuple[tuple, tuple]:
    """(outcomes, rows) of the ORM path (rolled back) and of the function, at the same instant."""
    with time_machine.travel(WHEN, tick=False):
        before_outbox = set(OutboxMessage.objects.values_list("pk", flat=True))
        try:
            with transaction.atomic():
                by_orm = [credit_referral_orm(referral_id=pk) for pk in referral_ids]
                orm_rows = written(referrer_ids)
                raise Rollback
        except Rollback:
            pass
        assert set(OutboxMessage.objects.values_list("pk", flat=True)) == before_outbox  # really rolled back
        by_function = [credit_referral(referral_id=pk) for pk in referral_ids]
        return (by_orm, orm_rows), (by_function, written(referrer_ids))


def qualified(referrer, *, due_at=WHEN - timedelta(hours=1), **fields):
    referral = ReferralFactory(
        referrer=referrer, state=ReferralState.QUALIFIED, completed_at=due_at, credit_due_at=due_at, **fields
    )
    referral.first_order = OrderFactory(buyer=referral.friend, completed_at=due_at, state="completed")
    referral.save(update_fields=["first_order"])
    return referral


def assert_same(referral_ids, referrer_ids):
    orm, function = both_paths(referral_ids, referrer_ids)
    assert function[0] == orm[0]
    for kind in orm[1]:
        assert function[1][kind] == orm[1][kind], kind
    return function


def test_credits_and_the_tenth_sends_the_limit_notice_then_caps_like_the_orm_path():
    referrer = UserFactory(language="de", country="DE")
    referrals = [qualified(referrer, friend=UserFactory(first_name=f"Jo{n}", last_name="Smith")) for n in range(12)]
    outcomes, rows = assert_same([r.pk for r in referrals], [referrer.pk])
    assert outcomes == ["credited"] * 10 + ["capped"] * 2
    assert {n["kind"] for n in rows["notices"]} == {"referral_credited", "referral_monthly_limit"}


def test_frozen_terms_in_another_time_zone_and_the_regions_terms_without_a_snapshot():
    Region.objects.update_or_create(
        country="NZ",
        defaults={
            "name": "New Zealand",
            "currency": "NZD",
            "reward_amount": Decimal("7.50"),
            "reward_min_spend": Decimal("25.00"),
            "coupon_valid_days": 14,
            "monthly_limit": 3,
            "time_zone": "Pacific/Auckland",
        },
    )
    frozen = UserFactory(country="NZ", language="fr")
    bare = UserFactory(country="NZ", language="en")
    with_terms = [qualified(frozen) for _ in range(4)]
    without = [qualified(bare) for _ in range(2)]
    Referral.objects.filter(pk__in=[r.pk for r in without]).update(terms={})
    outcomes, rows = assert_same([r.pk for r in with_terms + without], [frozen.pk, bare.pk])
    assert "capped" in outcomes
    assert {c["currency"] for c in rows["coupons"]} == {"NZD"}


def test_a_milestone_reached_is_issued_like_the_orm_path():
    MilestoneTierFactory(friends=2, value=Decimal("10.00"), min_spend=Decimal("30.00"))
    MilestoneTierFactory(friends=3, is_active=False)
    referrer = UserFactory()
    referrals = [qualified(referrer, friend=UserFactory(first_name="", last_name="")) for _ in range(3)]
    _outcomes, rows = assert_same([r.pk for r in referrals], [referrer.pk])
    assert len(rows["awards"]) == 1


def test_nothing_to_do_answers_like_the_orm_path():
    referrer = UserFactory()
    later = qualified(referrer, due_at=WHEN + timedelta(minutes=5))
    voided = qualified(referrer)
    Referral.objects.filter(pk=voided.pk).update(state=ReferralState.VOIDED, reason_code="FIRST_ORDER_REFUNDED")
    outcomes, rows = assert_same([later.pk, voided.pk, 0], [referrer.pk])
    assert outcomes == ["qualified", "voided", ""]
    assert not rows["coupons"] and not rows["notices"]


def test_the_credits_e_mail_is_left_to_the_relay_which_sends_it(django_capture_on_commit_callbacks, mailoutbox):
    """The credit task publishes nothing itself (the relay's next pass, seconds later, merges the e-mail rows of
    many credits into one message): the notice is written with the credit, its e-mail row waits, and the relay's
    message e-mails it."""
    from accounts.tasks import email_notices  # the task the relay publishes

    referrer = UserFactory()
    referral = qualified(referrer)
    with mock.patch("ops.services.outbox.publish_task") as publish:
        with django_capture_on_commit_callbacks(execute=True), time_machine.travel(WHEN, tick=False):
            assert credit_referral(referral_id=referral.pk) == "credited"
        publish.assert_not_called()
        row = OutboxMessage.objects.get(target="accounts.tasks.email_notices")
        assert row.dispatched_at is None
        with time_machine.travel(WHEN + timedelta(seconds=10), tick=False):  # the relay's next pass
            assert relay() == {"dispatched": 1}
        [(name, [keys])] = [call.args for call in publish.call_args_list]
    assert name == "accounts.tasks.email_notices" and keys == row.args[0]
    email_notices(keys)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [referrer.email]
