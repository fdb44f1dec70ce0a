"""Order e-mails, sent by workers (queue "email") after the order's transaction commits."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mail_admins
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from core import outbox
from core.exceptions import ApplicationError
from core.money import format_money
from orders import selectors
from orders.models import PaymentProblem
from payments.exceptions import PaymentUnavailable

SUBJECTS = {
    "confirmation": lambda o: _("Your Bazaar order %(number)s") % {"number": o.number},
    "cancellation": lambda o: _("Order %(number)s cancelled") % {"number": o.number},
    "refund": lambda o: _("Order %(number)s refunded") % {"number": o.number},
    "shipped": lambda o: _("Your order %(number)s is on its way") % {"number": o.number},
    "out_for_delivery": lambda o: _("Your order %(number)s is out for delivery today") % {"number": o.number},
    "delivered": lambda o: _("Your order %(number)s was delivered") % {"number": o.number},
    "exception": lambda o: _("A problem with the delivery of your order %(number)s") % {"number": o.number},
}


def _links(order) -> dict:
    """Where an e-mail sends the customer: a guest to a fresh guest link (the token in the query
    string), with how long it works and where to ask for a new one; a customer to their order page
    (they sign in)."""
    site = settings.SITE_URL.rstrip("/")
    if order.user_id is not None:
        return {"link": site + reverse("orders:detail", kwargs={"number": order.number}), "guest": False}
    return {
        "link": site + selectors.guest_link_path(order=order),
        "guest": True,
        "link_days": settings.GUEST_LINK_MAX_AGE_DAYS,
        "resend_link": site + reverse("orders:guest_resend"),
    }


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_order_email(order_id: int, kind: str, package_id: int | None = None) -> bool:
    """Send one kind of order e-mail. Reloads the order; a deleted order is skipped.
    ``package_id`` names the package a "shipped" e-mail is about."""
    order = selectors.order_for_email(order_id=order_id)
    if order is None or kind not in SUBJECTS:
        return False
    package = next((p for p in order.packages.all() if p.pk == package_id), None) if package_id else None
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "order": order, "package": package, "kind": kind, "SHOP_NAME": settings.SHOP_NAME, **_links(order)
        }
        text = render_to_string("orders/email/order.txt", context)
        html = render_to_string("orders/email/order.html", context)
        message = EmailMultiAlternatives(SUBJECTS[kind](order), text, settings.DEFAULT_FROM_EMAIL, [order.email])
        message.attach_alternative(html, "text/html")
        message.send()
    return True


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_guest_link_email(order_id: int) -> bool:
    """E-mail a fresh link to a guest order (asked for with its number and e-mail address). An
    order that belongs to an account gets none: its owner signs in."""
    order = selectors.order_detail_by_id(order_id=order_id)
    if order is None or order.user_id is not None:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        context = {"order": order, "SHOP_NAME": settings.SHOP_NAME, **_links(order)}
        text = render_to_string("orders/email/guest_link.txt", context)
        html = render_to_string("orders/email/guest_link.html", context)
        subject = _("Your link to order %(number)s") % {"number": order.number}
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [order.email])
        message.attach_alternative(html, "text/html")
        message.send()
    return True


@shared_task(
    autoretry_for=(PaymentUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=10, acks_late=True
)
def capture_order_payment(order_id: int) -> int:
    """Capture the payment of an order whose first package shipped (idempotent)."""
    from orders import services

    order = selectors.order_detail_by_id(order_id=order_id)
    return services.order_capture_payment(order=order) if order is not None else 0


@shared_task(
    autoretry_for=(PaymentUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=10, acks_late=True
)
def issue_order_gift_cards(order_id: int) -> int:
    """Capture the payment of a paid order that bought gift cards, then issue them (idempotent)."""
    from orders import services

    order = selectors.order_detail_by_id(order_id=order_id)
    return services.order_gift_cards_issue(order=order) if order is not None else 0


@shared_task(acks_late=True)
def complete_delivered_orders() -> int:
    """Beat: complete orders delivered more than 14 days ago (see services.order_complete_delivered)."""
    from orders import services

    return services.order_complete_delivered()


RETURN_PAYMENT_RETRIES = 8


@shared_task(acks_late=True)
def return_order_payment(order_id: int, reason: str, attempt: int = 0) -> int:
    """Release or refund the payment of a cancelled or refunded order, after its commit. Tried again
    with backoff (1, 2, 4... minutes, at most an hour apart) while the provider is unreachable; when
    it refuses, or after the last try, the order is flagged for staff (a payment problem they see
    in admin) and the admins are e-mailed."""
    from orders import services

    order = selectors.order_detail_by_id(order_id=order_id)
    if order is None:
        return 0
    try:
        return services.order_return_payment(order=order, reason=reason)
    except PaymentUnavailable as exc:
        if attempt < RETURN_PAYMENT_RETRIES:
            outbox.enqueue_later(return_order_payment, timedelta(seconds=min(60 * 2 ** attempt, 3600)),
                                 order_id, reason, attempt=attempt + 1)
            return 0
        problem = str(exc.message)
    except ApplicationError as exc:  # refused by the provider: trying again will not help
        problem = str(exc.message)
    note = _("Could not give the money back (%(reason)s): %(problem)s") % {"reason": reason, "problem": problem}
    if services.order_payment_problem(order=order, problem=PaymentProblem.REFUND_FAILED, note=note):
        mail_admins(_("Order %(number)s: money not returned") % {"number": order.number}, note, fail_silently=True)
    return 0


@shared_task(acks_late=True)
def secure_expiring_payments() -> dict[str, int]:
    """Beat: capture authorizations about to lapse on orders not yet shipped (see services)."""
    from orders import services

    return services.order_secure_expiring_payments()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_claim_email(claim_id: int, kind: str) -> int:
    """A claim was opened (the buyer gets a confirmation, the seller the claim to answer) or decided
    (the buyer gets the decision, the seller a copy). Returns the number of e-mails sent."""
    from marketplace import selectors as marketplace_selectors

    claim = selectors.claim_get(pk=claim_id)
    if claim is None or kind not in ("opened", "decided"):
        return 0
    seller = marketplace_selectors.seller_get(pk=claim.seller_id)
    site = settings.SITE_URL.rstrip("/")
    sent = 0
    with translation.override(settings.LANGUAGE_CODE):
        for audience, address in (("buyer", claim.order.email), ("seller", seller.email if seller else "")):
            if not address:
                continue
            context = {"claim": claim, "kind": kind, "audience": audience, "seller": seller,
                       "SHOP_NAME": settings.SHOP_NAME,
                       "link": site + (reverse("orders:detail", kwargs={"number": claim.order.number})
                                       if audience == "buyer" else reverse("admin:orders_claim_change",
                                                                           args=[claim.pk]))}
            subject = (_("Claim on order %(number)s: %(status)s") % {
                "number": claim.order.number, "status": claim.get_status_display()})
            EmailMultiAlternatives(subject, render_to_string("orders/email/claim.txt", context),
                                   settings.DEFAULT_FROM_EMAIL, [address]).send()
            sent += 1
    return sent


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def apply_tracking(shipment_id: int, reference: str, status: str, occurred_at: str = "",
                   event_id: int | None = None, **_event) -> str:
    """``fulfillment.tracking_updated``: a package's carrier says where it is (delivered: the
    package is delivered; out for delivery, delivered and problems are e-mailed). Idempotent."""
    from orders import returns, services

    if reference.startswith(returns.REFERENCE):  # a return's parcel on its way back
        return returns.return_tracking_update(reference=reference, status=status)
    return services.package_tracking_update(reference=reference, status=status, occurred_at=occurred_at)


@shared_task(acks_late=True)
def approve_unanswered_returns() -> int:
    """Beat: sellers' returns not answered within RETURNS_SELLER_ANSWER_BUSINESS_DAYS are approved."""
    from orders import returns

    return returns.returns_approve_unanswered()


