"""The one base class for refusals a member or a shop can be told about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class DomainError(Exception):
    """A rule said no. `code` is the stable UPPER_SNAKE reason staff and logs see; `message` is the
    sentence a person reads (gettext / gettext_lazy: in the reader's language where it is shown). Views turn
    it into a form error, a message or a 4xx with the message; it is never a 500."""

    code: str = "REFUSED"
    # Lazy where it is defined once (a class attribute): it reads in the language active where it is shown.
    message: StrOrPromise = _("This request cannot be processed.")

    def __init__(self, message: StrOrPromise | None = None, *, code: str | None = None) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        return str(self.message)
