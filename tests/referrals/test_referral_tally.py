"""Kept referral counts (the referral_tally migration, `services.tallies`, docs/performance.md "Kept referral counts"):
whatever writes referrals — services, the credit function and sweep, queryset.update(), bulk_update, deletes, a
member deleted — the counts summed from `ReferralTally` equal `funnel.REFERRAL_COUNTS` counted over the referrals,
before and after any compaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta
from importlib import import_module
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from coupons.models import LedgerEntry
from lib import sqlonce
from referral_portal.celery import app
from referrals import tasks
from referrals.models import Channel, Referral, ReferralTally
from referrals.reasons import ReasonCode, ReferralState
from referrals.selectors.funnel import REFERRAL_COUNTS, by_channel_and_state, kept_by_channel_and_state
from referrals.selectors.tallies import referral_tallies
from referrals.services import approve_review, credit_due_referrals, credit_referral, reject_review
from referrals.services.tallies import (
    Compaction,
    compact_referral_tallies,
    rebuild_referral_tallies,
    tally_mismatches,
)
from tests.factories import ReferralCodeFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

# Found by name: the migration is renumbered when branches meet.
MIGRATIONS = Path(__file__).resolve().parents[2] / "referrals" / "migrations"
MIGRATION = import_module(f"referrals.migrations.{next(MIGRATIONS.glob('*_referral_tally.py')).stem}")
CHANNELS = [Channel.WHATSAPP, Channel.EMAIL, Channel.TYPED]


def kept_groups() -> dict[tuple, tuple[int, int, int]]:
    """Every referrer's kept counts per (referrer, channel, state); all-zero groups left out."""
    rows = (
        ReferralTally.objects.values("referrer_id", "channel", "state")
        .annotate(n_sum=Sum("n"), ordered_sum=Sum("ordered"), already_sum=Sum("already"))
        .values_list("referrer_id", "channel", "state", "n_sum", "ordered_sum", "already_sum")
    )
    return {tuple(row[:3]): tuple(row[3:]) for row in rows if any(row[3:])}


def counted_groups() -> dict[tuple, tuple[int, int, int]]:
    """The same counted over the referrals with `REFERRAL_COUNTS` (the reference)."""
    rows = (
        Referral.objects.values("referrer_id", "channel", "state")
        .annotate(**REFERRAL_COUNTS)
        .order_by()
        .values_list("referrer_id", "channel", "state", *REFERRAL_COUNTS)
    )
    return {tuple(row[:3]): tuple(row[3:]) for row in rows}


def assert_exact(referrer_ids=()) -> None:
    assert kept_groups() == counted_groups()
    for member_id in referrer_ids:  # the page's own read, through lib.sqlonce
        kept = sorted(sqlonce.rows(kept_by_channel_and_state, member_id))
        assert kept == sorted(tuple(row) for row in by_channel_and_state(member_id))


def test_the_triggers_count_what_referral_counts_counts():
    """Every combination the two predicates (`ordered`, `already`) read, written, then changed one input at a time."""
    referrer = UserFactory(phone_verified=True)
    now = timezone.now()
    made = [ReferralFactory(referrer=referrer, channel=Channel.EMAIL)]
    for reason in [ReasonCode.ALREADY_REGISTERED, ReasonCode.DEVICE_LIMIT]:
        for placed in [None, now]:
            for completed in [None, now]:
                made.append(
                    ReferralFactory(
                        referrer=referrer,
                        channel=Channel.WHATSAPP,
                        state=ReferralState.REJECTED,
                        reason_code=reason,
                        order_placed_at=placed,
                        completed_at=completed,
                    )
                )
    assert kept_groups() == {
        (referrer.pk, Channel.EMAIL, ReferralState.REGISTERED): (1, 0, 0),
        (referrer.pk, Channel.WHATSAPP, ReferralState.REJECTED): (8, 6, 4),
    }
    assert_exact([referrer.pk])
    for referral in made:
        is_already = referral.reason_code == ReasonCode.ALREADY_REGISTERED
        referral.reason_code = ReasonCode.SHARED_IP if is_already else ReasonCode.ALREADY_REGISTERED
        referral.save()
        assert_exact([referrer.pk])
        referral.completed_at = None if referral.completed_at else now
        referral.save()
        assert_exact([referrer.pk])
        referral.order_placed_at = None if referral.order_placed_at else now
        referral.save()
        assert_exact([referrer.pk])
    compact_referral_tallies()
    assert_exact([referrer.pk])