RETURN_SUBJECTS = {
    "requested": _("Return %(id)s of order %(number)s: requested"),
    "approved": _("Return %(id)s of order %(number)s: approved, send it back"),
    "refused": _("Return %(id)s of order %(number)s: refused"),
    "offered": _("Return %(id)s of order %(number)s: a partial refund is offered"),
    "received": _("Return %(id)s of order %(number)s: received"),
}


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_return_email(return_id: int, kind: str) -> int:
    """A return moved: the shopper is told (approved with its label or drop-off instructions,
    refused with the reason and the claim option, an offer, received); a seller's new return goes
    to the seller too. The refund has its own e-mail. Returns the number of e-mails sent."""
    from marketplace import selectors as marketplace_selectors
    from orders.models import ReturnRequest

    request = (ReturnRequest.objects.select_related("order").prefetch_related("lines__line")
               .filter(pk=return_id).first())
    if request is None or kind not in RETURN_SUBJECTS:
        return 0
    seller = marketplace_selectors.seller_get(pk=request.seller_id)
    site = settings.SITE_URL.rstrip("/")
    audiences = [("buyer", request.order.email)]
    if kind == "requested" and request.fulfillment_channel == "merchant" and seller is not None:
        audiences.append(("seller", seller.email))
    sent = 0
    with translation.override(settings.LANGUAGE_CODE):
        for audience, address in audiences:
            if not address:
                continue
            link = site + (reverse("orders:detail", kwargs={"number": request.order.number}) if audience == "buyer"
                           else reverse("admin:orders_returnrequest_change", args=[request.pk]))
            context = {"request": request, "kind": kind, "audience": audience, "seller": seller, "link": link,
                       "SHOP_NAME": settings.SHOP_NAME}
            subject = str(RETURN_SUBJECTS[kind]) % {"id": request.pk, "number": request.order.number}
            EmailMultiAlternatives(subject, render_to_string("orders/email/return.txt", context),
                                   settings.DEFAULT_FROM_EMAIL, [address]).send()
            sent += 1
    return sent


