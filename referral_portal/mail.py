"""E-mail on the console for `make run`: one short summary per message instead of the raw MIME text.

`EMAIL_URL=consolemail://` (the default) uses this backend unless `EMAIL_CONSOLE=full` asks for Django's
console backend, which prints every message whole (headers, both parts).
"""

from __future__ import annotations

import re
import sys
import threading

from django.core.mail.backends.base import BaseEmailBackend

_LINK = re.compile(r"https?://\S+")


def summary(message) -> str:
    """`e-mail to a@b: Subject → link …`: who, what, and the links a developer may want to open."""
    links = list(dict.fromkeys(_LINK.findall(message.body or "")))
    line = f"e-mail to {', '.join(message.to)}: {message.subject}"
    return line + (f" → {' '.join(links)}" if links else "")


class SummaryConsoleBackend(BaseEmailBackend):
    """Writes one line per message to stdout; sends nothing."""

    def __init__(self, *args, stream=None, **kwargs) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def send_messages(self, email_messages) -> int:
        if not email_messages:
            return 0
        with self._lock:
            for message in email_messages:
                self.stream.write(summary(message) + "\n")
            self.stream.flush()
        return len(email_messages)