def test_an_update_that_moves_no_count_writes_no_row():
    referral = ReferralFactory(state=ReferralState.REGISTERED)
    rows = ReferralTally.objects.count()
    Referral.objects.filter(pk=referral.pk).update(signals={"x": 1}, registered_at=timezone.now())
    referral.order_placed_at = timezone.now()
    referral.save(update_fields=["order_placed_at"])  # ordered: 0 -> 1
    referral.completed_at = timezone.now()
    referral.save()  # still ordered
    assert ReferralTally.objects.count() == rows + (1 if connection.vendor == "postgresql" else 2)
    assert_exact([referral.referrer_id])


def test_an_upsert_counts_its_inserts_and_its_updates():
    """bulk_create(update_conflicts=True): INSERT … ON CONFLICT DO UPDATE fires the insert and the update triggers."""
    old = ReferralFactory(state=ReferralState.REGISTERED, channel=Channel.EMAIL)
    new = ReferralFactory.build(code=old.code, referrer=old.referrer, friend=UserFactory(), channel=Channel.QR)
    again = ReferralFactory.build(
        code=old.code, referrer=old.referrer, friend=old.friend, channel=Channel.QR, state=ReferralState.UNDER_REVIEW
    )
    Referral.objects.bulk_create(
        [new, again], update_conflicts=True, unique_fields=["friend"], update_fields=["channel", "state"]
    )
    assert Referral.objects.filter(referrer=old.referrer).count() == 2
    assert_exact([old.referrer_id])


def test_the_page_reads_the_kept_rows():
    """Invite Friends' tab counts and funnel come from the tally, not from counting the referrals."""
    referral = ReferralFactory(state=ReferralState.REGISTERED, channel=Channel.EMAIL)
    member = referral.referrer
    assert referral_tallies(member=member).tabs["all"] == 1
    ReferralTally.objects.create(
        referrer=member, channel=Channel.EMAIL, state=ReferralState.REGISTERED, n=41, ordered=0, already=0
    )
    tallies = referral_tallies(member=member)
    assert tallies.tabs["all"] == 42
    assert [(c.channel, c.n) for c in tallies.channels] == [(Channel.EMAIL, 42)]


def test_compaction_leaves_one_row_per_group_drops_zero_groups_and_repeats_as_a_no_op():
    referrer = UserFactory(phone_verified=True)
    kept = ReferralFactory.create_batch(3, referrer=referrer, channel=Channel.EMAIL)
    gone = ReferralFactory.create_batch(2, referrer=referrer, channel=Channel.QR)
    Referral.objects.filter(pk=kept[0].pk).update(state=ReferralState.UNDER_REVIEW)
    Referral.objects.filter(pk=kept[0].pk).update(state=ReferralState.REGISTERED)  # back: +1 and -1 rows
    Referral.objects.filter(pk__in=[r.pk for r in gone]).delete()
    other = ReferralFactory(channel=Channel.COPY)
    before = kept_groups()

    done = compact_referral_tallies(batch=1)
    assert done.referrers == 2
    rows = list(ReferralTally.objects.values_list("id", "referrer_id", "channel", "state", "n", "is_delta"))
    assert sorted(row[1:] for row in rows) == sorted(
        [
            (referrer.pk, Channel.EMAIL, ReferralState.REGISTERED, 3, False),
            (other.referrer_id, Channel.COPY, ReferralState.REGISTERED, 1, False),
        ]
    )
    assert kept_groups() == before
    assert_exact([referrer.pk, other.referrer_id])

    assert compact_referral_tallies() == Compaction()
    assert list(ReferralTally.objects.values_list("id", "referrer_id", "channel", "state", "n", "is_delta")) == rows

    # A new delta for a compacted referrer: its compacted row and the delta become one row again.
    ReferralFactory(referrer=referrer, channel=Channel.EMAIL)
    assert compact_referral_tallies() == Compaction(referrers=1, removed=2, kept=1)
    assert ReferralTally.objects.get(referrer=referrer).n == 4
    assert_exact([referrer.pk])


def test_the_back_fill_counts_every_referral_once():
    referrer = UserFactory(phone_verified=True)
    ReferralFactory.create_batch(3, referrer=referrer, channel=Channel.EMAIL, order_placed_at=timezone.now())
    ReferralFactory(referrer=referrer, state=ReferralState.REJECTED, reason_code=ReasonCode.ALREADY_REGISTERED)
    ReferralTally.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(MIGRATION.BACKFILL, [False])
    assert not ReferralTally.objects.filter(is_delta=True).exists()
    assert_exact([referrer.pk])


