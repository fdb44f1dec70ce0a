from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# What a seller's members may do with fulfilment data in admin (rows limited to their seller).
SELLER_PERMISSIONS = [
    ("fulfillment", "view_stockitem"),
    ("fulfillment", "add_stockitem"),
    ("fulfillment", "change_stockitem"),
    ("fulfillment", "view_stockmovement"),
    ("fulfillment", "view_warehouse"),
]


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfilment")

    def ready(self) -> None:
        # Marketplace (a lower layer) asks a strategy for stock and shipping facts when it picks
        # the buy box; this app is that strategy.
        from fulfillment.selectors import offer_facts
        from marketplace.buy_box import register_offer_facts_provider
        from marketplace.services import seller_permissions_register

        register_offer_facts_provider(offer_facts)
        seller_permissions_register(SELLER_PERMISSIONS)
