"""Bench-only Celery task (imported by the worker under bench.bench_settings, never by the portal)."""

from celery import shared_task


@shared_task(acks_late=True)
def noop(i: int) -> None:
    """The baseline of bench/celery_bench.py: a task that does nothing, on the same broker and worker."""
