"""Celery adapters of operations: the base class of every task (parking, job runs) and the outbox relay."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone

from ops.services import deliveries, jobs, outbox

logger = logging.getLogger(__name__)


class PortalTask(DjangoTask):
    """Every task of the portal (`Celery(task_cls=…)` in referral_portal/celery.py).

    - A message the broker delivers again (its worker died or restarted mid-run) is counted; past
      `deliveries.MAX_DELIVERIES` it is parked for staff and acknowledged without running.
    - A periodic job (a task named in the beat schedule) records its duration and rows (`ops.JobRun`).
    """

    def __call__(self, *args, **kwargs):
        request = self.request
        if request.called_directly:
            return super().__call__(*args, **kwargs)
        if (request.delivery_info or {}).get("redelivered") and request.id:
            delivery = deliveries.record_redelivery(
                task_id=request.id, task_name=self.name, args=list(args), kwargs=dict(kwargs)
            )
            if delivery.parked_at is not None:
                return None
        if self.name not in {entry["task"] for entry in self.app.conf.beat_schedule.values()}:
            return self.run(*args, **kwargs)
        started_at, started = timezone.now(), time.monotonic()
        result = self.run(*args, **kwargs)
        try:
            jobs.record_job_run(
                name=self.name, started_at=started_at, duration=time.monotonic() - started, rows=jobs.count_rows(result)
            )
        except Exception:  # the job's work is done; only its statistics are missing
            logger.warning("could not record the run of %s", self.name, exc_info=True)
        return result


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def relay_outbox() -> dict[str, int]:
    return outbox.relay()


@shared_task(acks_late=True, soft_time_limit=250, time_limit=300)
def prune_outbox() -> int:
    return outbox.prune()
