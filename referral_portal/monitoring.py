"""What monitoring reads: the dependency report (/healthz/dependencies) and Prometheus metrics (/metrics).

Both answer only staff (signed in, second factor when required) or a scraper sending
`Authorization: Bearer <METRICS_TOKEN>`. Database figures are read at scrape time (any web process gives
the same answer); the breaker states and answer counters are the serving process's own, aggregated over
processes when PROMETHEUS_MULTIPROC_DIR is set (docs/deployment.md).
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from lib import breaker
from lib.publish import broker_is_redis
from ops import selectors as ops_selectors
from referral_portal.celery import app
from referrals.selectors.health import crediting_lag

logger = logging.getLogger(__name__)


def monitoring_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    return not settings.STAFF_REQUIRE_2FA or bool(getattr(user, "is_verified", lambda: False)())


# --- Checks --------------------------------------------------------------------------------------------------


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("health: database check failed")
        return False


def cache_ok() -> bool:
    """One round trip to the shared cache (through its breaker: an open breaker answers at once)."""
    try:
        cache.set("healthz:probe", "1", timeout=10)
        return cache.get("healthz:probe") == "1"
    except Exception:
        logger.warning("health: cache check failed", exc_info=True)
        return False


def broker_ok() -> bool:
    """Connect to the broker (2 s at most; through its breaker when it is Redis)."""
    try:
        if broker_is_redis():
            with breaker.breaker_for(app.conf.broker_url).guard(), app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        else:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.warning("health: broker check failed", exc_info=True)
        return False


def dependency_report() -> tuple[dict, list[str]]:
    """Every dependency's state and the backlog figures; the names of what is down."""
    now = timezone.now()
    checks = {"database": database_ok(), "cache": cache_ok(), "broker": broker_ok()}
    report: dict = {name: "ok" if ok else "down" for name, ok in checks.items()}
    down = [name for name, ok in checks.items() if not ok]
    if checks["database"]:
        outbox = ops_selectors.outbox_stats(now=now)
        oldest_due, delayed = crediting_lag(now=now)
        report |= {
            "outbox_pending": outbox.pending,
            "outbox_oldest_pending_seconds": round(outbox.oldest_pending_seconds, 1),
            "outbox_failed": outbox.failed,
            "oldest_uncredited_seconds": round(oldest_due, 1),
            "referrals_technical_delay": delayed,
            "parked_tasks": ops_selectors.parked_task_count(),
        }
    report["redis_breakers"] = {b.server: b.state for b in breaker.all_breakers()}
    return report, down


# --- Prometheus ------------------------------------------------------------------------------------------------


class PortalCollector:
    """Gauges read from the database and this process's breakers at scrape time."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        oldest_due, delayed = crediting_lag(now=now)
        yield GaugeMetricFamily(
            "portal_oldest_uncredited_seconds",
            "Seconds since the oldest reward still owed (qualified, not credited) became due; 0 if none.",
            value=oldest_due,
        )
        yield GaugeMetricFamily(
            "portal_referrals_technical_delay", "Referrals flagged TECHNICAL_DELAY, still not credited.", value=delayed
        )
        outbox = ops_selectors.outbox_stats(now=now)
        yield GaugeMetricFamily("portal_outbox_pending", "Outbox rows not dispatched yet.", value=outbox.pending)
        yield GaugeMetricFamily(
            "portal_outbox_oldest_pending_seconds",
            "Age of the oldest outbox row not dispatched yet; 0 if none.",
            value=outbox.oldest_pending_seconds,
        )
        yield GaugeMetricFamily(
            "portal_outbox_failed", "Outbox rows given up after repeated failures.", value=outbox.failed
        )
        yield GaugeMetricFamily(
            "portal_parked_tasks",
            "Tasks parked after repeated deliveries, not retried yet.",
            value=ops_selectors.parked_task_count(),
        )
        yield from self._jobs(now)
        yield from self._breakers()

    def _jobs(self, now) -> Iterator[Metric]:
        families = {
            "duration": GaugeMetricFamily(
                "portal_job_last_duration_seconds", "Duration of the job's last run.", labels=["job"]
            ),
            "rows": GaugeMetricFamily("portal_job_last_rows", "Rows the job's last run handled.", labels=["job"]),
            "age": GaugeMetricFamily(
                "portal_job_last_run_age_seconds", "Seconds since the job's last run started.", labels=["job"]
            ),
            "runs": CounterMetricFamily("portal_job_runs", "Runs of the job.", labels=["job"]),
            "rows_total": CounterMetricFamily(
                "portal_job_rows", "Rows handled by the job in all runs.", labels=["job"]
            ),
            "seconds": CounterMetricFamily(
                "portal_job_seconds", "Seconds spent in the job in all runs.", labels=["job"]
            ),
        }
        for run in ops_selectors.job_runs():
            families["duration"].add_metric([run.name], run.last_duration_seconds)
            families["rows"].add_metric([run.name], run.last_count)
            families["age"].add_metric([run.name], max((now - run.last_started_at).total_seconds(), 0.0))
            families["runs"].add_metric([run.name], run.runs)
            families["rows_total"].add_metric([run.name], run.rows)
            families["seconds"].add_metric([run.name], run.seconds)
        yield from families.values()

    def _breakers(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "portal_redis_breaker_state",
            "This process's Redis circuit breaker: 0 closed, 1 half-open, 2 open.",
            labels=["server"],
        )
        opened = CounterMetricFamily(
            "portal_redis_breaker_opened", "Times this process's breaker opened.", labels=["server"]
        )
        for item in breaker.all_breakers():
            state.add_metric([item.server], breaker.STATE_VALUES[item.state])
            opened.add_metric([item.server], item.opened_total)
        yield state
        yield opened


def prometheus_text() -> bytes:
    portal = CollectorRegistry(auto_describe=False)
    portal.register(PortalCollector())  # type: ignore[arg-type]
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    return generate_latest(portal) + generate_latest(counters)
