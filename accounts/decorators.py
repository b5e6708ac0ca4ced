"""Guards for program actions (docs/program-rules.md section 6)."""

from __future__ import annotations

import logging
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from referrals.reasons import FLAGGED_MESSAGE

logger = logging.getLogger("accounts.refusals")


def refuse(request: HttpRequest, message: str, *, status: int = 403, reason_code: str = "") -> HttpResponse:
    """The one refusal page: same status and shape whatever the reason; the code goes to the log only."""
    if reason_code:
        logger.info("refused %s for user=%s: %s", request.path, getattr(request.user, "pk", None), reason_code)
    return render(request, "errors/refused.html", {"message": message}, status=status)


def program_refusal(request: HttpRequest) -> HttpResponse | None:
    """The security refusal for a signed-in member who may not take part in the program (flagged or suspended),
    else None: for views that are open to every member but have program actions inside (checkout)."""
    user = request.user
    if user.may_use_program:
        return None
    return refuse(request, FLAGGED_MESSAGE, reason_code=f"ACCOUNT_{user.status.upper()}:{user.status_reason}")


def program_member_required(view):
    """Logged-in members only; flagged or suspended accounts get the security refusal on every program action."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return program_refusal(request) or view(request, *args, **kwargs)

    return wrapper
