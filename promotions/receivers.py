"""Domain events promotions reacts to (subscribed in ``PromotionsConfig.ready``)."""

from __future__ import annotations

from core.events import Event
from promotions import services


def order_discarded(event: Event) -> None:
    number = event.payload.get("order_number")
    if number:
        services.order_discarded(order_number=str(number))
