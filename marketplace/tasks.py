"""Marketplace's jobs: the e-mails of a seller application."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

SUBJECTS = {
    "submitted": lambda a: _("We received your application to sell as %(store)s") % {"store": a.store_name},
    "needs_info": lambda a: _("Your seller application needs more information"),
    "approved": lambda a: _("Welcome to %(shop)s: %(store)s can start selling") % {
        "shop": settings.SHOP_NAME, "store": a.store_name},
    "rejected": lambda a: _("Your seller application for %(store)s") % {"store": a.store_name},
}


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_application_email(application_id: int, status: str) -> bool:
    """Tell the applicant where their application stands (one e-mail per step, HTML and text)."""
    from marketplace import selectors

    application = selectors.application_get(pk=application_id)
    if application is None or status not in SUBJECTS:
        return False
    base = settings.SITE_URL.rstrip("/")
    with translation.override(settings.LANGUAGE_CODE):
        context = {"application": application, "status": status, "SHOP_NAME": settings.SHOP_NAME,
                   "status_link": base + reverse("marketplace:application"),
                   "admin_link": base + reverse("admin:index")}
        text = render_to_string("marketplace/email/application.txt", context)
        html = render_to_string("marketplace/email/application.html", context)
        message = EmailMultiAlternatives(SUBJECTS[status](application), text, settings.DEFAULT_FROM_EMAIL,
                                         [application.email])
        message.attach_alternative(html, "text/html")
        message.send()
    return True
