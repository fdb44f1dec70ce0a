"""Order e-mails, sent by workers (queue "email") after the order's transaction commits."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from orders import selectors

SUBJECTS = {
    "confirmation": lambda o: _("Your Bazaar order %(number)s") % {"number": o.number},
    "cancellation": lambda o: _("Order %(number)s cancelled") % {"number": o.number},
    "refund": lambda o: _("Order %(number)s refunded") % {"number": o.number},
}


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_order_email(order_id: int, kind: str) -> bool:
    """Send one kind of order e-mail. Reloads the order; a deleted order is skipped."""
    order = selectors.order_detail_by_id(order_id=order_id)
    if order is None or kind not in SUBJECTS:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        link = settings.SITE_URL.rstrip("/") + reverse(
            "orders:guest_detail", kwargs={"token": selectors.guest_token(order=order)}
        )
        context = {"order": order, "link": link, "kind": kind, "SHOP_NAME": settings.SHOP_NAME}
        text = render_to_string("orders/email/order.txt", context)
        html = render_to_string("orders/email/order.html", context)
        message = EmailMultiAlternatives(SUBJECTS[kind](order), text, settings.DEFAULT_FROM_EMAIL, [order.email])
        message.attach_alternative(html, "text/html")
        message.send()
    return True


@shared_task(acks_late=True)
def settle_unpaid_orders() -> dict[str, int]:
    """Beat: settle orders left unpaid for more than 30 minutes (see services.order_settle_unpaid)."""
    from orders import services

    return services.order_settle_unpaid(older_than_minutes=30)
