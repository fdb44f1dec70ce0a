from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = _("Promotions")

    def ready(self) -> None:
        from core import events
        from promotions.receivers import order_discarded

        # orders (a lower layer) cannot call promotions: when it removes an unpaid order (payment
        # declined, or settled as never paid by the beat task), its voucher use and deal units
        # come back through this domain event, after the commit.
        events.subscribe("orders.order_discarded", order_discarded)
