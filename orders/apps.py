from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        # catalog marks reviews "verified purchase" through this (catalog cannot import orders)
        from catalog.services import register_purchase_verifier
        from orders.selectors import user_bought_product

        register_purchase_verifier(user_bought_product)
