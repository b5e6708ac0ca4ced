"""Audited staff actions for the admin: an intermediate form asks why, then one service call per object.

Every admin action of the support console goes through `run_staff_action`, so
each change is made by a service and leaves an AuditLog row in the same
transaction (who, what, when, why). A custom staff page that changes state calls
`perform_and_audit` the same way, and declares its permission with `staff_view`.
Both are checked for every registered action and page by tests/support/test_staff_powers.py
(docs/architecture.md, "Staff actions").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from lib.errors import DomainError
from support.audit import record_staff_action

logger = logging.getLogger(__name__)

# More rows than this in one action is almost certainly a mis-click on "select all".
MAX_OBJECTS_PER_ACTION = 200


class ActionRefused(DomainError):
    """The object is not in a state that allows the action; the message is shown to staff."""

    code = "ACTION_REFUSED"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why you are doing this. Kept in the audit log (and the ledger where money moves).",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if len(reason) < 5:
            raise forms.ValidationError("Give a reason of at least 5 characters.")
        return reason


class OptionalNoteForm(forms.Form):
    reason = forms.CharField(
        label="Note (optional)",
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


Perform = Callable[[models.Model, dict], dict | None]


# For a page that runs one of the admin's actions on one object (`run_object_action`): the permission is the one that
# action declares, checked by `run_object_action` through `get_actions`.
ACTION_PERMISSION = "the admin action's own permission"


def staff_view(*, permission: str | None, changes_state: bool):
    """Declare what a custom admin page needs: `permission` ("app.codename", checked here before the view runs;
    None only for a page every staff member may read) and whether it changes state (then it must go through
    `perform_and_audit`). Put it innermost, under `admin_site.admin_view` or the URLconf's wrapper."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            # A plain view gets (request, ...); a ModelAdmin method (self, request, ...).
            request = next(arg for arg in args if isinstance(arg, HttpRequest))
            if permission not in (None, ACTION_PERMISSION) and not request.user.has_perm(permission):
                raise PermissionDenied
            return view(*args, **kwargs)

        guarded.staff_permission = permission  # type: ignore[attr-defined]
        guarded.staff_changes_state = changes_state  # type: ignore[attr-defined]
        return guarded

    return decorate


def run_staff_action(
    modeladmin,
    request: HttpRequest,
    queryset: Iterable[models.Model],
    *,
    action: str,
    title: str,
    perform: Perform,
    form_class: type[forms.Form] = ReasonForm,
    intro: str = "",
    submit_label: str = "Confirm",
    done_message: str = "{count} done.",
) -> HttpResponse | None:
    """Ask for the form first; once confirmed and valid, perform the action on each object with an audit row.

    `perform(obj, cleaned_data)` calls the service and returns details for the audit row; it raises
    ActionRefused (or the service's own error) to skip an object with a message. Each object is its
    own transaction, so one refusal does not undo the others.
    """
    objects = list(queryset[: MAX_OBJECTS_PER_ACTION + 1])
    if len(objects) > MAX_OBJECTS_PER_ACTION:
        modeladmin.message_user(
            request, f"Select at most {MAX_OBJECTS_PER_ACTION} rows for this action.", messages.ERROR
        )
        return None
    form = form_class(request.POST if "confirm" in request.POST else None)
    if form.is_bound and form.is_valid():
        done, refused = perform_and_audit(
            request=request, objects=objects, action=action, perform=perform, data=form.cleaned_data
        )
        if done:
            modeladmin.message_user(request, done_message.format(count=done), messages.SUCCESS)
        for text in refused:
            modeladmin.message_user(request, text, messages.WARNING)
        return None
    if form.is_bound and form.errors:
        # Focus goes to the first field to correct; the summary above the form says what is wrong.
        first = next((name for name in form.fields if name in form.errors), None)
        if first:
            form.fields[first].widget.attrs["autofocus"] = True
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": modeladmin.model._meta,
        "objects": objects,
        "form": form,
        "action_name": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "submit_label": submit_label,
        "form_action": "",
    }
    return TemplateResponse(request, "admin/staff_action_form.html", context)


def run_object_action(
    modeladmin, request: HttpRequest, *, object_id: str, action: str, back_url: str, done_url: str | None = None
) -> HttpResponse:
    """One of the admin's audited actions, on one object, from that object's own page.

    The action is looked up among `modeladmin.get_actions(request)`, so the permission its `@admin.action`
    declares is checked exactly as on the list; it then runs through `run_staff_action` (reason form,
    service call, audit row in the same transaction). Confirmed: back to `done_url` (default `back_url`)
    with the result as a message; not yet confirmed or invalid: the reason form, whose Cancel returns to
    `back_url`.
    """
    actions = modeladmin.get_actions(request)
    if action not in getattr(modeladmin, "object_actions", ()) or action not in actions:
        raise PermissionDenied
    queryset = modeladmin.get_queryset(request).filter(pk=object_id)
    if not queryset.exists():
        raise Http404
    func = actions[action][0]
    response = func(modeladmin, request, queryset)
    if response is None:
        return HttpResponseRedirect(done_url or back_url)
    response.context_data["back_url"] = back_url
    response.context_data["form_action"] = request.path
    return response


def perform_and_audit(
    *, request: HttpRequest, objects: Iterable[models.Model], action: str, perform: Perform, data: dict
) -> tuple[int, list[str]]:
    """Perform on each object in its own transaction with its audit row; returns (done, refusal messages)."""
    # What tests/support/test_staff_powers.py reads back (response.wsgi_request) to prove the audited path ran.
    request.audited_staff_actions = [*getattr(request, "audited_staff_actions", []), action]  # type: ignore[attr-defined]
    done, refused = 0, []
    for obj in objects:
        try:
            with transaction.atomic():
                details = perform(obj, data) or {}
                record_staff_action(
                    actor=request.user, action=action, target=obj, reason=data.get("reason", ""), details=details
                )
            done += 1
        except DomainError as error:  # ActionRefused or the service's own refusal: its message says why
            refused.append(f"{obj}: {error}")
        except Exception as error:  # a service refusal must not 500 the whole batch
            logger.exception("staff action %s on %s failed", action, obj.pk)
            refused.append(f"{obj}: not done ({error.__class__.__name__}: {error})")
    return done, refused
