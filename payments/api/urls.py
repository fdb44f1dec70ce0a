from django.urls import path

from payments.api import views

urlpatterns = [
    path("store-credit/", views.StoreCreditApi.as_view(), name="api-store-credit"),
    path("gift-cards/redeem/", views.GiftCardRedeemApi.as_view(), name="api-gift-card-redeem"),
    path("gift-cards/balance/", views.GiftCardBalanceApi.as_view(), name="api-gift-card-balance"),
]
