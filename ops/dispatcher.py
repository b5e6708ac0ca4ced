"""This process's outbox dispatcher: after a commit, the rows just written are dispatched here, off the
request thread, so a request never waits on the broker (docs/deployment.md, "Redis outage").

`OUTBOX_DISPATCH = "thread"` (web processes): one daemon thread per process takes row ids from a queue,
dispatches them, and every `OUTBOX_POLL_SECONDS` probes a Redis whose breaker is half-open (so no request
ever pays for a probe) and relays whatever is still pending, so the backlog of a
broker outage drains within seconds of the broker answering again (each process's breaker lets one probe
through per cool-down). `"inline"` (tests, Celery workers, commands): the row is dispatched right after
commit in the calling thread; the beat relay still covers anything left.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from lib import breaker
from ops.services import outbox

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_queue: queue.SimpleQueue[int] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_pid: int | None = None
_mode: str | None = None  # overrides settings.OUTBOX_DISPATCH (a Celery worker sets "inline")


def use(mode: str | None) -> None:
    """Force this process's mode ("thread" or "inline"); None = settings.OUTBOX_DISPATCH."""
    global _mode
    _mode = mode


def mode() -> str:
    return _mode or settings.OUTBOX_DISPATCH


def kick(pk: int) -> None:
    """Dispatch outbox row `pk` soon; never raises, never waits on the broker in thread mode."""
    if mode() == "inline":
        try:
            outbox.dispatch([pk])
        except Exception:
            logger.warning("outbox %s: dispatch after commit failed; the relay will retry", pk, exc_info=True)
        return
    _ensure_thread()
    _queue.put(pk)


def _ensure_thread() -> None:
    global _thread, _pid, _queue
    with _lock:
        if _thread is not None and _thread.is_alive() and _pid == os.getpid():
            return
        if _pid != os.getpid():  # forked: the parent's queue and thread are not ours
            _queue = queue.SimpleQueue()
        _pid = os.getpid()
        _thread = threading.Thread(target=_loop, name="outbox-dispatcher", daemon=True)
        _thread.start()


_STOP = -1


def stop(timeout: float = 10) -> None:
    """Let this process's dispatcher thread finish its pass and end (a test, a graceful shutdown)."""
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None and thread.is_alive():
        _queue.put(_STOP)
        thread.join(timeout)


def _take_all(first: int) -> list[int]:
    ids = [first]
    while len(ids) < outbox.BATCH:
        try:
            pk = _queue.get_nowait()
        except queue.Empty:
            break
        if pk == _STOP:
            _queue.put(_STOP)  # seen by the loop after this pass
            break
        ids.append(pk)
    return ids


def _loop() -> None:
    breaker.set_prober_thread(threading.get_ident())
    last_relay = time.monotonic()
    while True:
        wait = max(0.0, settings.OUTBOX_POLL_SECONDS - (time.monotonic() - last_relay))
        try:
            pk: int | None = _queue.get(timeout=wait)
        except queue.Empty:
            pk = None
        if pk == _STOP:
            breaker.set_prober_thread(None)
            connection.close()
            return
        try:
            close_old_connections()
            if pk is not None:
                outbox.dispatch(_take_all(pk))
            # Even under steady traffic: what an outage left behind drains as soon as the broker answers.
            if time.monotonic() - last_relay >= settings.OUTBOX_POLL_SECONDS:
                last_relay = time.monotonic()
                breaker.probe_all()
                if outbox.has_due_rows():
                    outbox.relay()
        except Exception:
            logger.exception("outbox dispatcher: pass failed; the next pass retries")
        finally:
            close_old_connections()
