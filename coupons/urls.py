from django.urls import path

from coupons import views

app_name = "coupons"

urlpatterns = [
    path("", views.wallet, name="wallet"),
]
