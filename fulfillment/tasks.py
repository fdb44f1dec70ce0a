"""Fulfillment's jobs, started by other contexts' events (``EVENT_CONSUMERS``)."""

from __future__ import annotations

from celery import shared_task

from fulfillment import inventory, services, storage, tracking


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def open_seller_location(seller_id: int, event_id: int | None = None, **_event) -> bool:
    """``marketplace.seller_approved``: the new seller's first shipping location (idempotent)."""
    return services.seller_location_open(seller_id=seller_id) is not None


@shared_task(acks_late=True)
def run_inventory_upload(upload_id: int) -> bool:
    """Run a large inventory file's rows, saving progress as it goes (once per upload)."""
    return inventory.inventory_upload_run(upload_id=upload_id) is not None


@shared_task(acks_late=True)
def snapshot_storage() -> int:
    """Beat, daily: the cubic feet each seller's units take in Bazaar's centres today."""
    return storage.storage_snapshot()


@shared_task(acks_late=True)
def charge_storage_fees() -> int:
    """Beat: last month's storage fee of every seller (once; running again charges nothing)."""
    return storage.storage_charge_last_month()


@shared_task(acks_late=True)
def poll_tracking() -> int:
    """Beat: the carriers' news about parcels not delivered yet (once per event)."""
    return tracking.tracking_poll()
