from django.urls import path

from checkout import flow

app_name = "checkout_flow"

urlpatterns = [
    path("", flow.address, name="address"),
    path("delivery/", flow.delivery, name="delivery"),
    path("review/", flow.review, name="review"),
    path("place/", flow.place, name="place"),
    # Stripe's Payment Element: the page's script gets the intent here, Stripe.js confirms it,
    # and the shopper comes back to return/ (a failure in the browser ends the attempt).
    path("pay/", flow.pay, name="pay"),
    path("payment-failed/", flow.payment_failed, name="payment_failed"),
    path("return/", flow.payment_return, name="payment_return"),
]
