"""Signature verification and payload parsing: pure functions, no database."""

from __future__ import annotations

import json

import pytest

from orders import webhooks

BODY = b'{"id":"evt_1","type":"order.paid","occurred_at":"2026-03-02T10:00:00Z","order":{"id":"A-1"}}'
NOW = 1_780_000_000


def verify(header, body=BODY, secrets=("current",), now=NOW, tolerance=300):
    return webhooks.verify_signature(header=header, body=body, secrets=list(secrets), tolerance=tolerance, now=now)


def test_valid_signature_returns_its_timestamp():
    assert verify(webhooks.sign(body=BODY, secret="current", timestamp=NOW)) == NOW


def test_header_format_is_t_and_v1():
    header = webhooks.sign(body=BODY, secret="current", timestamp=NOW)
    t, v1 = header.split(",")
    assert t == f"t={NOW}"
    assert v1 == "v1=" + webhooks.compute_signature(secret="current", timestamp=NOW, body=BODY)
    assert len(v1) == 3 + 64


@pytest.mark.parametrize(
    ("header", "body", "code"),
    [
        (None, BODY, "signature_missing"),
        ("", BODY, "signature_missing"),
        ("garbage", BODY, "signature_malformed"),
        (f"t={NOW}", BODY, "signature_malformed"),
        ("v1=abc", BODY, "signature_malformed"),
        ("t=yesterday,v1=abc", BODY, "signature_malformed"),
        # Tampered body: signed one thing, sent another.
        (webhooks.sign(body=BODY, secret="current", timestamp=NOW), BODY.replace(b"A-1", b"A-2"), "signature_mismatch"),
        # Wrong secret.
        (webhooks.sign(body=BODY, secret="not-the-secret", timestamp=NOW), BODY, "signature_mismatch"),
        # Signed timestamp changed after signing.
        (
            webhooks.sign(body=BODY, secret="current", timestamp=NOW).replace(f"t={NOW}", f"t={NOW + 1}"),
            BODY,
            "signature_mismatch",
        ),
    ],
)
def test_bad_signatures_are_refused_with_a_reason(header, body, code):
    with pytest.raises(webhooks.SignatureError) as excinfo:
        verify(header, body=body)
    assert excinfo.value.code == code
    assert excinfo.value.status == 401


@pytest.mark.parametrize(("offset", "ok"), [(-301, False), (-300, True), (0, True), (300, True), (301, False)])
def test_timestamps_are_accepted_only_within_tolerance_both_ways(offset, ok):
    header = webhooks.sign(body=BODY, secret="current", timestamp=NOW + offset)
    if ok:
        assert verify(header) == NOW + offset
    else:
        with pytest.raises(webhooks.SignatureError) as excinfo:
            verify(header)
        assert excinfo.value.code == "timestamp_out_of_tolerance"


def test_rotation_accepts_the_old_and_the_new_secret():
    secrets = ("new", "old")
    assert verify(webhooks.sign(body=BODY, secret="old", timestamp=NOW), secrets=secrets) == NOW
    assert verify(webhooks.sign(body=BODY, secret="new", timestamp=NOW), secrets=secrets) == NOW
    # The shop may send one v1 per secret; one match is enough.
    assert verify(webhooks.sign(body=BODY, secret=["newest", "old"], timestamp=NOW), secrets=secrets) == NOW
    with pytest.raises(webhooks.SignatureError):
        verify(webhooks.sign(body=BODY, secret="retired", timestamp=NOW), secrets=secrets)


def test_no_configured_secret_refuses_everything():
    with pytest.raises(webhooks.SignatureError):
        verify(webhooks.sign(body=BODY, secret="", timestamp=NOW), secrets=())


PLACED = {
    "id": "evt_p",
    "type": "order.placed",
    "occurred_at": "2026-03-02T10:00:00+00:00",
    "member": {"email": "friend@example.com"},
    "order": {
        "id": "A-1",
        "lines": [{"store": "s", "name": "Shoes", "quantity": 2, "unit_price": "100.00", "sale_price": "70.00"}],
        "amount": {"total": "140.00", "currency": "usd"},
        "payment": {"card_fingerprint": "fp_123"},
    },
}


def test_parse_a_placed_event():
    event = webhooks.parse_event(json.dumps(PLACED).encode())
    assert (event.event_id, event.type, event.order_id, event.member_email) == (
        "evt_p",
        "order.placed",
        "A-1",
        "friend@example.com",
    )
    assert str(event.total) == "140.00" and event.currency == "USD" and event.card_fingerprint == "fp_123"
    assert event.lines[0].quantity == 2 and str(event.lines[0].sale_price) == "70.00"
    assert event.occurred_at.utcoffset().total_seconds() == 0


def _without(path: str) -> dict:
    data = json.loads(json.dumps(PLACED))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    del node[last]
    return data


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"[1, 2]", "malformed_json"),
        (json.dumps(_without("id")).encode(), "missing_field"),
        (json.dumps(_without("occurred_at")).encode(), "missing_field"),
        (json.dumps(_without("member")).encode(), "missing_field"),
        (json.dumps(_without("order.amount")).encode(), "missing_field"),
        (json.dumps(_without("order.payment")).encode(), "missing_field"),
        (json.dumps({**PLACED, "type": "order.exploded"}).encode(), "unknown_event_type"),
        (json.dumps({**PLACED, "occurred_at": "2026-03-02T10:00:00"}).encode(), "invalid_field"),
        (json.dumps({**PLACED, "occurred_at": "yesterday"}).encode(), "invalid_field"),
        (json.dumps({**PLACED, "order": {**PLACED["order"], "lines": []}}).encode(), "missing_field"),
        (
            json.dumps(
                {**PLACED, "order": {**PLACED["order"], "lines": [{**PLACED["order"]["lines"][0], "quantity": 0}]}}
            ).encode(),
            "invalid_field",
        ),
        (
            json.dumps({**PLACED, "order": {**PLACED["order"], "amount": {"total": "-1", "currency": "USD"}}}).encode(),
            "invalid_field",
        ),
        (
            json.dumps({"id": "e", "type": "order.paid", "occurred_at": "2026-03-02T10:00:00Z"}).encode(),
            "missing_field",
        ),
    ],
)
def test_bad_payloads_get_a_400_naming_the_problem(body, code):
    with pytest.raises(webhooks.WebhookError) as excinfo:
        webhooks.parse_event(body)
    assert excinfo.value.status == 400
    assert excinfo.value.code == code
