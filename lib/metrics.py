"""Counters kept in each process (Prometheus); what the database knows is read at scrape time instead
(referral_portal/monitoring.py). With several web processes set PROMETHEUS_MULTIPROC_DIR (docs/deployment.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpResponse
from prometheus_client import Counter

ORDER_EVENTS = Counter("portal_order_events", "Shop order events answered, by HTTP status.", ["status"])


def count_order_event_answers(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Count each answer of the order-events view by status (200 processed/duplicate, 4xx refusals)."""

    @functools.wraps(view)
    def counted(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        ORDER_EVENTS.labels(status=str(response.status_code)).inc()
        return response

    return counted
