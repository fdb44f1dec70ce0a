"""Payment jobs run by workers: late authorizations, gift card deliveries."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from payments.exceptions import PaymentUnavailable

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(PaymentUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=10,
             acks_late=True)
def void_late_authorization(payment_id: int) -> bool:
    """A payment we had given up was authorized at the provider after all: release the hold."""
    from payments import selectors, services

    payment = selectors.payment_get(pk=payment_id)
    return services.payment_void_at_provider(payment=payment) if payment is not None else False


@shared_task(acks_late=True)
def deliver_gift_cards() -> int:
    """Beat, every 15 minutes: hand the e-mails of gift cards whose delivery day has come to the
    e-mail queue (each card once)."""
    from payments import gift_cards

    return gift_cards.gift_card_deliver_due()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_gift_card_email(card_id: int) -> bool:
    """E-mail a gift card to its recipient with its code, then wipe the seed the code came from.
    A card already sent (seed wiped), voided or redeemed meanwhile is skipped: running twice sends
    once (unless the first run died between sending and wiping)."""
    from payments import gift_cards, selectors

    card = selectors.gift_card_get(pk=card_id)
    if card is None or card.status != card.Status.ACTIVE or not card.recipient_email:
        return False
    code = gift_cards.delivery_code(card)
    if code is None:
        if card.delivery_seed:
            logger.error("gift card %s: no configured GIFT_CARD_SECRET gives its code; not sent", card_id)
        return False
    site = settings.SITE_URL.rstrip("/")
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "card": card, "code": code, "SHOP_NAME": settings.SHOP_NAME,
            "redeem_link": site + reverse("credit:redeem_gift_card"),
            "balance_link": site + reverse("credit:gift_card_balance"),
        }
        sender = card.sender_name or settings.SHOP_NAME
        subject = _("%(sender)s sent you a %(shop)s gift card") % {"sender": sender, "shop": settings.SHOP_NAME}
        message = EmailMultiAlternatives(subject, render_to_string("payments/email/gift_card.txt", context),
                                         settings.DEFAULT_FROM_EMAIL, [card.recipient_email])
        message.attach_alternative(render_to_string("payments/email/gift_card.html", context), "text/html")
        message.send()
    gift_cards.gift_card_delivery_sent(card_id=card.pk, seed=card.delivery_seed)
    return True
