from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from marketplace.services import seller_permissions_register

        seller_permissions_register([("orders", "view_package"), ("orders", "view_orderline")])
