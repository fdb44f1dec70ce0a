"""The cart's pages (``checkout`` namespace, under /cart/) and the checkout steps
(``checkout_flow`` namespace, under /checkout/); ``shop.urls`` mounts both."""

from django.urls import path

from checkout import views

cart_patterns = [
    path("", views.cart_detail, name="cart"),
    path("add/", views.cart_add, name="add"),
    path("lines/<int:line_id>/", views.cart_line, name="line"),
    path("voucher/", views.cart_voucher, name="voucher"),
    path("gift-cards/", views.gift_card_buy, name="gift_cards"),
    path("gift-cards/<int:card_id>/remove/", views.gift_card_remove, name="gift_card_remove"),
]

checkout_patterns = [
    path("", views.checkout_address, name="address"),
    path("delivery/", views.checkout_delivery, name="delivery"),
    path("review/", views.checkout_review, name="review"),
    path("place/", views.checkout_place, name="place"),
    # Stripe's Payment Element: the page's script gets the intent here, Stripe.js confirms it,
    # and the shopper comes back to return/ (a failure in the browser ends the attempt).
    path("pay/", views.checkout_pay, name="pay"),
    path("payment-failed/", views.checkout_payment_failed, name="payment_failed"),
    path("return/", views.checkout_payment_return, name="payment_return"),
]
