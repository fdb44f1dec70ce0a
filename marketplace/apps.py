from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _refresh_seller_group(sender, **kwargs) -> None:
    """After every migrate, give the existing "Seller staff" group the permissions the apps
    register today (a new app may add some), so existing seller members get them too."""
    from marketplace.services import seller_group_refresh

    seller_group_refresh()


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = _("Marketplace")

    def ready(self) -> None:
        # Framework hook (not domain flow): keeps admin permissions in step with the code.
        post_migrate.connect(_refresh_seller_group, sender=self, dispatch_uid="bazaar-seller-group")
