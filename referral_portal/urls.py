from django.contrib import admin
from django.urls import include, path

from referral_portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("referrals.urls")),
    path("coupons/", include("coupons.urls")),
    path("", include("orders.urls")),
    path("support/", include("support.urls")),
]

handler404 = "referral_portal.views.not_found"
handler403 = "referral_portal.views.forbidden"
handler500 = "referral_portal.views.server_error"
