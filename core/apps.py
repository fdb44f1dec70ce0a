from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        checks.register(check_limits_configured)
        checks.register(check_event_consumers)


def check_event_consumers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A domain event's consumer that does not exist fails at start-up, never at the first event."""
    from core.outbox import check_event_consumers as problems

    return [checks.Error(problem, id="core.E003") for problem in problems()]


def check_limits_configured(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``RATE_LIMITS`` rates parse and ``MAX_PRICE`` is an amount a column holds: a typo in the
    environment stops ``manage.py check`` (and start-up) instead of the first order."""
    from django.core.exceptions import ImproperlyConfigured

    from core.money import max_price
    from core.ratelimit import check_rates

    errors = [checks.Error(problem, id="core.E001") for problem in check_rates()]
    try:
        max_price()
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(str(exc), id="core.E002"))
    return errors
