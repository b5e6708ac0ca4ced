"""What the in-process profilers share (bench/profile_pages.py, bench/profile_staff_pages.py): profile a request
repeated N times with cProfile and add each function's own time to the bucket its file belongs to."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = str(ROOT) + "/"


def bucket_of(filename: str, buckets: Sequence[tuple[str, tuple[str, ...]]], *, ours: str, other: str) -> str:
    """The bucket of a function's file: ours (the project's own code), the first of `buckets` whose parts the path
    contains, or `other`."""
    if filename.startswith(OURS) and "/.venv/" not in filename:
        return ours
    for name, parts in buckets:
        if any(part in filename for part in parts):
            return name
    return other


def profile(request: Callable[[], object], times: int, bucket: Callable[[str], str]) -> pstats.Stats:
    """Run `request` `times` times under cProfile; print each bucket's ms per request and share; the stats."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(times):
        request()
    profiler.disable()
    stats = pstats.Stats(profiler)
    spent: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        spent[bucket(filename)] = spent.get(bucket(filename), 0.0) + tottime
    total = sum(spent.values()) or 1.0
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {name:40} {seconds * 1000 / times:7.2f} ms  {seconds / total:6.1%}")
    return stats
