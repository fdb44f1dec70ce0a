"""Membership work for Celery: renewals (beat) and e-mails (queue "email", after commit)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import outbox
from membership import selectors

logger = logging.getLogger(__name__)

SUBJECTS = {
    "welcome": lambda s: _("Welcome to %(plan)s") % {"plan": s.plan.name},
    "receipt": lambda s: _("Your %(plan)s receipt") % {"plan": s.plan.name},
    "payment_failed": lambda s: _("Action needed: your %(plan)s payment did not go through") % {"plan": s.plan.name},
    "expired": lambda s: _("Your %(plan)s membership has ended") % {"plan": s.plan.name},
    "cancelled": lambda s: _("Your %(plan)s membership is cancelled") % {"plan": s.plan.name},
}


@shared_task(acks_late=True)
def renew_due_subscriptions(batch_size: int = 500) -> int:
    """Beat: hand every subscription with something due (a renewal, a retry, an expiry) to
    :func:`renew_subscription`. Safe to run twice or concurrently: the renewal is idempotent."""
    now = timezone.now()
    after, queued = 0, 0
    while True:
        ids = selectors.subscription_due_ids(now=now, after_id=after, limit=batch_size)
        if not ids:
            return queued
        for subscription_id in ids:
            outbox.enqueue(renew_subscription, subscription_id)
        queued += len(ids)
        after = ids[-1]


@shared_task(acks_late=True)
def renew_subscription(subscription_id: int) -> str:
    """Charge, retry or expire one subscription (see services.subscription_renew)."""
    from membership import services  # services enqueue tasks

    return services.subscription_renew(subscription_id=subscription_id)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_membership_email(subscription_id: int, kind: str, charge_id: int | None = None) -> bool:
    """Send one kind of membership e-mail (HTML and text). Reloads the subscription."""
    from membership.models import Subscription, SubscriptionCharge

    subscription = Subscription.objects.select_related("plan", "user").filter(pk=subscription_id).first()
    if subscription is None or kind not in SUBJECTS:
        return False
    charge = SubscriptionCharge.objects.filter(pk=charge_id, subscription=subscription).first() if charge_id else None
    base = settings.SITE_URL.rstrip("/")
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "subscription": subscription, "plan": subscription.plan, "charge": charge, "kind": kind,
            "next_billing": selectors.next_billing(subscription),
            "account_link": base + reverse("membership:account"),
            "card_link": base + reverse("membership:card"),
            "join_link": base + reverse("membership:landing"),
            "SHOP_NAME": settings.SHOP_NAME,
        }
        text = render_to_string(f"membership/email/{kind}.txt", context)
        html = render_to_string(f"membership/email/{kind}.html", context)
        message = EmailMultiAlternatives(
            SUBJECTS[kind](subscription), text, settings.DEFAULT_FROM_EMAIL, [subscription.user.email]
        )
        message.attach_alternative(html, "text/html")
        message.send()
    return True
