from django.urls import path

from orders.api import returns, views

urlpatterns = [
    path("orders/", views.OrderListApi.as_view(), name="api-orders"),
    path("orders/<str:number>/", views.OrderDetailApi.as_view(), name="api-order"),
    path("orders/<str:number>/cancel/", views.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("orders/<str:number>/refunds/", views.OrderRefundApi.as_view(), name="api-order-refunds"),
    path("orders/<str:number>/returns/", returns.OrderReturnsApi.as_view(), name="api-order-returns"),
    path("returns/<int:pk>/", returns.ReturnDetailApi.as_view(), name="api-return"),
]
