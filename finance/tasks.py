"""Finance's jobs: the seller ledger's postings from orders' events, and the daily reserve release."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from finance import services
from marketplace import selectors as marketplace_selectors

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
def post_storage_charged(charge_id: int, event_id: int | None = None, **_event) -> int:
    """``fulfillment.storage_charged``: the month's storage fee in the seller's ledger (idempotent)."""
    return services.ledger_post_storage_charge(charge_id=charge_id, event_id=event_id)


@shared_task(**RETRY)
def post_removal_completed(removal_id: int, event_id: int | None = None, **_event) -> int:
    """``fulfillment.removal_completed``: the removal fee in the seller's ledger (idempotent)."""
    return services.ledger_post_removal(removal_id=removal_id, event_id=event_id)


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


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_health_email(seller_id: int, eligible: bool, note: str = "") -> bool:
    """Tell the seller their buy-box eligibility changed, and why."""
    seller = marketplace_selectors.seller_get(pk=seller_id)
    if seller is None or not seller.email:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        context = {"seller": seller, "eligible": eligible, "note": note, "SHOP_NAME": settings.SHOP_NAME,
                   "centre_link": settings.SITE_URL.rstrip("/") + reverse("seller-centre")}
        subject = (_("Your offers can win the buy box again") if eligible
                   else _("Action needed: your offers no longer win the buy box"))
        send_mail(subject, render_to_string("finance/email/health.txt", context), settings.DEFAULT_FROM_EMAIL,
                  [seller.email])
    return True
