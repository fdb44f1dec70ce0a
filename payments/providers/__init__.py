"""Payment providers behind one interface; see :mod:`payments.providers.base`."""

from payments.providers.base import (
    InvalidSignature,
    PaymentProvider,
    ProviderError,
    ProviderEvent,
    ProviderResult,
    UnknownProvider,
    get_provider,
)

__all__ = [
    "InvalidSignature",
    "PaymentProvider",
    "ProviderError",
    "ProviderEvent",
    "ProviderResult",
    "UnknownProvider",
    "get_provider",
]
