from django.urls import path

from checkout import views

app_name = "checkout"

urlpatterns = [
    path("", views.cart_detail, name="cart"),
    path("add/", views.cart_add, name="add"),
    path("lines/<int:line_id>/", views.cart_line, name="line"),
    path("voucher/", views.cart_voucher, name="voucher"),
]