@shared_task(acks_late=True)
def deliver_overdue_packages() -> int:
    """Beat: packages shipped without a Bazaar label, long past their latest day, taken as delivered."""
    from orders import services

    return services.packages_deliver_overdue()


@shared_task(acks_late=True)
def pay_back_refund(refund_id: int, attempt: int = 0) -> str:
    """Give a partial refund's money back after its commit (see :mod:`orders.refunds`). Tried again
    with backoff while the provider is unreachable; a refusal flags the order for staff."""
    from orders import refunds

    try:
        return refunds.refund_pay_back(refund_id=refund_id)
    except PaymentUnavailable:
        if attempt < RETURN_PAYMENT_RETRIES:
            outbox.enqueue_later(pay_back_refund, timedelta(seconds=min(60 * 2 ** attempt, 3600)), refund_id,
                                 attempt=attempt + 1)
            return "retrying"
        return refunds.refund_give_up(refund_id=refund_id, problem=_("the payment provider could not be reached"))


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_refund_email(refund_id: int) -> bool:
    """Tell the customer what a partial refund gives back, line by line."""
    refund = selectors.refund_detail(refund_id=refund_id)
    if refund is None:
        return False
    order = refund.order
    with translation.override(settings.LANGUAGE_CODE):
        context = {"order": order, "refund": refund, "SHOP_NAME": settings.SHOP_NAME, **_links(order)}
        text = render_to_string("orders/email/refund.txt", context)
        html = render_to_string("orders/email/refund.html", context)
        subject = _("Order %(number)s: %(amount)s refunded") % {
            "number": order.number, "amount": format_money(refund.amount, order.currency)}
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [order.email])
        message.attach_alternative(html, "text/html")
        message.send()
    return True
