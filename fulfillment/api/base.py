"""What the fulfilment API's views share: signed-in views that tell a signed-out client to
authenticate (401), the seller a request acts for, and offers named by SKU or id."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import (
    StrictPageNumberPagination,
)
from core.exceptions import PermissionDenied
from core.parsers import JSONParser  # DRF's, refusing bodies nested too deep
from marketplace import selectors as marketplace_selectors

# The optional header of the creates a retry must not repeat (core.idempotency).
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="One key per thing created (e.g. a UUID), at most 80 characters; resend it on retry.")


class SignedInApi(APIView):
    """A view for signed-in users, JSON bodies only, with the shop's strict pagination."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    pagination_class = StrictPageNumberPagination  # also tells the schema that lists come in pages

    def get_authenticate_header(self, request: Request) -> str | None:
        # Session authentication comes first in the settings and sends no challenge, so DRF would
        # answer a signed-out client 403 ("not allowed"); say what is missing instead: a 401 asking
        # for the API token (a browser session works as well).
        return super().get_authenticate_header(request) or "Token"

    def paginated(self, request: Request, items, serializer_class) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


def seller_for(request: Request, slug: str | None, *, ask: str):
    """The seller named by ``slug``, else the requester's only seller; ``ask`` is the 400 message
    when they belong to none or several."""
    if slug:
        seller = marketplace_selectors.seller_list().filter(slug=slug).first()
        if seller is None:
            raise serializers.ValidationError({"seller": [_("Unknown seller: %(slug)s") % {"slug": slug}]})
        return seller
    ids = marketplace_selectors.seller_ids_for_user(request.user)
    if len(ids) != 1:
        raise serializers.ValidationError({"seller": [ask]})
    seller = marketplace_selectors.seller_list().filter(pk=ids[0]).first()
    if seller is None:
        raise PermissionDenied(_("Your seller account is not active."))
    return seller


def check_acts_for(user, seller, *, add_perm: str, refuse: str) -> None:
    """A seller's member acts for their own sellers only (their role there is the service's to
    judge); platform staff need the model's add permission, as on the admin's add page."""
    scope = marketplace_selectors.seller_scope_for_user(user)
    if scope is not None:
        if seller.pk not in scope:
            raise PermissionDenied(refuse)
    elif not (user.is_superuser or user.has_perm(add_perm)):
        raise PermissionDenied(_("This needs the permission %(perm)s.") % {"perm": add_perm})


def offers_named(*, seller_id: int, rows, prefix: str = "") -> list:
    """The seller's offers named by ``rows`` (each ``{"sku": ...}`` or ``{"offer": id}``), in order,
    in two queries. An offer the seller does not have (another seller's included) or one named twice
    is a 400 on that row (``items[2].sku``)."""
    skus = [row["sku"] for row in rows if "sku" in row]
    ids = [row["offer"] for row in rows if "offer" in row]
    by_sku = {o.sku: o for o in marketplace_selectors.seller_offers(seller_id=seller_id).filter(sku__in=skus)} \
        if skus else {}
    by_id = {o.pk: o for o in marketplace_selectors.offers_by_ids(ids=ids).filter(seller_id=seller_id)} \
        if ids else {}
    errors: dict[str, list[str]] = {}
    offers, first_row = [], {}
    for index, row in enumerate(rows):
        name = f"{prefix}[{index}]" if prefix else ""
        if "sku" in row:
            offer, key = by_sku.get(row["sku"]), "sku"
            missing = _("This seller has no offer with SKU %(sku)s.") % {"sku": row["sku"]}
        else:
            offer, key = by_id.get(row["offer"]), "offer"
            missing = _("This seller has no offer with id %(id)s.") % {"id": row["offer"]}
        if offer is None:
            errors[f"{name}.{key}" if name else key] = [missing]
        elif offer.pk in first_row:
            errors[name or key] = [_("The same offer as %(row)s: name each offer once.")
                                   % {"row": f"{prefix}[{first_row[offer.pk]}]"}]
        else:
            first_row[offer.pk] = index
        offers.append(offer)
    if errors:
        raise serializers.ValidationError(errors)
    return offers
