from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        checks.register(check_payment_providers)
        checks.register(check_gift_card_amounts)


def check_payment_providers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A provider that is not configured or cannot be imported fails at start-up, not at checkout."""
    from payments.providers.base import check_providers

    return [checks.Error(problem, id="payments.E001") for problem in check_providers()]


def check_gift_card_amounts(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Gift card amounts that no card could be issued for stop start-up (payments.E002)."""
    from decimal import Decimal

    from django.conf import settings

    from core.money import price_problem

    named = [("GIFT_CARD_MIN_AMOUNT", settings.GIFT_CARD_MIN_AMOUNT),
             ("GIFT_CARD_MAX_AMOUNT", settings.GIFT_CARD_MAX_AMOUNT),
             *(("GIFT_CARD_DENOMINATIONS", v) for v in settings.GIFT_CARD_DENOMINATIONS)]
    problems = [f"{name} {value}: {price_problem(value)}" for name, value in named if price_problem(value)]
    problems += [f"{name} {value}: at most two decimal places." for name, value in named
                 if not price_problem(value) and Decimal(value).as_tuple().exponent < -2]
    return [checks.Error(problem, id="payments.E002") for problem in problems]
