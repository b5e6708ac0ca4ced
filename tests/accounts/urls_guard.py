"""A tiny program action behind program_member_required, plus the site's own URLs."""

from django.http import HttpResponse
from django.urls import path

from accounts.decorators import program_member_required, refuse
from referral_portal.urls import urlpatterns as site_urlpatterns


@program_member_required
def program_action(request):
    return HttpResponse("program action done")


def other_refusal(request):
    return refuse(request, "OTHER REASON", reason_code="OTHER")


urlpatterns = [
    path("test/program-action/", program_action, name="test_program_action"),
    path("test/other-refusal/", other_refusal, name="test_other_refusal"),
    *site_urlpatterns,
]
