"""Request and task ids on every log line."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ContextFilter(logging.Filter):
    """Adds `request_id` and `task_id` to every record (``-`` when absent)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        task_id = "-"
        try:
            from celery import current_task

            if current_task and current_task.request and current_task.request.id:
                task_id = current_task.request.id
        except Exception:  # noqa: BLE001, S110 - logging must never fail
            pass
        record.task_id = task_id
        return True


class RequestIdMiddleware:
    """Takes X-Request-ID from the proxy when it is sane, else makes one; echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response
