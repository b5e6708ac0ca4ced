import logging

from accounts.sms import ConsoleSMSBackend, LocmemSMSBackend, get_sms_backend, send_sms


def test_tests_use_the_locmem_backend_which_keeps_an_outbox():
    assert isinstance(get_sms_backend(), LocmemSMSBackend)
    send_sms(phone="+14155550123", message="hello")
    assert LocmemSMSBackend.outbox[-1].phone == "+14155550123"
    assert LocmemSMSBackend.outbox[-1].message == "hello"


def test_console_backend_logs_a_masked_number_and_never_the_message(caplog, settings):
    settings.SMS_BACKEND = "accounts.sms.ConsoleSMSBackend"
    assert isinstance(get_sms_backend(), ConsoleSMSBackend)
    with caplog.at_level(logging.INFO, logger="accounts.sms"):
        send_sms(phone="+14155550123", message="code 123456")
    assert "+1415•••••23" in caplog.text
    assert "+14155550123" not in caplog.text and "123456" not in caplog.text
