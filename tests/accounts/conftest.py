import pytest

from accounts.sms import LocmemSMSBackend


@pytest.fixture(autouse=True)
def _empty_sms_outbox():
    """SMS go to a class-level list: every test starts and leaves it empty (the cache is emptied suite-wide)."""
    LocmemSMSBackend.outbox.clear()
    yield
    LocmemSMSBackend.outbox.clear()
