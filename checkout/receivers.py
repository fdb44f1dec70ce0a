"""Reactions to the auth framework's signals (connected in :meth:`checkout.apps.CheckoutConfig.ready`)."""

from __future__ import annotations

from django.contrib import messages

from checkout import services


def merge_guest_cart(sender, request, user, **kwargs) -> None:
    """On sign-in, the guest cart of this browser joins the member's cart; tell them what was capped."""
    session = getattr(request, "session", None)
    if session is None:
        return
    for notice in services.cart_merge_on_sign_in(session=session, user=user):
        messages.warning(request, notice, fail_silently=True)
