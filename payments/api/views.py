"""Store credit and gift card API: the caller's own store credit, redeeming a gift card into it,
and a gift card's balance. Codes tried count against ``RATE_LIMITS["gift_card"]`` per user and per
client address (the same counters as the pages); any unusable code gets the same 400."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from core import ratelimit
from core.api import (
    StrictPageNumberPagination,
    error_responses,
)
from core.money import default_currency
from core.parsers import JSONParser  # DRF's, refusing bodies nested too deep
from core.throttling import ApiRateLimit
from payments import selectors, services
from payments.api import serializers as s
from payments.exceptions import InvalidGiftCard

STORE_CREDIT = "store credit"
GIFT_CARDS = "gift cards"


class GiftCardCodeRateLimit(BaseThrottle):
    """Each write counts in ``gift_card`` for the signed-in user and for the client address."""

    scope = "gift_card"

    def __init__(self) -> None:
        self._wait = 0

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        keys = [ratelimit.client_key(request)]
        if getattr(request.user, "is_authenticated", False):
            keys.insert(0, f"user:{request.user.pk}")
        for key in keys:
            verdict = ratelimit.hit(self.scope, key)
            if not verdict.allowed:
                self._wait = max(self._wait, verdict.retry_after)
        return not self._wait

    def wait(self) -> float | None:
        return self._wait or None


class StoreCreditPagination(StrictPageNumberPagination):
    page_size = 20


class StoreCreditApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="store_credit_retrieve", tags=[STORE_CREDIT], summary="Your store credit and its history",
        description="The balance you can spend at checkout (refunds and redeemed gift cards add to it; orders "
                    "spend it) and every movement, newest first, 20 a page. Only ever your own.",
        responses={200: s.StoreCreditOutputSerializer, **error_responses(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        paginator = StoreCreditPagination()
        page = paginator.paginate_queryset(selectors.store_credit_entries(user=request.user), request, view=self)
        balances = selectors.store_credit_balances(user=request.user)
        return Response(s.StoreCreditOutputSerializer({
            "currency": default_currency(), "balance": balances[0].amount, "balances": balances,
            "count": paginator.page.paginator.count, "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(), "results": page,
        }).data)


class GiftCardRedeemApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    throttle_classes = [ApiRateLimit, GiftCardCodeRateLimit]

    @extend_schema(
        operation_id="gift_card_redeem", tags=[GIFT_CARDS], request=s.GiftCardCodeInputSerializer,
        summary="Redeem a gift card into your store credit",
        description="Moves the card's whole balance into your store credit, once. 400 `invalid_gift_card` for any "
                    "code that cannot be used (never issued, used up, redeemed by someone else, voided: the same "
                    "answer), `already_redeemed` if you redeemed it yourself. 429 after `RATE_LIMIT_GIFT_CARD` "
                    "attempts per user or client address.",
        examples=[OpenApiExample("A code", request_only=True, value={"code": "7KQ2-MXW4-PT9H-3CRV-ZB6N"})],
        responses={200: s.GiftCardRedeemOutputSerializer, **error_responses(400, 401, 403, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        data = s.GiftCardCodeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.gift_card_redeem(code=data.validated_data["code"], user=request.user)
        currency = entry.account.currency
        return Response(s.GiftCardRedeemOutputSerializer({
            "amount": entry.amount, "currency": currency,
            "store_credit_balance": selectors.store_credit_balance(user=request.user, currency=currency).amount,
        }).data)


class GiftCardBalanceApi(APIView):
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]
    throttle_classes = [ApiRateLimit, GiftCardCodeRateLimit]

    @extend_schema(
        operation_id="gift_card_balance", tags=[GIFT_CARDS], request=s.GiftCardCodeInputSerializer,
        summary="What a gift card still holds",
        description="Anyone may ask (no sign-in). 400 `invalid_gift_card` for any code that cannot be used, whether "
                    "it never existed or is used up. 429 after `RATE_LIMIT_GIFT_CARD` attempts per client address "
                    "(and per user when signed in).",
        responses={200: s.GiftCardBalanceOutputSerializer, **error_responses(400, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        data = s.GiftCardCodeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = selectors.gift_card_balance(code=data.validated_data["code"])
        if found is None:
            raise InvalidGiftCard()
        return Response(s.GiftCardBalanceOutputSerializer(found).data)
