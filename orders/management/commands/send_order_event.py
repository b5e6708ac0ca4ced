"""Sign and send one sample order event to a running portal (for shop integrators and demos)."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders import webhooks


def sample_event(*, event_type: str, order_id: str, email: str, occurred_at: datetime, event_id: str = "") -> dict:
    """A valid event body of `event_type` (order.placed carries the member, lines, amount and card)."""
    body = {
        "id": event_id or f"evt_{secrets.token_hex(8)}",
        "type": event_type,
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "order": {"id": order_id},
    }
    if event_type == "order.placed":
        body["member"] = {"email": email}
        body["order"].update(
            {
                "lines": [
                    {
                        "store": "pixel-gadgets",
                        "name": "Wireless earbuds",
                        "quantity": 1,
                        "unit_price": "79.00",
                        "sale_price": "59.00",
                    }
                ],
                "amount": {"total": "59.00", "currency": "USD"},
                "payment": {"card_fingerprint": "fp_demo_" + secrets.token_hex(6)},
            }
        )
    return body


class Command(BaseCommand):
    help = "Sign a sample order event with the webhook secret and POST it to /api/order-events/."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of the running portal.")
        parser.add_argument("--type", default="order.placed", choices=webhooks.EVENT_TYPES, dest="event_type")
        parser.add_argument("--order", default="", help="External order id (new one for order.placed by default).")
        parser.add_argument("--email", default="member@example.com", help="Member e-mail (order.placed).")
        parser.add_argument("--event-id", default="", help="Event id (random by default; reuse it to see dedup).")
        parser.add_argument("--occurred-at", default="", help="ISO 8601 time the event happened (default: now).")
        parser.add_argument("--secret", default="", help="Signing secret (default: first ORDER_EVENTS_SECRETS).")
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, **options):
        secret = options["secret"] or (settings.ORDER_EVENTS_SECRETS or [""])[0]
        if not secret:
            raise CommandError("No secret: pass --secret or set ORDER_EVENTS_SECRETS.")
        order_id = options["order"] or ("SHOP-" + secrets.token_hex(4).upper())
        if options["event_type"] != "order.placed" and not options["order"]:
            raise CommandError("--order is required for events other than order.placed.")
        try:
            occurred_at = (
                datetime.fromisoformat(options["occurred_at"].replace("Z", "+00:00"))
                if options["occurred_at"]
                else datetime.now(tz=UTC)
            )
        except ValueError:
            raise CommandError("--occurred-at must be an ISO 8601 date-time.") from None
        payload = sample_event(
            event_type=options["event_type"],
            order_id=order_id,
            email=options["email"],
            occurred_at=occurred_at,
            event_id=options["event_id"],
        )
        body = json.dumps(payload, separators=(",", ":")).encode()
        url = options["url"].rstrip("/") + "/api/order-events/"
        if not url.startswith(("http://", "https://")):
            raise CommandError("--url must be an http(s) URL.")
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                webhooks.SIGNATURE_HEADER: webhooks.sign(body=body, secret=secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=options["timeout"]) as response:  # noqa: S310
                status, answer = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read().decode()
        except urllib.error.URLError as exc:
            raise CommandError(f"Could not reach {url}: {exc.reason}") from None
        self.stdout.write(f"POST {url} {payload['type']} order={order_id} event={payload['id']}")
        self.stdout.write(f"-> {status} {answer}")
        if status >= 400:
            raise CommandError(f"The portal refused the event ({status}).")
