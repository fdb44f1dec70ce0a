from django.urls import path

from checkout.api import ordering

urlpatterns = [
    path("checkout/quote/", ordering.QuoteApi.as_view(), name="api-checkout-quote"),
    path("checkout/orders/", ordering.PlaceOrderApi.as_view(), name="api-checkout-place"),
]
