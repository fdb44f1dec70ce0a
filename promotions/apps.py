from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = _("Promotions")

    def ready(self) -> None:
        from core import events
        from marketplace.buy_box import register_deal_price_provider
        from promotions.deals import deal_prices
        from promotions.receivers import order_discarded

        # A live deal price takes part in the buy box (marketplace cannot import promotions).
        register_deal_price_provider(deal_prices)

        # orders (a lower layer) cannot call promotions: when it removes an unpaid order (payment
        # declined, or settled as never paid by the beat task), its voucher use and deal units
        # come back through this domain event, after the commit.
        events.subscribe("orders.order_discarded", order_discarded)
