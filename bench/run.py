"""Run every benchmark under bench/: each bench/*_bench.py module's main(). `make bench` calls this.

Benchmarks are never part of `make test`. Run one: `python bench/run.py pages` (name filter).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    wanted = argv[1:]
    failures = 0
    for file in sorted(HERE.glob("*_bench.py")):
        if wanted and not any(w in file.stem for w in wanted):
            continue
        print(f"=== {file.stem} ===", flush=True)
        spec = importlib.util.spec_from_file_location(f"bench.{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        started = time.monotonic()
        try:
            spec.loader.exec_module(module)
            result = module.main()
            failures += 1 if result not in (None, 0) else 0
        except Exception as exc:  # noqa: BLE001 - one benchmark failing must not hide the others
            failures += 1
            print(f"{file.stem} failed: {str(exc)[:300]}", flush=True)
        print(f"=== {file.stem}: {time.monotonic() - started:.1f}s ===\n", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
