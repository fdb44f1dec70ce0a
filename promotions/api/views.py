"""Promotions API: the lightning deals running now (or starting soon). Public, read-only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import StrictPageNumberPagination, error_responses
from promotions import selectors
from promotions.api import serializers as s

DEALS = "deals"


class DealListApi(APIView):
    pagination_class = StrictPageNumberPagination

    @extend_schema(
        operation_id="deals_list",
        tags=[DEALS],
        summary="Lightning deals running now",
        description=(
            "Live lightning deals (started, not ended) of active offers: not sold out first, ending "
            "soonest first. A deal's price applies in the cart to `min(quantity, units left, "
            "per_order_limit)` units while units are left (to members only when `members_only`); "
            "`?upcoming=1` lists the deals still to start instead."
        ),
        parameters=[s.DealFilterInputSerializer],
        responses={200: s.DealOutputSerializer(many=True), **error_responses(400, 429)},
        examples=[
            OpenApiExample(
                "A live deal", response_only=True, status_codes=["200"],
                value={
                    "id": 3, "label": "Kitchen week", "offer": 12,
                    "product": {"id": 7, "title": "Steel kettle", "slug": "steel-kettle"},
                    "seller": "Bazaar", "currency": "USD", "price": "24.00", "deal_price": "17.99",
                    "percent_off": 25, "starts_at": "2026-11-23T10:00:00Z", "ends_at": "2026-11-23T16:00:00Z",
                    "quantity_cap": 50, "claimed": 21, "percent_claimed": 42, "per_order_limit": 2,
                    "members_only": False,
                },
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        params = s.DealFilterInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        deals = selectors.deal_list(upcoming=params.validated_data["upcoming"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deals, request, view=self)
        return paginator.get_paginated_response(s.DealOutputSerializer(page, many=True).data)
