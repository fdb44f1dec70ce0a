"""Jobs of the composition point: work that needs the shop's strategy (stock, deals, benefits)."""

from __future__ import annotations

from celery import shared_task

from fulfillment import selectors as fulfillment_selectors
from marketplace import selectors as marketplace_selectors
from marketplace import services as marketplace_services
from orders import selectors as orders_selectors
from shop.strategy import for_job


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5, acks_late=True)
def refresh_buy_boxes(product_ids: list[int] | None = None, offer_ids: list[int] | None = None,
                      **_event) -> dict[str, int | None]:
    """``marketplace.buy_box_stale``: recompute and store these products' (or these offers'
    products') buy boxes for everyone. Idempotent: it reads the current state."""
    ids = set(product_ids or ()) | set(marketplace_selectors.offer_product_ids(offer_ids=offer_ids or ()))
    winners = marketplace_services.buy_box_refresh(product_ids=ids, inputs=for_job())
    return {str(k): v for k, v in winners.items()}


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5, acks_late=True)
def refresh_buy_boxes_for_order(order_id: int, **_event) -> dict[str, int | None]:
    """``orders.order_placed``: its stock was reserved, so its products' buy boxes may have changed
    (one refresh per order, however many lines). The ranking reads stock only as "has some"
    (``marketplace.buy_box``), and an order only takes stock away: unless one of its offers ran
    out, no buy box changed, and checking that is one query instead of a refresh. An order gone
    meanwhile (never paid) released its stock, which asked for its own refresh."""
    offer_ids = orders_selectors.order_offer_id_list(order_id=order_id)  # none for an order gone
    available = fulfillment_selectors.available_by_offer(offer_ids=offer_ids)
    ran_out = [offer_id for offer_id in offer_ids if available.get(offer_id, 0) <= 0]
    return refresh_buy_boxes(offer_ids=ran_out) if ran_out else {}
