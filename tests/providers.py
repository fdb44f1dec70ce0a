"""Put a fake payment provider in for a block, the way the shop picks one: the setting
``PAYMENT_PROVIDERS`` (code -> class or factory), overridden and restored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.test import override_settings


@contextmanager
def payment_provider(code: str, factory: Callable) -> Iterator[None]:
    with override_settings(PAYMENT_PROVIDERS={**settings.PAYMENT_PROVIDERS, code: factory}):
        yield
