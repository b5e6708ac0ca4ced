from django.contrib import admin
from django.urls import include, path

from referral_portal import views
from support.admin import dashboard, second_factor

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/dependencies", views.healthz_dependencies, name="healthz_dependencies"),
    path("metrics", views.metrics, name="metrics"),
    # Staff dashboard: before admin.site.urls, whose catch-all would answer 404.
    path("admin/dashboard/", admin.site.admin_view(dashboard.dashboard), name="staff_dashboard"),
    path(
        "admin/dashboard/referrals.csv",
        admin.site.admin_view(dashboard.export_referrals),
        name="staff_dashboard_export",
    ),
    # Staff who signed in with their password but have not entered an authenticator code yet.
    path("admin/second-factor/", second_factor.second_factor, name="staff_second_factor"),
    path("admin/second-factor/enrol/<str:token>/", second_factor.enrol_with_link, name="staff_second_factor_enrol"),
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
