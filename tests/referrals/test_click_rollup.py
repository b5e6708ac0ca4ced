"""The click roll-up: every click counted into ClickTally exactly once, behind a watermark; the funnel always equals
a count of every click ever made (docs/performance.md, "Click growth")."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from referrals import tasks
from referrals.models import CLICKS_NOT_ROLLED_UP, Click, ClickRollup, ClickTally
from referrals.program import CLICK_ROLLUP_LAG
from referrals.selectors.funnel import _clicks_by_channel, channel_funnel, clicks_by_channel
from referrals.services import rollup
from referrals.services.retention import prune_clicks
from referrals.services.rollup import add_old_clicks, clicks_counted_before, roll_up_clicks
from tests.factories import ClickFactory, ReferralCodeFactory, ReferralFactory

pytestmark = pytest.mark.django_db

CHANNELS = ["whatsapp", "email", "qr", "copy"]


def tallied() -> Counter:
    return Counter(
        {
            (code, channel): n
            for code, channel, n in ClickTally.objects.values_list("referral_code_id", "channel", "clicks")
        }
    )


def test_the_migration_starts_the_watermark_before_any_click():
    (path,) = (Path(__file__).resolve().parents[2] / "referrals" / "migrations").glob("*_click_rollup.py")
    migration = import_module(f"referrals.migrations.{path.stem}")
    ClickRollup.objects.all().delete()
    migration.create_watermark(apps, None)
    assert ClickRollup.objects.get().counted_before == CLICKS_NOT_ROLLED_UP == migration.EPOCH
    assert clicks_counted_before() == CLICKS_NOT_ROLLED_UP


def test_tallies_from_before_the_roll_up_still_count_with_the_first_watermark():
    # What the retention job left before the roll-up existed: pruned clicks in the tally, the rest raw.
    code = ReferralCodeFactory()
    ClickTally.objects.create(referral_code=code, channel="email", clicks=7)
    ClickFactory.create_batch(2, referral_code=code, channel="email", clicked_at=timezone.now() - timedelta(days=30))
    ClickFactory(referral_code=code, channel="qr")
    assert clicks_by_channel(member=code.user) == {"email": 9, "qr": 1}

    roll_up_clicks()

    assert clicks_by_channel(member=code.user) == {"email": 9, "qr": 1}
    assert ClickTally.objects.get(referral_code=code, channel="email").clicks == 9  # the qr click: inside the lag


def test_funnel_counts_every_click_ever_through_roll_ups_late_clicks_and_pruning():
    code, other = ReferralCodeFactory(), ReferralCodeFactory()
    ReferralFactory(code=code, channel="email")
    now = timezone.now()
    made: Counter = Counter()

    def click(at, channel="whatsapp", on=code):
        ClickFactory(referral_code=on, channel=channel, clicked_at=at)
        made[(on.pk, channel)] += 1

    def check():
        for c in (code, other):
            expected = {ch: n for (pk, ch), n in made.items() if pk == c.pk}
            assert clicks_by_channel(member=c.user) == expected
        funnel = channel_funnel(member=code.user)
        assert funnel.total.clicks == sum(n for (pk, _), n in made.items() if pk == code.pk)

    for days in (400, 200, 3):
        click(now - timedelta(days=days))
        click(now - timedelta(days=days), "email")
        click(now - timedelta(days=days), "qr", other)
    click(now)  # inside the lag
    check()

    roll_up_clicks(now=now)
    assert clicks_counted_before() == now - CLICK_ROLLUP_LAG
    check()
    assert Click.objects.filter(clicked_at__gte=clicks_counted_before()).count() == 1

    # After the roll-up: a new click, and an old-dated one still newer than the watermark (a click whose
    # transaction started before the bound was taken, committed after).
    click(now + timedelta(seconds=1))
    click(now - CLICK_ROLLUP_LAG + timedelta(microseconds=1), "email")
    check()

    roll_up_clicks(now=now)  # the same bound again: nothing moves, nothing counted twice
    check()
    roll_up_clicks(now=now + CLICK_ROLLUP_LAG + timedelta(minutes=1))
    assert Click.objects.filter(clicked_at__gte=clicks_counted_before()).count() == 0
    check()

    assert prune_clicks(now=now) == 3 * 2  # the 400- and 200-day clicks (nobody points at them)
    check()
    left = Click.objects.count()
    assert prune_clicks(now=now + timedelta(days=400)) == left  # up to the watermark: every raw click is counted
    assert not Click.objects.exists()
    check()


def test_random_interleavings_of_clicks_roll_ups_and_pruning_keep_the_funnel_exact():
    rng = random.Random(20)
    codes = [ReferralCodeFactory() for _ in range(3)]
    start = timezone.now() - timedelta(days=300)
    clock = start
    made: Counter = Counter()
    for _ in range(60):
        step = rng.random()
        clock += timedelta(hours=rng.randint(0, 48), microseconds=rng.randint(0, 999_999))
        if step < 0.5:
            # Clicks at the clock, or up to a lag back (the latest a click may arrive), never behind the watermark.
            for _ in range(rng.randint(1, 5)):
                at = max(clock - CLICK_ROLLUP_LAG * rng.random(), clicks_counted_before())
                code, channel = rng.choice(codes), rng.choice(CHANNELS)
                ClickFactory(referral_code=code, channel=channel, clicked_at=at)
                made[(code.pk, channel)] += 1
        elif step < 0.65:
            # Back-dated clicks (demo data, imports) through their one door.
            code, channel = rng.choice(codes), rng.choice(CHANNELS)
            n = rng.randint(1, 4)
            add_old_clicks(
                Click(referral_code=code, channel=channel, clicked_at=start + (clock - start) * rng.random())
                for _ in range(n)
            )
            made[(code.pk, channel)] += n
        elif step < 0.9:
            roll_up_clicks(now=clock, batch=rng.randint(1, 6))
        else:
            prune_clicks(now=clock + timedelta(days=rng.randint(0, 200)))
        for code in codes:
            expected = {ch: n for (pk, ch), n in made.items() if pk == code.pk}
            assert clicks_by_channel(member=code.user) == expected
    assert ClickTally.objects.exists() and Click.objects.exists()


def test_running_twice_counts_nothing_twice():
    code = ReferralCodeFactory()
    ClickFactory.create_batch(4, referral_code=code, clicked_at=timezone.now() - timedelta(hours=1))
    assert roll_up_clicks() == 4
    before = tallied()
    assert roll_up_clicks() == 0
    assert roll_up_clicks(batch=1) == 0
    assert tallied() == before == Counter({(code.pk, "whatsapp"): 4})


def test_clicks_inside_the_lag_are_not_rolled_up():
    code = ReferralCodeFactory()
    now = timezone.now()
    ClickFactory(referral_code=code, channel="email", clicked_at=now - CLICK_ROLLUP_LAG - timedelta(microseconds=1))
    ClickFactory(referral_code=code, channel="qr", clicked_at=now - CLICK_ROLLUP_LAG)
    ClickFactory(referral_code=code, channel="qr", clicked_at=now)

    assert roll_up_clicks(now=now) == 1

    assert tallied() == Counter({(code.pk, "email"): 1})
    assert clicks_counted_before() == now - CLICK_ROLLUP_LAG
    assert clicks_by_channel(member=code.user) == {"email": 1, "qr": 2}


def test_a_huge_first_run_goes_in_bounded_batches_over_years():
    code = ReferralCodeFactory()
    now = timezone.now()
    times = [now - timedelta(days=d, seconds=s) for d in (3000, 800, 40, 2) for s in range(7)]
    Click.objects.bulk_create(Click(referral_code=code, channel="email", clicked_at=t) for t in times)
    runs = []
    while True:
        n = roll_up_clicks(now=now, batch=5, max_batches=1)
        if clicks_counted_before() >= now - CLICK_ROLLUP_LAG:
            runs.append(n)
            break
        runs.append(n)
        assert len(runs) < 500
    assert max(runs) <= 5  # never more than a batch per transaction
    assert sum(runs) == len(times)
    assert tallied() == Counter({(code.pk, "email"): len(times)})


def test_more_clicks_in_one_microsecond_than_a_batch_are_counted_together():
    code = ReferralCodeFactory()
    at = timezone.now() - timedelta(days=1)
    Click.objects.bulk_create(Click(referral_code=code, channel="qr", clicked_at=at) for _ in range(8))
    assert roll_up_clicks(batch=3) == 8
    assert tallied() == Counter({(code.pk, "qr"): 8})


def test_back_dated_clicks_before_the_watermark_are_counted_as_they_are_inserted():
    code = ReferralCodeFactory()
    now = timezone.now()
    roll_up_clicks(now=now)
    watermark = clicks_counted_before()
    add_old_clicks(
        [
            Click(referral_code=code, channel="email", clicked_at=watermark - timedelta(days=5)),
            Click(referral_code=code, channel="email", clicked_at=watermark + timedelta(seconds=1)),
        ]
    )
    assert tallied() == Counter({(code.pk, "email"): 1})
    assert clicks_by_channel(member=code.user) == {"email": 2}
    roll_up_clicks(now=now + timedelta(hours=1))
    assert clicks_by_channel(member=code.user) == {"email": 2}


def test_a_missing_watermark_row_reads_as_nothing_rolled_up_and_is_put_back():
    # Transactional tests truncate every table, the migration's row included.
    ClickRollup.objects.all().delete()
    code = ReferralCodeFactory()
    ClickFactory.create_batch(2, referral_code=code, clicked_at=timezone.now() - timedelta(days=1))
    assert clicks_by_channel(member=code.user) == {"whatsapp": 2}
    assert roll_up_clicks() == 2
    assert ClickRollup.objects.get().counted_before > CLICKS_NOT_ROLLED_UP
    assert clicks_by_channel(member=code.user) == {"whatsapp": 2}


def test_the_funnel_reads_the_clicks_in_one_query(django_assert_num_queries):
    code = ReferralCodeFactory()
    ClickFactory.create_batch(3, referral_code=code, clicked_at=timezone.now() - timedelta(days=1))
    roll_up_clicks()
    ClickFactory(referral_code=code)
    with django_assert_num_queries(1):
        assert clicks_by_channel(member=code.user) == {"whatsapp": 4}


def test_the_task_wraps_the_service_and_survives_repeats():
    code = ReferralCodeFactory()
    ClickFactory.create_batch(3, referral_code=code, clicked_at=timezone.now() - timedelta(days=1))
    assert tasks.roll_up_clicks() == 3
    assert tasks.roll_up_clicks() == 0
    assert tallied() == Counter({(code.pk, "whatsapp"): 3})


def test_support_sees_the_watermark_read_only(staff_client):
    roll_up_clicks()
    response = staff_client.get("/admin/referrals/clickrollup/")
    assert response.status_code == 200
    assert staff_client.get("/admin/referrals/clickrollup/add/").status_code == 403
    assert staff_client.get("/admin/referrals/clickrollup/1/delete/").status_code == 403


@pytest.mark.postgres
def test_on_postgresql_an_all_rolled_up_member_reads_no_raw_click():
    code = ReferralCodeFactory()
    Click.objects.bulk_create(
        Click(referral_code=code, channel=CHANNELS[i % 4], clicked_at=timezone.now() - timedelta(days=1, minutes=i))
        for i in range(500)
    )
    roll_up_clicks()
    queryset = _clicks_by_channel(code.user_id)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table: what the big table's plan looks like
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "click_code_time_chan_idx" in plan
    assert "clicked_at >=" in plan.split("click_code_time_chan_idx")[1].split("->")[0]  # an Index Cond, not a Filter
    raw_scan = next(line for line in plan.splitlines() if "click_code_time_chan_idx" in line)
    assert "rows=0" in raw_scan


@pytest.mark.postgres
def test_on_postgresql_the_roll_up_does_not_pass_an_open_transaction(monkeypatch):
    # A click transaction that started before the bound and has not committed holds the watermark back.
    monkeypatch.setattr(rollup, "CLICK_ROLLUP_LAG", timedelta(0))
    with connection.cursor() as cursor:
        cursor.execute(rollup._OLDEST_OPEN_TRANSACTION)
        assert cursor.fetchone()[0] is None  # no other session on the test database
    started = threading.Event()
    release = threading.Event()

    def open_transaction():
        try:
            with transaction.atomic():
                Click.objects.exists()
                started.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=open_transaction)
    thread.start()
    try:
        started.wait(10)
        time.sleep(0.05)
        assert rollup.rollup_bound(timezone.now() + timedelta(hours=1)) < timezone.now()
    finally:
        release.set()
        thread.join()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_roll_ups_at_once_while_clicks_arrive_count_each_click_exactly_once(monkeypatch):
    # A short lag so the roll-ups pass the clicks being inserted during the test; each click transaction stays
    # open several times the lag after taking its time (a slow commit): only the open-transaction bound keeps
    # the roll-ups from passing it.
    monkeypatch.setattr(rollup, "CLICK_ROLLUP_LAG", timedelta(milliseconds=200))
    codes = [ReferralCodeFactory() for _ in range(3)]
    made: Counter = Counter()
    made_lock = threading.Lock()
    errors: list[BaseException] = []
    inserting = threading.Event()
    inserting.set()

    def insert_clicks(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(25):
                code, channel = rng.choice(codes), rng.choice(CHANNELS)
                with transaction.atomic():
                    Click.objects.create(referral_code=code, channel=channel, clicked_at=timezone.now())
                    time.sleep(rng.choice([0, 0, 0.01, 0.5]))
                with made_lock:
                    made[(code.pk, channel)] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def roll_up_repeatedly() -> None:
        try:
            while inserting.is_set():
                roll_up_clicks(batch=7)
                time.sleep(0.01)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    inserters = [threading.Thread(target=insert_clicks, args=(seed,)) for seed in range(2)]
    rollers = [threading.Thread(target=roll_up_repeatedly) for _ in range(2)]
    for t in inserters + rollers:
        t.start()
    for t in inserters:
        t.join()
    inserting.clear()
    for t in rollers:
        t.join()
    assert not errors
    assert clicks_counted_before() > CLICKS_NOT_ROLLED_UP  # the roll-ups did pass clicks meanwhile
    assert 0 < sum(tallied().values()) <= sum(made.values())
    for code in codes:
        expected = {ch: n for (pk, ch), n in made.items() if pk == code.pk}
        assert clicks_by_channel(member=code.user) == expected
    # Once the last click is older than the lag, everything is in the tally, each click once.
    time.sleep(0.3)
    roll_up_clicks()
    assert tallied() == made
