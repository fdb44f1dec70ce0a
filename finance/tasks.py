"""Finance's jobs: the seller ledger's postings from orders' events, the daily reserve release, and
the invoices and credit notes of orders (issued from orders' events; their PDFs are drawn on the
first download, ``finance.invoices.document_file``)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from finance import invoices, services
from marketplace import selectors as marketplace_selectors
from orders import selectors as orders_selectors

PAID, CANCELLED = orders_selectors.OrderStatus.PAID, orders_selectors.OrderStatus.CANCELLED

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
def post_order_partially_refunded(refund_id: int, event_id: int | None = None, **_event) -> int:
    """``orders.order_partially_refunded``: the refunded units' and shipping's postings (idempotent)."""
    return services.ledger_post_order_partially_refunded(refund_id=refund_id, event_id=event_id)


@shared_task(**RETRY)
def post_storage_charged(charge_id: int, event_id: int | None = None, **_event) -> int:
    """``fulfillment.storage_charged``: the month's storage fee in the seller's ledger (idempotent)."""
    return services.ledger_post_storage_charge(charge_id=charge_id, event_id=event_id)


@shared_task(**RETRY)
def post_removal_completed(removal_id: int, event_id: int | None = None, **_event) -> int:
    """``fulfillment.removal_completed``: the removal fee in the seller's ledger (idempotent)."""
    return services.ledger_post_removal(removal_id=removal_id, event_id=event_id)


@shared_task(**RETRY)
def issue_order_documents(order_id: int, to_status: str = "", from_status: str = "", event_id: int | None = None,
                          **_event) -> int:
    """``orders.status_changed``: an order that became paid gets its invoices (one per seller); a
    paid order cancelled gets a credit note for each (idempotent). Other changes do nothing."""
    if to_status == PAID:
        return len(invoices.invoices_issue(order_id=order_id, event_id=event_id))
    if to_status == CANCELLED and from_status == PAID:
        return len(invoices.credit_notes_for_order(order_id=order_id, reason=_("Order cancelled"),
                                                   source=invoices.SOURCE_CANCELLED, event_id=event_id))
    return 0


@shared_task(**RETRY)
def credit_order_refunded(order_id: int, event_id: int | None = None, **_event) -> int:
    """``orders.order_refunded``: a credit note for what each of the order's invoices still charges."""
    return len(invoices.credit_notes_for_order(order_id=order_id, reason=_("Order refunded"),
                                               source=invoices.SOURCE_REFUNDED, event_id=event_id))


@shared_task(**RETRY)
def credit_order_partially_refunded(refund_id: int, event_id: int | None = None, **_event) -> int:
    """``orders.order_partially_refunded``: a credit note per seller for the refunded units and shipping."""
    return len(invoices.credit_notes_for_refund(refund_id=refund_id, event_id=event_id))


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
