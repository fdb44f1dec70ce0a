"""Reactions to Django's auth signals: a sign-in links the visitor id to the user ("Signed In")."""

from __future__ import annotations

from core import analytics
from insights import events


def identify(sender, request=None, user=None, **kwargs) -> None:
    """``user_logged_in``: record "Signed In" for this visitor and user (consent and the bot filter
    apply, as for every event). Never raises: signing in does not depend on analytics."""
    if request is None:
        return
    analytics.track_request(request, events.SIGNED_IN)
