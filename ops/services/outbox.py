"""The transactional outbox: work that must follow a commit is a row written in the same transaction.

`enqueue_task` (publish a Celery task) and `enqueue_call` (call an idempotent function, e.g. an e-mail)
record the row; after commit `ops.dispatcher.kick` hands it to this process's dispatcher thread, which
dispatches it at once unless the broker is known to be down. `relay` (the `ops.tasks.relay_outbox` beat
job every few seconds, and each web process's dispatcher every `OUTBOX_POLL_SECONDS`) dispatches every
row still pending, so a row is never lost and a request never waits for Redis.

Dispatching a row claims it (`SELECT … FOR UPDATE SKIP LOCKED`), runs it and marks it dispatched in one
transaction, so two dispatchers never both run it; a row run twice anyway (a process dying between the
publish and the commit) changes nothing twice, because every target is idempotent (crediting is, an
e-mail checks and sets its own "sent" mark under a row lock). A broker outage leaves the row pending
without counting an attempt (the breaker decides when to try again); any other failure is counted and
retried with a growing delay, up to `MAX_ATTEMPTS`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from lib import sqlonce
from lib.breaker import is_outage
from lib.publish import broker_refuses_now, publish_task
from ops.models import OutboxMessage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # failures (not outages) before a row is left for staff (visible in the admin and metrics)
BATCH = 200
RELAY_TIME_BUDGET_SECONDS = 40  # below the relay task's 50 s soft time limit


def _kick_after_commit(message: OutboxMessage) -> None:
    from ops import dispatcher  # the dispatcher imports this module

    transaction.on_commit(lambda: dispatcher.kick(message.pk))


def enqueue_task(*, name: str, args: Sequence[Any] = (), publish_now: bool = True) -> OutboxMessage:
    """Record Celery task `name(*args)` in the current transaction; it is published after commit, or with
    `publish_now=False` by the next relay pass (within `ops.tasks.relay_outbox`'s schedule, seconds), which
    publishes in batches and merges the rows of a `merge_list_tasks` task into one message."""
    message = sqlonce.insert(OutboxMessage(kind=OutboxMessage.Kind.TASK, target=name, args=list(args)))
    if publish_now:
        _kick_after_commit(message)
    return message


# Tasks whose one argument is a list that may be merged: one relay pass publishes their rows as one message.
_MERGEABLE: set[str] = set()


def merge_list_tasks(name: str) -> None:
    """Let the relay merge pending rows of task `name`, whose only argument is a list: `name(a + b)` does what
    `name(a)` and `name(b)` do (e.g. e-mailing notices by their keys)."""
    _MERGEABLE.add(name)


def enqueue_call(*, target: str, args: Sequence[Any] = ()) -> OutboxMessage:
    """Record a call of the idempotent function at dotted path `target` in the current transaction."""
    import_string(target)  # a wrong path fails the write that names it, not a relay later
    message = sqlonce.insert(OutboxMessage(kind=OutboxMessage.Kind.CALL, target=target, args=list(args)))
    _kick_after_commit(message)
    return message


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** (attempts - 1), 1800))


def _run(message: OutboxMessage) -> None:
    if message.kind == OutboxMessage.Kind.TASK:
        publish_task(message.target, message.args)  # writes nothing here: no savepoint needed
    else:
        with transaction.atomic():  # the target's own writes roll back alone if it fails
            import_string(message.target)(*message.args)


def _dispatch_locked(message: OutboxMessage, *, skip_tasks: bool) -> str:
    """Run one claimed row inside the caller's transaction: 'dispatched', 'outage', 'skipped' or 'failed'."""
    if skip_tasks and message.kind == OutboxMessage.Kind.TASK:
        return "skipped"
    try:
        _run(message)
    except Exception as error:
        if message.kind == OutboxMessage.Kind.TASK and is_outage(error):
            return "outage"
        message.attempts += 1
        message.next_attempt_at = timezone.now() + _retry_delay(message.attempts)
        message.last_error = f"{type(error).__name__}: {error}"[:2000]
        message.save(update_fields=["attempts", "next_attempt_at", "last_error"])
        logger.warning("outbox %s %s failed (attempt %s)", message.pk, message, message.attempts, exc_info=True)
        return "failed"
    message.dispatched_at = timezone.now()
    with connection.cursor() as cursor:  # one row by key: no ORM query to build (every credit task dispatches one)
        cursor.execute(_MARK_SQL, [message.dispatched_at, message.pk])
    return "dispatched"


def _dispatch_merged(rows: list[OutboxMessage], *, skip_tasks: bool) -> str:
    """Publish claimed rows of one mergeable task as one message (their lists joined, each item once, in order),
    inside the caller's transaction: all dispatched, or all left pending (an outage) or all failed."""
    if skip_tasks:
        return "skipped"
    items = list(dict.fromkeys(item for row in rows for item in row.args[0]))
    merged = OutboxMessage(pk=rows[0].pk, kind=OutboxMessage.Kind.TASK, target=rows[0].target, args=[items])
    try:
        _run(merged)
    except Exception as error:
        if is_outage(error):
            return "outage"
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = timezone.now() + _retry_delay(row.attempts)
            row.last_error = f"{type(error).__name__}: {error}"[:2000]
            row.save(update_fields=["attempts", "next_attempt_at", "last_error"])
        logger.warning("outbox %s rows of %s failed", len(rows), rows[0].target, exc_info=True)
        return "failed"
    OutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(dispatched_at=timezone.now())
    return "dispatched"


def _pending():
    return OutboxMessage.objects.select_for_update(skip_locked=True).filter(
        dispatched_at__isnull=True, attempts__lt=MAX_ATTEMPTS
    )


_TABLE = OutboxMessage._meta.db_table
_MARK_SQL = f"UPDATE {_TABLE} SET dispatched_at = %s WHERE id = %s"  # noqa: S608 - our table name
_CLAIM_SQL = f"SELECT * FROM {_TABLE} WHERE id = %s AND dispatched_at IS NULL AND attempts < %s"  # noqa: S608


def _claim_one(pk: int) -> OutboxMessage | None:
    """`_pending().filter(pk=pk).first()` as SQL written once (the after-commit path runs it for every row)."""
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return next(iter(OutboxMessage.objects.raw(_CLAIM_SQL + lock, [pk, MAX_ATTEMPTS])), None)


def dispatch(ids: Iterable[int]) -> dict[str, int]:
    """Dispatch these rows now if still pending and not claimed elsewhere (the after-commit fast path)."""
    counts: dict[str, int] = {}
    skip_tasks = broker_refuses_now()
    for pk in ids:
        with transaction.atomic():
            message = _claim_one(pk)
            if message is None:
                continue
            outcome = _dispatch_locked(message, skip_tasks=skip_tasks)
        skip_tasks = skip_tasks or outcome == "outage"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def relay(*, batch: int = BATCH, time_budget: float = RELAY_TIME_BUDGET_SECONDS) -> dict[str, int]:
    """Dispatch every pending row that is due, oldest first, in batches; a broker outage stops the
    publishing (calls still run). Returns the counts of each outcome."""
    counts: dict[str, int] = {}
    started = time.monotonic()
    skip_tasks = broker_refuses_now()  # a known outage: only the calls (e-mails) go
    while time.monotonic() - started < time_budget:
        with transaction.atomic():
            query = _pending().filter(next_attempt_at__lte=timezone.now())
            if skip_tasks:
                query = query.exclude(kind=OutboxMessage.Kind.TASK)
            messages = list(query.order_by("next_attempt_at", "pk")[:batch])
            merged: dict[str, list[OutboxMessage]] = {}
            for message in messages:
                if message.kind == OutboxMessage.Kind.TASK and message.target in _MERGEABLE and not skip_tasks:
                    merged.setdefault(message.target, []).append(message)
                    continue
                outcome = _dispatch_locked(message, skip_tasks=skip_tasks)
                skip_tasks = skip_tasks or outcome == "outage"
                counts[outcome] = counts.get(outcome, 0) + 1
            for rows in merged.values():
                outcome = _dispatch_merged(rows, skip_tasks=skip_tasks)
                skip_tasks = skip_tasks or outcome == "outage"
                counts[outcome] = counts.get(outcome, 0) + len(rows)
        if len(messages) < batch:
            break
    if counts:
        logger.info("outbox relay: %s", counts)
    return counts


KEEP_DISPATCHED = timedelta(days=7)


def prune(*, now: datetime | None = None) -> int:
    """Delete rows dispatched more than KEEP_DISPATCHED ago (pending and failed rows stay); returns how many."""
    cutoff = (now or timezone.now()) - KEEP_DISPATCHED
    deleted, _ = OutboxMessage.objects.filter(dispatched_at__lt=cutoff).delete()
    return deleted


def has_due_rows() -> bool:
    return OutboxMessage.objects.filter(
        dispatched_at__isnull=True, attempts__lt=MAX_ATTEMPTS, next_attempt_at__lte=timezone.now()
    ).exists()
