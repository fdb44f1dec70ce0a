from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Bazaar"

    def ready(self) -> None:
        from django.core import checks

        from shop.checks import check_strategy

        checks.register(check_strategy)
