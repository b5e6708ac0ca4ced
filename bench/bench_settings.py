"""Settings for benchmarks only: production settings plus the bench-only URLs and templates.

Used as DJANGO_SETTINGS_MODULE=bench.bench_settings by bench/pages_bench.py and bench/click_bench.py; never
by the running portal, so the bare comparison views are not reachable in production.
"""

from referral_portal.settings import *  # noqa: F403
from referral_portal.settings import BASE_DIR, TEMPLATES

ROOT_URLCONF = "bench.urls"
# The bare page's templates (bench/templates/bench/*.html), found by the same cached loader.
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]
# The no-op task of bench/celery_bench.py.
CELERY_IMPORTS = ("bench.tasks",)
