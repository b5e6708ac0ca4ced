from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("shop/", views.catalog, name="catalog"),
    path("shop/stores/<slug:slug>/", views.store_page, name="store"),
    path("shop/stores/<slug:slug>/follow/", views.store_follow, name="store_follow"),
    path("shop/stores/<slug:slug>/offers/<int:offer_id>/collect/", views.store_collect, name="store_collect"),
    path("shop/cart/", views.cart_view, name="cart"),
    path("shop/cart/add/", views.cart_add, name="cart_add"),
    path("shop/cart/update/", views.cart_update, name="cart_update"),
    path("shop/cart/remove/", views.cart_remove, name="cart_remove"),
    path("shop/checkout/", views.checkout, name="checkout"),
    path("orders/", views.my_orders, name="my_orders"),
    path("orders/<str:external_id>/", views.order_detail, name="detail"),
    path("orders/<str:external_id>/<slug:action>/", views.order_action, name="action"),
    path("api/order-events/", views.order_events, name="events"),
]
