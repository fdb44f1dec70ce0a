"""Fulfillment's HTTP endpoints: the carriers' tracking webhooks."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fulfillment import carriers, tracking

logger = logging.getLogger(__name__)


@csrf_exempt  # carriers cannot send our CSRF token; the signature is the authentication
@require_POST
def carrier_webhook(request: HttpRequest, carrier: str) -> JsonResponse:
    """A carrier's tracking events: checked by signature, each applied once."""
    try:
        found = carriers.get_carrier(carrier).parse_webhook(body=request.body, headers=request.headers)
    except (carriers.CarrierError, carriers.InvalidWebhook) as exc:
        logger.warning("carrier webhook refused (%s): %s", carrier, exc)
        return JsonResponse({"error": {"code": "invalid_webhook", "message": "Not a valid carrier webhook.",
                                       "fields": {}}}, status=400)
    return JsonResponse({"received": len(found), "applied": tracking.tracking_apply(carrier_code=carrier,
                                                                                     events_in=found)})
