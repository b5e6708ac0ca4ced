"""Settings for benchmarks only: production settings plus the bench-only URLs.

Used as DJANGO_SETTINGS_MODULE=bench.bench_settings by bench/pages_bench.py; never by the
running portal, so the bare comparison page is not reachable in production.
"""

from referral_portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
