from django.urls import path

from support import views

app_name = "support"

urlpatterns = [
    path("", views.request_list, name="list"),
    path("<int:pk>/", views.request_detail, name="detail"),
    path("referrals/<int:referral_id>/open/", views.open_for_referral, name="open"),
    path("appeal/", views.appeal, name="appeal"),
]
