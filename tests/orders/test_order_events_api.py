"""POST /api/order-events/: signature, inbox, idempotency, ordering, errors (docs/program-rules.md G3)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coupons.models import Coupon, CouponSource, LedgerEntry
from orders import webhooks
from orders.models import Order, OrderEvent, OrderState
from referrals.models import MonthlyRewardCounter
from referrals.reasons import ReferralState
from referrals.services import credit_due_referrals
from referrals.tasks import credit_referral_task
from tests.concurrency import race
from tests.factories import ReferralFactory, StoreFactory, UserFactory

# The buyers' accounts exist before the orders the events below date (2026-03): an order dated before the account
# is refused (test_an_order_placed_before_the_buyers_account_existed_is_refused).
JOINED = datetime(2026, 1, 1, tzinfo=UTC)
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.member(email="friend@example.com", signed_in=False, date_joined=JOINED),
]

SECRET = "current-secret"
URL = "/api/order-events/"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.ORDER_EVENTS_SECRETS = [SECRET]
    settings.ORDER_EVENTS_TOLERANCE_SECONDS = 300
    cache.clear()


@pytest.fixture
def store():
    return StoreFactory(slug="pixel-gadgets", name="Pixel Gadgets")


def placed(order_id="SHOP-1", event_id="evt-placed", occurred_at="2026-03-02T10:00:00Z", email="friend@example.com"):
    return {
        "id": event_id,
        "type": "order.placed",
        "occurred_at": occurred_at,
        "member": {"email": email},
        "order": {
            "id": order_id,
            "lines": [
                {
                    "store": "pixel-gadgets",
                    "name": "Earbuds",
                    "quantity": 2,
                    "unit_price": "79.00",
                    "sale_price": "59.00",
                }
            ],
            "amount": {"total": "118.00", "currency": "USD"},
            "payment": {"card_fingerprint": "fp_card_1"},
        },
    }


def event(kind, *, order_id="SHOP-1", event_id=None, occurred_at="2026-03-02T12:00:00Z"):
    return {
        "id": event_id or f"evt-{kind}",
        "type": f"order.{kind}",
        "occurred_at": occurred_at,
        "order": {"id": order_id},
    }


def post(client, payload, *, secret=SECRET, timestamp=None, header=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    if header is None:
        header = webhooks.sign(body=body, secret=secret, timestamp=timestamp)
    headers = {"Shop-Signature": header} if header else {}
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def test_url_and_csrf_exemption(member, store):
    assert reverse("orders:events") == URL
    client = Client(enforce_csrf_checks=True)
    assert post(client, placed()).status_code == 200


def test_placed_event_creates_the_order_and_its_inbox_row(client, member, store, hook):
    response = post(client, placed())
    assert response.status_code == 200
    assert response.json() == {"status": "processed", "event_id": "evt-placed", "result": "placed (first order)"}
    order = Order.objects.get(external_id="SHOP-1")
    assert order.buyer == member and order.is_first and order.state == OrderState.PLACED
    assert order.total == Decimal("118.00") and order.subtotal == Decimal("158.00")
    assert order.card.fingerprint == "fp_card_1"
    assert order.placed_at.isoformat() == "2026-03-02T10:00:00+00:00"
    inbox = OrderEvent.objects.get()
    assert inbox.event_id == "evt-placed" and inbox.processed_at is not None
    hook.assert_called_once_with(order=order, event="placed", occurred_at=order.placed_at)


def test_lifecycle_events_apply_with_their_occurred_at(client, member, store, hook):
    post(client, placed())
    for hour, kind in [(11, "paid"), (12, "shipped"), (13, "completed")]:
        response = post(client, event(kind, occurred_at=f"2026-03-02T{hour}:00:00Z"))
        assert response.status_code == 200, response.json()
    order = Order.objects.get()
    assert order.state == OrderState.COMPLETED
    assert order.completed_at.hour == 13 and order.shipped_at.hour == 12
    assert [c.kwargs["event"] for c in hook.call_args_list] == ["placed", "paid", "shipped", "completed"]


# --- signature cases: 4xx and nothing stored --------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda body: {"header": ""}, id="missing-header"),
        pytest.param(lambda body: {"header": "t=abc,v1=zz"}, id="malformed-header"),
        pytest.param(lambda body: {"header": "sha256=deadbeef"}, id="wrong-scheme"),
        pytest.param(lambda body: {"secret": "wrong-secret"}, id="wrong-secret"),
        pytest.param(lambda body: {"timestamp": int(time.time()) - 301}, id="stale"),
        pytest.param(lambda body: {"timestamp": int(time.time()) + 301}, id="future"),
        pytest.param(
            lambda body: {
                "header": webhooks.sign(body=body, secret=SECRET),
                "raw": body.replace(b'"quantity": 2', b'"quantity": 9'),
            },
            id="tampered-body",
        ),
    ],
)
def test_bad_signatures_get_401_and_store_nothing(client, member, store, hook, mutate):
    # A frozen clock: on a loaded machine a second may pass between signing and checking.
    with time_machine.travel(time.time(), tick=False):
        body = json.dumps(placed()).encode()
        kwargs = mutate(body)
        kwargs.setdefault("raw", body)
        response = post(client, None, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"].startswith(("signature_", "timestamp_"))
    assert not OrderEvent.objects.exists()
    assert not Order.objects.exists()
    hook.assert_not_called()


def test_rotated_secret_is_accepted(client, member, store, settings):
    settings.ORDER_EVENTS_SECRETS = ["new-secret", "old-secret"]
    assert post(client, placed(), secret="old-secret").status_code == 200
    assert post(client, event("paid"), secret="new-secret").status_code == 200
    assert OrderEvent.objects.count() == 2


# --- idempotency ------------------------------------------------------------------------


def test_same_event_five_times_in_a_row_is_one_inbox_row(client, member, store, hook):
    post(client, placed())
    answers = [post(client, event("paid")) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[0].json()["status"] == "processed"
    assert {a.json()["status"] for a in answers[1:]} == {"duplicate"}
    assert OrderEvent.objects.filter(event_id="evt-paid").count() == 1
    assert [c.kwargs["event"] for c in hook.call_args_list].count("paid") == 1


def test_placed_five_times_is_one_order(client, member, store):
    answers = [post(client, placed()) for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert Order.objects.count() == 1 and OrderEvent.objects.count() == 1


def test_a_second_event_id_for_a_known_fact_has_no_effect(client, member, store):
    post(client, placed())
    post(client, event("paid", event_id="e1", occurred_at="2026-03-02T11:00:00Z"))
    response = post(client, event("paid", event_id="e2", occurred_at="2026-03-02T11:30:00Z"))
    assert response.status_code == 200 and "Already recorded" in response.json()["result"]
    assert Order.objects.get().paid_at.minute == 0


# --- by when it happened ---------------------------------------------------------------


def test_refund_before_completion_arriving_late_wins(client, member, store, hook):
    post(client, placed())
    post(client, event("paid", occurred_at="2026-03-02T11:00:00Z"))
    post(client, event("shipped", occurred_at="2026-03-02T12:00:00Z"))
    post(client, event("completed", occurred_at="2026-03-03T12:00:00Z"))
    response = post(client, event("refunded", occurred_at="2026-03-02T18:00:00Z"))
    assert response.status_code == 200
    order = Order.objects.get()
    assert order.state == OrderState.REFUNDED and order.refunded_at < order.completed_at
    assert hook.call_args.kwargs["event"] == "refunded"
    assert hook.call_args.kwargs["occurred_at"].isoformat() == "2026-03-02T18:00:00+00:00"


def test_completion_after_an_earlier_cancel_is_recorded_without_effect(client, member, store, hook):
    post(client, placed())
    post(client, event("canceled", occurred_at="2026-03-02T11:00:00Z"))
    hook.reset_mock()
    response = post(client, event("shipped", occurred_at="2026-03-02T12:00:00Z"))
    assert response.status_code == 200 and "already canceled" in response.json()["result"]
    assert Order.objects.get().state == OrderState.CANCELED
    hook.assert_not_called()


# --- bad input: clear JSON 4xx, nothing stored ------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (event("paid", order_id="NOPE"), 422, "unknown_order"),
        (placed(email="stranger@example.com"), 422, "unknown_member"),
        (
            {**placed(), "order": {**placed()["order"], "lines": [{**placed()["order"]["lines"][0], "store": "x"}]}},
            422,
            "unknown_store",
        ),
        ({"id": "e", "type": "order.paid"}, 400, "missing_field"),
        (
            {"id": "e", "type": "order.teleported", "occurred_at": "2026-03-02T10:00:00Z", "order": {"id": "A"}},
            400,
            "unknown_event_type",
        ),
    ],
)
def test_bad_events_get_a_clear_4xx_and_store_nothing(client, member, store, payload, status, code):
    response = post(client, payload)
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]
    assert not OrderEvent.objects.exists()


def test_malformed_json_is_a_400(client):
    response = post(client, None, raw=b"{not json")
    assert response.status_code == 400 and response.json()["error"] == "malformed_json"


def test_impossible_transition_is_a_409_and_stores_nothing(client, member, store):
    post(client, placed())
    post(client, event("paid", occurred_at="2026-03-02T11:00:00Z"))
    post(client, event("shipped", occurred_at="2026-03-02T12:00:00Z"))
    response = post(client, event("canceled", occurred_at="2026-03-02T13:00:00Z"))
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"
    assert "canceled before it ships" in response.json()["message"]
    assert not OrderEvent.objects.filter(event_id="evt-canceled").exists()
    assert Order.objects.get().state == OrderState.SHIPPED
    # An event that happened before the order was placed is impossible too.
    response = post(client, event("refunded", occurred_at="2026-03-01T00:00:00Z"))
    assert response.status_code == 409


def test_order_id_of_another_member_is_a_conflict(client, member, store):
    UserFactory(email="other@example.com")
    post(client, placed())
    response = post(client, placed(event_id="evt-2", email="other@example.com"))
    assert response.status_code == 409 and response.json()["error"] == "order_conflict"


def test_get_is_not_allowed_and_oversized_bodies_are_refused(client):
    assert client.get(URL).status_code == 405
    response = post(client, None, raw=b"{" + b" " * (70 * 1024) + b"}")
    assert response.status_code == 413
    assert not OrderEvent.objects.exists()


def test_rate_limit_answers_429(client, member, store, settings):
    settings.ORDER_EVENTS_RATE_LIMIT = 3
    codes = [post(client, event("paid", order_id="NOPE", event_id=f"e{i}")).status_code for i in range(5)]
    assert codes[:3] == [422, 422, 422]
    assert codes[3:] == [429, 429]


# --- concurrency (PostgreSQL) ----------------------------------------------------------


def _post_together(payloads: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(payloads))
    results: list[int] = [0] * len(payloads)

    def worker(index: int, payload: dict) -> None:
        from django.db import connection

        try:
            client = Client()
            body = json.dumps(payload).encode()
            header = webhooks.sign(body=body, secret=SECRET)
            barrier.wait()
            response = client.post(URL, data=body, content_type="application/json", headers={"Shop-Signature": header})
            results[index] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, p)) for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("repeat", range(3))
def test_same_event_five_times_concurrently_is_one_inbox_row(settings, repeat):
    settings.ORDER_EVENTS_SECRETS = [SECRET]
    settings.ORDER_EVENTS_RATE_LIMIT = 10_000
    UserFactory(email="friend@example.com", date_joined=JOINED)
    StoreFactory(slug="pixel-gadgets")
    assert _post_together([placed()] * 5) == [200] * 5
    assert Order.objects.count() == 1 and OrderEvent.objects.count() == 1
    assert _post_together([event("paid")] * 5) == [200] * 5
    assert OrderEvent.objects.filter(event_id="evt-paid").count() == 1
    assert Order.objects.get().state == OrderState.PAID


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_orders_of_one_member_give_exactly_one_first(settings):
    settings.ORDER_EVENTS_SECRETS = [SECRET]
    settings.ORDER_EVENTS_RATE_LIMIT = 10_000
    UserFactory(email="friend@example.com", date_joined=JOINED)
    StoreFactory(slug="pixel-gadgets")
    payloads = [placed(order_id=f"SHOP-{i}", event_id=f"evt-{i}") for i in range(5)]
    assert _post_together(payloads) == [200] * 5
    assert Order.objects.count() == 5
    assert Order.objects.filter(is_first=True).count() == 1


# --- docs/program-rules.md G6, scenarios 2, end to end -------------------------------------------


def _iso(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _send_in_a_row(payload: dict, times: int) -> list[tuple[int, str]]:
    answers = [post(Client(), payload) for _ in range(times)]
    return [(a.status_code, a.json()["status"]) for a in answers]


def _send_together(payload: dict, times: int) -> list[tuple[int, str] | Exception]:
    """`times` deliveries through the real endpoint from real threads released together (tests/concurrency.py)."""

    def deliver(_: int) -> tuple[int, str]:
        answer = post(Client(), payload)
        return answer.status_code, answer.json()["status"]

    return race(times, deliver)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("repeat", range(3))
def test_order_completed_five_times_in_a_row_and_concurrently_is_one_inbox_row_and_one_reward(settings, repeat):
    """The same signed `order.completed` of a referred friend's first order, 5× concurrently and 5× in a row,
    through the real endpoint, referral hook and crediting: one inbox row per event id, one reward, all 2xx."""
    settings.ORDER_EVENTS_SECRETS = [SECRET]
    settings.ORDER_EVENTS_RATE_LIMIT = 10_000
    StoreFactory(slug="pixel-gadgets")
    now = timezone.now()
    # Friend A's completion arrives 5× at once, then 5× in a row; friend B's the other way round.
    friends = {
        "a": ReferralFactory(friend__email="friend-a@example.com", friend__date_joined=JOINED),
        "b": ReferralFactory(friend__email="friend-b@example.com", friend__date_joined=JOINED),
    }
    completions = {}
    for tag, referral in friends.items():
        order_id = f"SHOP-{tag.upper()}"
        first = placed(
            order_id=order_id,
            event_id=f"evt-{tag}-placed",
            occurred_at=_iso(now - timedelta(hours=2)),
            email=referral.friend.email,
        )
        first["order"]["payment"]["card_fingerprint"] = f"fp_friend_{tag}"
        paid = event("paid", order_id=order_id, event_id=f"evt-{tag}-paid", occurred_at=_iso(now - timedelta(hours=1)))
        assert _send_in_a_row(first, 1) == [(200, "processed")]
        assert _send_in_a_row(paid, 1) == [(200, "processed")]
        referral.refresh_from_db()
        assert referral.state == ReferralState.ORDER_PLACED
        completions[tag] = event(
            "completed",
            order_id=order_id,
            event_id=f"evt-{tag}-completed",
            occurred_at=_iso(now - timedelta(minutes=1)),
        )

    answers = {
        "a": _send_together(completions["a"], 5) + _send_in_a_row(completions["a"], 5),
        "b": _send_in_a_row(completions["b"], 5) + _send_together(completions["b"], 5),
    }
    for got in answers.values():
        assert not [a for a in got if isinstance(a, Exception)], got
        assert all(200 <= status < 300 for status, _ in got), got
        assert sorted(result for _, result in got) == ["duplicate"] * 9 + ["processed"], got

    # Crediting, synchronously: the sweep (twice, as two beat runs would) and the fast-path task for each referral.
    credit_due_referrals()
    for referral in friends.values():
        credit_referral_task(referral.pk)
    credit_due_referrals()

    for tag, referral in friends.items():
        for name in ("placed", "paid", "completed"):
            assert OrderEvent.objects.filter(event_id=f"evt-{tag}-{name}").count() == 1
        referral.refresh_from_db()
        assert referral.state == ReferralState.CREDITED
        rewards = Coupon.objects.filter(referral=referral, source=CouponSource.REFERRAL)
        assert rewards.count() == 1 and rewards.get().owner_id == referral.referrer_id
        assert LedgerEntry.objects.filter(coupon__referral=referral, event=LedgerEntry.Event.ISSUED).count() == 1
        assert MonthlyRewardCounter.objects.get(referrer=referral.referrer).count == 1
    assert OrderEvent.objects.count() == 6
    assert Coupon.objects.filter(source=CouponSource.REFERRAL).count() == 2


# --- Issue 16: JSON only, nothing dated in the future, nothing before the buyer's account ---------------------


def test_a_signed_body_sent_as_anything_but_json_is_415_and_stores_nothing(client, member, store):
    body = json.dumps(placed()).encode()
    headers = {"Shop-Signature": webhooks.sign(body=body, secret=SECRET)}
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonp"):
        response = client.post(URL, data=body, content_type=content_type, headers=headers)
        assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"
    assert not OrderEvent.objects.exists() and not Order.objects.exists()
    charset = client.post(URL, data=body, content_type="application/json; charset=utf-8", headers=headers)
    assert charset.status_code == 200


def test_an_event_dated_later_than_now_plus_the_tolerance_is_a_clear_422(client, member, store):
    now = timezone.now()
    ahead = (now + timedelta(seconds=300 + 60)).isoformat()
    response = post(client, placed(occurred_at=ahead))
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "occurred_in_future" and "later than now plus 300 s" in answer["message"]
    assert answer["details"]["field"] == "occurred_at"
    assert not OrderEvent.objects.exists() and not Order.objects.exists()
    # Within the clocks' accepted skew it is taken.
    assert post(client, placed(occurred_at=(now + timedelta(seconds=200)).isoformat())).status_code == 200


def test_a_lifecycle_event_days_ahead_is_refused_so_no_referral_waits_for_it(client, member, store):
    assert post(client, placed()).status_code == 200
    response = post(client, event("completed", occurred_at=(timezone.now() + timedelta(days=3)).isoformat()))
    assert response.status_code == 422 and response.json()["error"] == "occurred_in_future"
    assert Order.objects.get(external_id="SHOP-1").completed_at is None


def test_an_order_placed_before_the_buyers_account_existed_is_refused(client, store):
    UserFactory(email="late@example.com", date_joined=datetime(2026, 3, 5, tzinfo=UTC))
    response = post(client, placed(email="late@example.com", occurred_at="2026-03-02T10:00:00Z"))
    assert response.status_code == 422
    assert (
        response.json()["error"] == "placed_before_account"
        and "before the buyer's account" in (response.json()["message"])
    )
    assert not OrderEvent.objects.exists() and not Order.objects.exists()


def test_a_first_orders_completion_costs_a_fixed_number_of_statements_and_no_savepoint_of_its_own(client, store):
    """The endpoint's busiest event (docs/performance.md, issue 19): a referred friend's first order completing
    qualifies the referral in 17 statements (inbox claim, the order's lock with its card, its update, referral lock,
    referrer lock, card and burst facts, the referral's move and timeline row, the credit's outbox row, the buyer's
    points and level, the inbox result), with no savepoint beyond the event's own transaction (here nested in the
    test's)."""
    referral = ReferralFactory(friend__email="friend-q@example.com", friend__date_joined=JOINED)
    assert post(client, placed(email="friend-q@example.com")).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        answer = post(client, event("completed"))
    assert answer.status_code == 200, answer.json()
    referral.refresh_from_db()
    assert referral.state == ReferralState.QUALIFIED
    statements = [query["sql"] for query in queries.captured_queries]
    savepoints = [sql for sql in statements if sql.startswith("SAVEPOINT")]
    assert len(savepoints) == 1, statements  # the event's own (a transaction when not nested)
    assert len(statements) - 2 * len(savepoints) == 17, statements
