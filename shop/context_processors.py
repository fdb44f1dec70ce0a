"""Template context from the composition point."""

from __future__ import annotations

from django.http import HttpRequest


def strategy(request: HttpRequest) -> dict:
    """``member_benefits``: the signed-in customer's benefits (None for guests and non-members),
    looked up only when a template shows them (the header badge). Guests cost nothing, so the
    cached anonymous pages never carry anyone's membership."""
    strategy = getattr(request, "strategy", None)
    return {"member_benefits": (lambda: strategy.benefits) if strategy is not None else None}
