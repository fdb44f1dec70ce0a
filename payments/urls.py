from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("webhooks/<slug:provider>/", views.webhook, name="webhook"),
]

# The customer's store credit and gift card pages (namespace "credit", included at the site root by
# shop/urls.py): in the account area, but the balance check is open to anyone.
page_patterns = [
    path("account/store-credit/", views.store_credit, name="store_credit"),
    path("account/gift-cards/redeem/", views.redeem_gift_card, name="redeem_gift_card"),
    path("gift-cards/balance/", views.gift_card_balance, name="gift_card_balance"),
]
