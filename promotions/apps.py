from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = _("Promotions")

    def ready(self) -> None:
        from marketplace.buy_box import register_deal_price_provider
        from promotions.deals import deal_prices

        # A live deal price takes part in the buy box (marketplace cannot import promotions).
        register_deal_price_provider(deal_prices)

