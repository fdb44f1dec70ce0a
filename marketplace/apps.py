from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _refresh_seller_groups(sender, **kwargs) -> None:
    """After every migrate, give the seller role groups the permissions ``marketplace.roles`` names
    today and every member the group of their role. Runs once, for the last app with models: only
    then do the permissions of every app (orders, fulfillment, ...) exist."""
    last = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
    if sender is not last:
        return
    from marketplace.services import seller_groups_refresh

    seller_groups_refresh()


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = _("Marketplace")

    def ready(self) -> None:
        # Framework hook (not domain flow): keeps admin permissions in step with the code.
        post_migrate.connect(_refresh_seller_groups, dispatch_uid="bazaar-seller-groups")
