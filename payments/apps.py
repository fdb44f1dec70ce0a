from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        checks.register(check_payment_providers)


def check_payment_providers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A provider that is not configured or cannot be imported fails at start-up, not at checkout."""
    from payments.providers.base import check_providers

    return [checks.Error(problem, id="payments.E001") for problem in check_providers()]
