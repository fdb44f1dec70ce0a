from django.urls import path

from checkout.api import views

urlpatterns = [
    path("cart/", views.CartApi.as_view(), name="api-cart"),
    path("cart/lines/", views.CartLineListApi.as_view(), name="api-cart-lines"),
    path("cart/voucher/", views.CartVoucherApi.as_view(), name="api-cart-voucher"),
    path("cart/gift-cards/", views.CartGiftCardListApi.as_view(), name="api-cart-gift-cards"),
    path("cart/gift-cards/<int:card_id>/", views.CartGiftCardDetailApi.as_view(), name="api-cart-gift-card"),
    path("cart/lines/<int:line_id>/", views.CartLineDetailApi.as_view(), name="api-cart-line"),
    path("checkout/quote/", views.QuoteApi.as_view(), name="api-checkout-quote"),
    path("checkout/orders/", views.PlaceOrderApi.as_view(), name="api-checkout-place"),
]
