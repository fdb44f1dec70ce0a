"""Provider webhooks: POST /payments/webhooks/<provider>/ (thin; the work is in services)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError
from payments import services

logger = logging.getLogger(__name__)


@csrf_exempt  # providers cannot send our CSRF token; the signature is the authentication
@require_POST
def webhook(request: HttpRequest, provider: str) -> JsonResponse:
    try:
        event = services.webhook_receive(provider=provider, body=request.body, headers=request.headers)
    except ApplicationError as exc:
        logger.warning("payments webhook refused (%s): %s", provider, exc.message)
        return JsonResponse({"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=400)
    return JsonResponse({"received": True, "event_id": event.event_id, "type": event.type})
