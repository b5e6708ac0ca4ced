"""Posting one signed event to one endpoint: short timeouts, no redirects, never raises (an answer or an error).

Signed like the shop's events to the portal (orders.webhooks, docs/order-events.md):
`Referral-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, one v1 per secret during a rotation.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from orders.webhooks import sign

SIGNATURE_HEADER = "Referral-Signature"
USER_AGENT = "ReferralPortal-Events/1"


@dataclass(frozen=True)
class PostResult:
    status_code: int | None  # None: no HTTP answer (refused, timed out, DNS, TLS …)
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer, not a success: the receiver's address is the registered one


_opener = urllib.request.build_opener(_NoRedirect)


def post_event(
    *, url: str, body: bytes, secrets: Sequence[str], event_id: str, event_type: str, timeout: float
) -> PostResult:
    """POST `body` to `url` with its signature; `timeout` bounds the connection and each read."""
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked when the endpoint is saved
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(body=body, secret=[s for s in secrets if s]),
            "Referral-Event-Id": event_id,
            "Referral-Event-Type": event_type,
        },
    )
    started = time.monotonic()
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1024)
            status, error = response.status, ""
    except urllib.error.HTTPError as answer:
        status, error = answer.code, f"HTTP {answer.code}"
    except Exception as failure:  # noqa: BLE001 - any failure to get an answer is a failed attempt
        status, error = None, f"{failure.__class__.__name__}: {failure}"[:300]
    return PostResult(status_code=status, error=error, duration_ms=int((time.monotonic() - started) * 1000))
