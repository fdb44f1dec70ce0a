from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("guest/<str:token>/", views.guest_order_detail, name="guest_detail"),
    path("guest/<str:token>/cancel/", views.guest_order_cancel, name="guest_cancel"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/cancel/", views.order_cancel, name="cancel"),
]
