"""The last run of each periodic job (duration and rows), read by the metrics endpoint and staff."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F

from ops.models import JobRun


def count_rows(result: object) -> int:
    """Rows a job's return value reports: an int, a dict of counts, or a list of items."""
    if isinstance(result, bool):
        return 0
    if isinstance(result, int):
        return max(result, 0)
    if isinstance(result, dict):
        return sum(v for v in result.values() if isinstance(v, int) and not isinstance(v, bool))
    if isinstance(result, list | tuple):
        return len(result)
    return 0


def record_job_run(*, name: str, started_at: datetime, duration: float, rows: int) -> None:
    """Keep `name`'s last run and add it to its totals (one row per job, upserted)."""
    updated = JobRun.objects.filter(name=name).update(
        last_started_at=started_at,
        last_duration_seconds=duration,
        last_count=rows,
        runs=F("runs") + 1,
        rows=F("rows") + rows,
        seconds=F("seconds") + duration,
    )
    if not updated:
        JobRun.objects.get_or_create(
            name=name,
            defaults={
                "last_started_at": started_at,
                "last_duration_seconds": duration,
                "last_count": rows,
                "runs": 1,
                "rows": rows,
                "seconds": duration,
            },
        )
