from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import forms, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.MemberLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path("phone/", views.phone, name="phone"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read_all"),
    path("notifications/<int:notice_id>/read/", views.notifications_read, name="notification_read"),
    path("rewards/", views.rewards, name="rewards"),
    path("rewards/check-in/", views.rewards_check_in, name="check_in"),
    path("rewards/exchange/", views.rewards_exchange, name="exchange_coins"),
    path("rewards/events/<int:campaign_id>/collect/", views.rewards_collect, name="collect_event"),
    path("phone/confirm/", views.phone_confirm, name="phone_confirm"),
    path("verify-email/resend/", views.resend_verification, name="resend_verification"),
    path("verify-email/<str:token>/", views.verify_email, name="verify_email"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("accounts:password_change_done")),
        name="password_change",
    ),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            success_url=reverse_lazy("accounts:password_reset_done"),
            form_class=forms.MemberPasswordResetForm,
            email_template_name="emails/password_reset.txt",
            subject_template_name="emails/password_reset.subject",
        ),
        name="password_reset",
    ),
    path("password/reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "reset/<uidb64>/<token>/",
        views.MemberPasswordResetConfirmView.as_view(success_url=reverse_lazy("accounts:password_reset_complete")),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
