"""The staff dashboard: figures from aggregate queries, alerts at their thresholds, the CSV export."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coupons.models import Coupon
from support.dashboard import dashboard_data
from support.models import AuditLog
from tests.factories import UserFactory
from tests.support.builders import referral_with_timeline, reward_coupon

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
def test_referrals_per_day_by_state_cover_fourteen_days():
    referral_with_timeline(state="registered", registered_at=NOW - timedelta(hours=1))
    referral_with_timeline(state="rejected", reason_code="SELF_REFERRAL", registered_at=NOW - timedelta(hours=2))
    referral_with_timeline(state="registered", registered_at=NOW - timedelta(days=13))
    referral_with_timeline(state="registered", registered_at=NOW - timedelta(days=14))  # outside the window
    data = dashboard_data()
    assert len(data["per_day"]) == 14
    today, oldest = data["per_day"][0], data["per_day"][-1]
    states = [value for value, _ in data["states"]]
    assert today.day == NOW.date() and today.total == 2
    assert today.counts[states.index("rejected")] == 1
    assert oldest.day == (NOW - timedelta(days=13)).date() and oldest.total == 1
    assert sum(row.total for row in data["per_day"]) == 3


@time_machine.travel(NOW, tick=False)
def test_outcome_counts_and_the_qualified_alert_over_twelve_hours():
    referral_with_timeline(state="credited", decided_at=NOW - timedelta(days=1))
    referral_with_timeline(state="capped", reason_code="MONTHLY_LIMIT", decided_at=NOW - timedelta(days=2))
    referral_with_timeline(state="voided", reason_code="FIRST_ORDER_CANCELED", decided_at=NOW - timedelta(days=3))
    referral_with_timeline(state="rejected", reason_code="DEVICE_LIMIT", decided_at=NOW - timedelta(days=30))
    referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=11, minutes=59))
    data = dashboard_data()
    assert data["outcomes"] == {"credited": 1, "capped": 1, "voided": 1, "rejected": 0}
    assert data["oldest_qualified_alert"] is False
    referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=12, minutes=1))
    data = dashboard_data()
    assert data["oldest_qualified_alert"] is True
    assert data["oldest_qualified_age"] == timedelta(hours=12, minutes=1)
    assert data["qualified_count"] == 2


@time_machine.travel(NOW, tick=False)
def test_technical_delays_and_reviews_undecided_over_a_day():
    late = referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=25))
    flagged = referral_with_timeline(
        state="qualified", completed_at=NOW - timedelta(hours=2), delay_flagged_at=NOW - timedelta(hours=1)
    )
    referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=23))
    old_review = referral_with_timeline(
        state="under_review", reason_code="IP_BURST", review_requested_at=NOW - timedelta(hours=24, minutes=1)
    )
    referral_with_timeline(state="under_review", reason_code="IP_BURST", review_requested_at=NOW - timedelta(hours=23))
    data = dashboard_data()
    assert {r.pk for r in data["delayed"]} == {late.pk, flagged.pk}
    assert [r.pk for r in data["stale_reviews"]] == [old_review.pk]
    assert data["stale_review_count"] == 1


@time_machine.travel(NOW, tick=False)
def test_the_alert_figures_equal_a_count_of_the_rows():
    """The qualified figures and the stale-review count are separate index-only queries: same numbers as counting
    the rows one by one, including a qualified referral with no completion date (its due date is its age), a
    flagged but recent one, an old one flagged too, and reviews waiting since registration (no request date)."""
    qualified = [
        referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=30)),
        referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=30), delay_flagged_at=NOW),
        referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=1), delay_flagged_at=NOW),
        referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=1)),
        referral_with_timeline(state="qualified", completed_at=None, credit_due_at=NOW - timedelta(days=3)),
    ]
    reviews = [
        referral_with_timeline(
            state="under_review", reason_code="IP_BURST", review_requested_at=NOW - timedelta(days=2)
        ),
        referral_with_timeline(
            state="under_review", reason_code="IP_BURST", review_requested_at=NOW - timedelta(hours=1)
        ),
        referral_with_timeline(
            state="under_review",
            reason_code="IP_BURST",
            review_requested_at=None,
            registered_at=NOW - timedelta(days=2),
        ),
        referral_with_timeline(
            state="under_review",
            reason_code="IP_BURST",
            review_requested_at=None,
            registered_at=NOW - timedelta(hours=2),
        ),
    ]
    # Other states with the same dates count for nothing.
    referral_with_timeline(state="credited", completed_at=NOW - timedelta(days=5), delay_flagged_at=NOW)
    referral_with_timeline(state="registered", review_requested_at=NOW - timedelta(days=5))
    data = dashboard_data()
    assert data["qualified_count"] == len(qualified)
    assert data["oldest_qualified_age"] == timedelta(days=3)
    is_delayed = [
        r for r in qualified if r.delay_flagged_at or (r.completed_at and r.completed_at < NOW - timedelta(hours=24))
    ]
    assert data["delayed_count"] == len(is_delayed) == 3
    assert {r.pk for r in data["delayed"]} == {r.pk for r in is_delayed}
    stale = [r for r in reviews if (r.review_requested_at or r.registered_at) < NOW - timedelta(hours=24)]
    assert data["stale_review_count"] == len(stale) == 2
    assert {r.pk for r in data["stale_reviews"]} == {r.pk for r in stale}


# Each count of the dashboard's alert cards and redemption rate, known by what its SQL filters on, and the index meant
# to answer it on its own.
COUNT_INDEXES = {
    "'qualified'": ("referrals_referral", "referral_qualified_cover_idx"),
    "'under_review'": ("referrals_referral", "referral_review_queue_idx"),
    "coupons_coupon": ("coupons_coupon", "coupon_source_status_idx"),
}


@pytest.mark.postgres
@time_machine.travel(NOW, tick=False)
def test_the_dashboard_counts_are_answered_from_an_index_alone():
    """Counting tens of thousands of referrals or coupons per state is cheap only without reading the table's rows:
    each count of the alert cards and the redemption rate has an index that carries every column it reads."""
    referral_with_timeline(state="qualified", completed_at=NOW - timedelta(hours=30))
    referral_with_timeline(state="under_review", reason_code="IP_BURST", review_requested_at=NOW - timedelta(days=2))
    reward_coupon(referral_with_timeline(state="credited"))
    with CaptureQueriesContext(connection) as queries:
        dashboard_data()
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and "GROUP BY" not in q["sql"]]
    counts = [sql for sql in counts if "decided_at" not in sql and "issued_at" not in sql]  # small date ranges
    assert len(counts) == 3
    with connection.cursor() as cursor:
        # As autovacuum leaves the tables: statistics, and every page marked all-visible (the planner reads the
        # count from pg_class; a VACUUM here would not mark pages while other tests' transactions are open).
        cursor.execute("ANALYZE referrals_referral, coupons_coupon")
        cursor.execute(
            "UPDATE pg_class SET relallvisible = relpages WHERE oid IN "
            "('referrals_referral'::regclass, 'coupons_coupon'::regclass)"
        )
        cursor.execute("SET LOCAL enable_seqscan = off")  # a table of a few rows is read whole otherwise
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        for sql in counts:
            [(table, index)] = [target for key, target in COUNT_INDEXES.items() if key in sql]
            # On a table of a few rows any small index and the rows behind it cost the planner about the same, so
            # which it picks depends on what earlier tests left. The question is whether the count's own index
            # carries every column it reads: the table's other indexes are dropped for one EXPLAIN, in a savepoint.
            cursor.execute("SAVEPOINT only_its_index")
            cursor.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary "
                "AND indexrelid NOT IN (SELECT conindid FROM pg_constraint) AND indexrelid::regclass::text <> %s",
                [table, index],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP INDEX "{name}"')
            cursor.execute("EXPLAIN (FORMAT TEXT) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("ROLLBACK TO SAVEPOINT only_its_index")
            assert f"Index Only Scan using {index}" in plan, plan


@time_machine.travel(NOW, tick=False)
def test_redemption_rate_and_this_months_reward_cost():
    coupons = [reward_coupon(referral_with_timeline(state="credited")) for _ in range(4)]
    Coupon.objects.filter(pk=coupons[0].pk).update(status="used")
    Coupon.objects.filter(pk=coupons[1].pk).update(status="voided")
    with time_machine.travel(datetime(2026, 10, 31, 23, 0, tzinfo=UTC), tick=False):
        reward_coupon(referral_with_timeline(state="credited"))  # last month: not this month's cost
    data = dashboard_data()
    assert (data["issued"], data["used"]) == (5, 1)
    assert data["redemption_rate"] == Decimal("20.0")
    assert [(row["currency"], row["total"], row["n"]) for row in data["month_cost"]] == [("USD", Decimal("15.00"), 3)]


def test_the_dashboard_renders_with_a_constant_number_of_queries(role_client, django_assert_max_num_queries):
    client = role_client("Program manager")
    for _ in range(3):
        referral_with_timeline(state="qualified", completed_at=timezone.now() - timedelta(days=2))
        referral_with_timeline(
            state="under_review", reason_code="IP_BURST", review_requested_at=timezone.now() - timedelta(days=2)
        )
    with django_assert_max_num_queries(17):  # 17th: the latest reconciliation report
        response = client.get(reverse("staff_dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "staff-card-alert" in html and "Download CSV" in html


def test_dashboard_and_export_are_staff_only(client, role_client):
    member = UserFactory()
    client.force_login(member)
    response = client.get(reverse("staff_dashboard"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    agent = role_client("Support agent")
    assert agent.get(reverse("staff_dashboard")).status_code == 200
    export = agent.get(reverse("staff_dashboard_export"), {"date_from": "2026-11-01", "date_to": "2026-11-02"})
    assert export.status_code == 403


def test_csv_export_streams_the_date_range_and_is_audited(role_client):
    client = role_client("Program manager")
    inside = referral_with_timeline(state="registered", registered_at=datetime(2026, 11, 2, 23, 59, tzinfo=UTC))
    inside.friend.email = "=cmd@example.com"  # a formula-looking cell must be defused
    inside.friend.save()
    referral_with_timeline(state="registered", registered_at=datetime(2026, 11, 3, 0, 0, tzinfo=UTC))
    response = client.get(reverse("staff_dashboard_export"), {"date_from": "2026-11-01", "date_to": "2026-11-02"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "registered_at", "referrer_email", "friend_email"]
    assert [row[0] for row in rows[1:]] == [str(inside.pk)]
    assert rows[1][3] == "'=cmd@example.com"
    row = AuditLog.objects.get(action="referral.export_csv")
    assert row.actor == client.user and row.details == {"date_from": "2026-11-01", "date_to": "2026-11-02"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "The end date is before the start date."),
        ({"date_from": "yesterday", "date_to": "2026-11-01"}, "Enter a valid date."),
        ({}, "This field is required."),
        ({"date_from": "2024-01-01", "date_to": "2026-01-01"}, "at most 366 days"),
    ],
)
def test_a_bad_export_range_gets_a_clear_message(role_client, params, message):
    client = role_client("Fraud analyst")
    response = client.get(reverse("staff_dashboard_export"), params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditLog.objects.exists()


def test_this_months_reward_cost_follows_each_regions_program_month():
    """A reward is the cost of the month it counted against: the owner's region's month, in its time zone."""
    from accounts.models import Region

    Region.objects.create(country="CA", name="Canada (test, NY time)", time_zone="America/New_York", currency="CAD")
    Region.objects.create(country="NZ", name="New Zealand (test)", time_zone="Pacific/Auckland", currency="NZD")

    def reward(country: str, at: datetime, value: str) -> None:
        referral = referral_with_timeline(state="credited")
        referral.referrer.country = country
        referral.referrer.save(update_fields=["country"])
        with time_machine.travel(at, tick=False):
            coupon = reward_coupon(referral, value=Decimal(value))
        Coupon.objects.filter(pk=coupon.pk).update(currency={"CA": "CAD", "NZ": "NZD"}.get(country, "USD"))

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    reward("CA", datetime(2026, 12, 1, 3, 0, tzinfo=UTC), "1.00")  # 22:00 on 30 November in New York: November's
    reward("CA", datetime(2026, 12, 1, 6, 0, tzinfo=UTC), "2.00")  # 01:00 on 1 December in New York
    reward("NZ", datetime(2026, 11, 30, 12, 0, tzinfo=UTC), "4.00")  # 01:00 on 1 December in Auckland
    reward("NZ", datetime(2026, 11, 30, 10, 0, tzinfo=UTC), "8.00")  # 23:00 on 30 November in Auckland
    reward("FR", datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "16.00")  # unlisted country: the default region (UTC)
    reward("US", datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), "32.00")  # UTC November
    with time_machine.travel(now, tick=False):
        data = dashboard_data()
    assert [(row["currency"], row["total"], row["n"]) for row in data["month_cost"]] == [
        ("CAD", Decimal("2.00"), 1),
        ("NZD", Decimal("4.00"), 1),
        ("USD", Decimal("16.00"), 1),
    ]
    assert data["month"].isoformat() == "2026-12-01"


def test_the_months_count_is_the_sum_of_the_members_meters(staff_client):
    """One definition (docs/program-rules.md section 9): a manual credit or a coupon issued outside crediting does
    not use a monthly slot, so neither the member's meter nor the dashboard's month count shows it."""
    from referrals.selectors import meter
    from referrals.services import credit_referral
    from referrals.services.crediting import credit_manually
    from tests.factories import ReferralCodeFactory

    code = ReferralCodeFactory(user__phone_verified=True)
    for _ in range(2):
        referral = referral_with_timeline(state="qualified", code=code)
        credit_referral(referral_id=referral.pk)
    by_hand = referral_with_timeline(state="qualified", code=code, completed_at=timezone.now())
    credit_manually(referral=by_hand, actor=staff_client.staff, reason="Goodwill credit")
    other = ReferralCodeFactory(user__phone_verified=True, user__country="DE")
    credit_referral(referral_id=referral_with_timeline(state="qualified", code=other).pk)

    now = timezone.now()
    seen = [meter.monthly_progress(member=m, now=now).count for m in (code.user, other.user)]
    assert seen == [2, 1]
    data = dashboard_data()
    assert data["month_counted"] == sum(seen) == 3
    assert sum(row["n"] for row in data["month_cost"]) == 4  # the cost includes the manual credit
    html = staff_client.get(reverse("staff_dashboard")).content.decode()
    card = html.split('id="staff-month-counted"', 1)[1].split("</div>", 1)[0]
    assert '<p class="staff-figure">3</p>' in card
