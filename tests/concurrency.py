"""Real-thread races for the concurrency tests (PostgreSQL; SQLite serialises writers)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def race(n: int, work: Callable[[int], object]) -> list:
    """Run work(0..n-1) in n threads released together by a Barrier; each result or exception, in order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the test
            results[i] = exc
        finally:
            connection.close()  # each thread has its own connection; don't leak it

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def run_together(count: int, work: Callable[[int], object]) -> tuple[list, list]:
    """`race`, split into (results, errors)."""
    outcomes = race(count, work)
    return (
        [o for o in outcomes if not isinstance(o, Exception)],
        [o for o in outcomes if isinstance(o, Exception)],
    )