def test_the_triggers_exist_after_every_migration():
    """A migration remaking the referral table on SQLite drops its triggers: it must create them again."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'referrals_referral'::regclass AND NOT tgisinternal"
            )
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'referrals_referral'")
        names = {name for (name,) in cursor.fetchall()}
    expected = {"referrals_tally_inserted", "referrals_tally_updated", "referrals_tally_deleted"}
    if connection.vendor == "postgresql":
        expected.add("referrals_tally_truncated")
    assert expected <= names


@pytest.mark.postgres
def test_truncating_the_referrals_empties_the_tally():
    ReferralFactory.create_batch(2)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred foreign key checks pending in this transaction
        cursor.execute("TRUNCATE referrals_referral CASCADE")
    assert not ReferralTally.objects.exists()


def test_compaction_runs_every_minute_as_a_task():
    app.loader.import_default_modules()
    scheduled = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    entry = scheduled["referrals.tasks.compact_referral_tallies"]
    assert float(entry["schedule"]) == 60.0
    assert "referrals.tasks.compact_referral_tallies" in app.tasks
    assert tasks.compact_referral_tallies.acks_late is True
    ReferralFactory()
    assert tasks.compact_referral_tallies() == 1
    assert tasks.compact_referral_tallies() == 0
    assert ReferralTally.objects.get().is_delta is False


def test_staff_see_a_referrers_kept_counts_read_only(staff_client):
    referral = ReferralFactory(channel=Channel.QR)
    ReferralFactory(channel=Channel.EMAIL)  # another referrer's
    url = reverse("admin:referrals_referraltally_changelist")
    page = staff_client.get(url, {"q": referral.referrer.email})
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == list(ReferralTally.objects.filter(referrer=referral.referrer))
    row = ReferralTally.objects.get(referrer=referral.referrer)
    change = staff_client.get(reverse("admin:referrals_referraltally_change", args=[row.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content


def test_the_check_finds_drifted_counts_and_the_rebuild_repairs_them():
    """What skipping the triggers would leave (a restore with triggers disabled), found and counted again."""
    lost, bogus, fine = (ReferralFactory(channel=Channel.EMAIL) for _ in range(3))
    ReferralFactory(referrer=lost.referrer, channel=Channel.QR, order_placed_at=timezone.now())
    ReferralTally.objects.filter(referrer=lost.referrer).delete()
    ReferralTally.objects.create(
        referrer=bogus.referrer, channel=Channel.QR, state=ReferralState.CREDITED, n=1, ordered=1, already=0
    )
    found = tally_mismatches()
    assert [m.referrer_id for m in found] == sorted([lost.referrer_id, bogus.referrer_id])
    by_id = {m.referrer_id: m for m in found}
    assert by_id[lost.referrer_id].kept == {}
    assert by_id[lost.referrer_id].counted[(Channel.QR, ReferralState.REGISTERED)] == (1, 1, 0)
    assert by_id[bogus.referrer_id].kept[(Channel.QR, ReferralState.CREDITED)] == (1, 1, 0)

    out = StringIO()
    with pytest.raises(CommandError, match="2 referrer"):
        call_command("check_referral_tallies", stdout=out)
    call_command("check_referral_tallies", "--rebuild", stdout=out)
    assert "Rebuilt 2 referrer(s): 3 tally row(s) written." in out.getvalue()
    assert tally_mismatches() == []
    assert_exact([lost.referrer_id, bogus.referrer_id, fine.referrer_id])
    assert rebuild_referral_tallies() == 4  # everyone counted again: one row per group
    assert_exact([lost.referrer_id, bogus.referrer_id, fine.referrer_id])
    call_command("check_referral_tallies", stdout=out)
    assert out.getvalue().endswith("The kept referral counts match the referrals.\n")


# --- the property test: random writes of every kind, the counts checked after each --------------------------


class World:
    """A few referrers and their referrals, changed at random by every kind of writer."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.staff = UserFactory(is_staff=True)
        self.referrers = [UserFactory(phone_verified=True) for _ in range(3)]
        self.codes = {member.pk: ReferralCodeFactory(user=member) for member in self.referrers}
        for _ in range(12):
            self.create()

    def pick(self, *states: str, n: int = 1) -> list[Referral]:
        found = list(Referral.objects.filter(state__in=states) if states else Referral.objects.all())
        return self.rng.sample(found, min(n, len(found)))

    def create(self) -> None:
        now = timezone.now()
        state = self.rng.choice([ReferralState.REGISTERED, ReferralState.UNDER_REVIEW, ReferralState.QUALIFIED])
        due = {"completed_at": now, "credit_due_at": now - timedelta(minutes=1)} if state == "qualified" else {}
        ReferralFactory(
            code=self.codes[self.rng.choice(self.referrers).pk], channel=self.rng.choice(CHANNELS), state=state, **due
        )

    def credit_one(self) -> None:  # the credit task's service (PostgreSQL: the PL/pgSQL function)
        for referral in self.pick(ReferralState.QUALIFIED):
            credit_referral(referral_id=referral.pk)

    def sweep(self) -> None:  # the credit sweep's set-based SQL
        credit_due_referrals()

    def review(self) -> None:
        for referral in self.pick(ReferralState.UNDER_REVIEW):
            if self.rng.random() < 0.5:
                approve_review(referral=referral, actor=self.staff)
            else:
                reason = self.rng.choice([ReasonCode.ALREADY_REGISTERED, ReasonCode.DEVICE_LIMIT])
                reject_review(referral=referral, actor=self.staff, reason_code=reason, note="Property test.")

    def queryset_update(self) -> None:
        ids = [r.pk for r in self.pick(ReferralState.REGISTERED, ReferralState.VOIDED, n=4)]
        state, reason = self.rng.choice(
            [
                (ReferralState.VOIDED, ReasonCode.ALREADY_REGISTERED),
                (ReferralState.VOIDED, ReasonCode.FIRST_ORDER_CANCELED),
                (ReferralState.REGISTERED, ""),
                (ReferralState.UNDER_REVIEW, ReasonCode.SHARED_IP),
            ]
        )
        Referral.objects.filter(pk__in=ids).update(state=state, reason_code=reason)

    def bulk_update(self) -> None:
        rows = self.pick(n=5)
        for referral in rows:
            referral.channel = self.rng.choice(CHANNELS)
            referral.order_placed_at = self.rng.choice([None, timezone.now()])
        Referral.objects.bulk_update(rows, ["channel", "order_placed_at"], batch_size=2)

    def move_referrer(self) -> None:
        for referral in self.pick(n=2):
            member = self.rng.choice(self.referrers)
            Referral.objects.filter(pk=referral.pk).update(referrer=member, code=self.codes[member.pk])

    def deletable(self) -> QuerySet[Referral]:
        """Referrals with no coupon issued for them (their ledger rows protect them and their friends)."""
        issued = LedgerEntry.objects.filter(Q(referral=OuterRef("pk")) | Q(member=OuterRef("friend")))
        return Referral.objects.exclude(Exists(issued))

    def delete(self) -> None:
        ids = list(self.deletable().values_list("pk", flat=True))
        if ids:
            Referral.objects.filter(pk__in=self.rng.sample(ids, min(2, len(ids)))).delete()

    def delete_members(self) -> None:
        """A friend, then a whole referrer, deleted as Django deletes them (their referrals first: PROTECT)."""
        for referral in self.deletable().order_by("?")[:1]:
            friend = referral.friend
            referral.delete()
            friend.delete()
        short_lived = UserFactory(phone_verified=True)
        ReferralFactory.create_batch(2, referrer=short_lived, channel=self.rng.choice(CHANNELS))
        Referral.objects.filter(referrer=short_lived).delete()
        User.objects.filter(pk=short_lived.pk).delete()

    def compact(self) -> None:
        compact_referral_tallies(batch=self.rng.choice([1, 2, 500]))


@pytest.mark.parametrize("seed", [20, 21])
def test_random_writes_keep_the_counts_exact(seed):
    rng = random.Random(seed)
    world = World(rng)
    steps = [
        world.create,
        world.credit_one,
        world.sweep,
        world.review,
        world.queryset_update,
        world.bulk_update,
        world.move_referrer,
        world.delete,
        world.delete_members,
        world.compact,
    ]
    assert_exact([m.pk for m in world.referrers])
    ran = set()
    for _ in range(60):
        step = rng.choice(steps)
        step()
        ran.add(step.__name__)
        assert_exact([m.pk for m in world.referrers]), step.__name__
    assert ran == {step.__name__ for step in steps}  # the seed reaches every kind of write
    compact_referral_tallies()
    assert_exact([m.pk for m in world.referrers])
    assert not ReferralTally.objects.filter(is_delta=True).exists()
