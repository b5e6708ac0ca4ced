import pytest
from django.core.cache import cache

from accounts.sms import LocmemSMSBackend


@pytest.fixture(autouse=True)
def _clean_cache_and_sms_outbox():
    """Rate-limit counters live in the cache and SMS in a class list: start every test empty."""
    cache.clear()
    LocmemSMSBackend.outbox.clear()
    yield
    LocmemSMSBackend.outbox.clear()
