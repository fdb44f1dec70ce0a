"""Finance's jobs: the seller ledger's postings from orders' events, and the daily reserve release."""

from __future__ import annotations

from celery import shared_task

from finance import services

RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "retry_jitter": True, "max_retries": 8,
         "acks_late": True}


@shared_task(**RETRY)
def post_package_shipped(package_id: int, event_id: int | None = None, **_event) -> int:
    """``orders.package_shipped``: the sale, fees and reserve of the package (idempotent)."""
    return services.ledger_post_package_shipped(package_id=package_id, event_id=event_id)


@shared_task(**RETRY)
def post_order_refunded(order_id: int, event_id: int | None = None, **_event) -> int:
    """``orders.order_refunded``: the refund postings of every shipped line (idempotent)."""
    return services.ledger_post_order_refunded(order_id=order_id, event_id=event_id)


@shared_task(**RETRY)
def release_reserves() -> int:
    """Beat: release the reserves of packages delivered long enough ago."""
    return services.ledger_release_reserves()


@shared_task(**RETRY)
def run_payouts() -> dict[str, int]:
    """Beat: pay sellers for the latest settlement date and retry pending payouts (idempotent)."""
    run = services.payout_run()
    return {"created": run.created, "paid": run.paid, "failed": run.failed}


@shared_task(**RETRY)
def compute_health() -> int:
    """Beat: every seller's account health for today and their buy-box eligibility (idempotent)."""
    return services.health_compute()
