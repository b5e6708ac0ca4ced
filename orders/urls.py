from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("shop/", views.catalog, name="catalog"),
    path("orders/", views.my_orders, name="my_orders"),
]
