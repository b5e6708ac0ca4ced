from django.urls import path

from referrals import views

app_name = "referrals"

urlpatterns = [
    path("invite/", views.invite, name="invite"),
    path("invite/qr.svg", views.invite_qr, name="invite_qr"),
    path("invite/rules/", views.rules, name="rules"),
    path("invite/friends/<int:referral_id>/remind/", views.remind, name="remind"),
    path("invite/my-invitation/", views.my_invitation, name="my_invitation"),
    path("r/<str:code>", views.click, name="click"),
    path("r/<str:code>/", views.click),
    path("join/", views.landing, name="landing"),
]
