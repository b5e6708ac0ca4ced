from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from orders.models import Order, Product


def catalog(request: HttpRequest) -> HttpResponse:
    products = Product.objects.filter(is_active=True).select_related("store")
    return render(request, "orders/catalog.html", {"products": products})


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.filter(buyer=request.user).order_by("-placed_at")
    return render(request, "orders/my_orders.html", {"orders": orders})
