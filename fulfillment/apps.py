from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfilment")

    def ready(self) -> None:
        # Marketplace (a lower layer) asks a strategy for stock and shipping facts when it picks
        # the buy box; this app is that strategy.
        from fulfillment.selectors import offer_facts
        from marketplace.buy_box import register_offer_facts_provider

        register_offer_facts_provider(offer_facts)
