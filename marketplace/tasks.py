"""Marketplace's jobs: the e-mails of a seller application and of a proposed product's review."""

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


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=8, acks_late=True)
def send_proposal_email(proposal_id: int) -> bool:
    """Tell the seller (its contact address and whoever proposed it) what staff decided about a
    proposed product."""
    from marketplace import selectors

    proposal = selectors.proposal_get(pk=proposal_id)
    if proposal is None or proposal.status == proposal.Status.PENDING:
        return False
    to = sorted({address for address in (proposal.seller.email, getattr(proposal.proposed_by, "email", ""))
                 if address})
    if not to:
        return False
    base = settings.SITE_URL.rstrip("/")
    with translation.override(settings.LANGUAGE_CODE):
        context = {"proposal": proposal, "SHOP_NAME": settings.SHOP_NAME,
                   "admin_link": base + reverse("admin:marketplace_productproposal_change", args=[proposal.pk]),
                   "product_link": base + proposal.product.get_absolute_url()}
        subject = (_("Approved: %(title)s is now in the catalogue") if proposal.status == proposal.Status.APPROVED
                   else _("Not approved: %(title)s")) % {"title": proposal.product.title}
        text = render_to_string("marketplace/email/proposal.txt", context)
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to)
        message.send()
    return True
