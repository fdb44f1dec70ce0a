"""Marketplace API: products (with the same filters as the pages), sellers and offers.

Views are thin: an input serializer checks the query or body, a selector or service does the
work, an output serializer shapes the result. Reads are open to everyone; offers are written
by members of their seller (or a superuser) through ``marketplace.services``.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import cache_keys
from catalog import selectors as catalog_selectors
from core import cache as vcache
from core.api import (
    StrictPageNumberPagination,
    error_responses,
)
from core.exceptions import NotFound, PermissionDenied
from core.pagecache import keep_only_params
from core.parsers import JSONParser  # DRF's, refusing bodies nested too deep
from marketplace import selectors, services
from marketplace.api import serializers as s

PRODUCTS, SELLERS, OFFERS, PROPOSALS = "products", "sellers", "offers", "product proposals"


class PaginatedApiView(APIView):
    """An APIView that pages a list with the shop's strict page-number pagination."""

    pagination_class = StrictPageNumberPagination

    def paginate(self, request: Request, items) -> list:
        self.paginator = self.pagination_class()
        return list(self.paginator.paginate_queryset(items, request, view=self))

    def paginated_response(self, data) -> Response:
        return self.paginator.get_paginated_response(data)


# --- products -----------------------------------------------------------------------------

_PAGE_PARAMETERS = [
    OpenApiParameter(
        "page", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY,
        description="Page number, from 1. A page past the last one is a 400.",
    ),
    OpenApiParameter(
        "page_size", {"type": "integer", "minimum": 1, "maximum": StrictPageNumberPagination.max_page_size},
        OpenApiParameter.QUERY, description="Products per page (default 24, at most 100).",
    ),
]

_ATTRIBUTE_PARAMETER = OpenApiParameter(
    "attributes",
    {"type": "object", "additionalProperties": {"type": "string"}},
    OpenApiParameter.QUERY,
    style="form",
    explode=True,
    description=(
        "Attribute filters, one query parameter per attribute: `a_<code>=<value>`, e.g. "
        "`?a_colour=red&a_colour=blue&a_size=M` (any of the values of one attribute, all of the "
        "attributes). Codes come from the `facets` of a listing. An unknown code is a 400."
    ),
)

_PRODUCT_LIST_BAD_INPUT = OpenApiExample(
    "Bad filters",
    status_codes=["400"],
    response_only=True,
    value={
        "error": {
            "code": "invalid",
            "message": "Some fields are not valid.",
            "fields": {
                "brand": ["Unknown brand: acme"],
                "max_price": ["The maximum price must not be below the minimum."],
                "a_colour": ["Unknown attribute: colour"],
            },
        }
    },
)


class ProductListApi(PaginatedApiView):
    @extend_schema(
        operation_id="products_list",
        tags=[PRODUCTS],
        summary="Search and filter products",
        description=(
            "The product listing of the shop's category and search pages: the same filters, sorting "
            "and search. Every parameter is checked; an unknown category, brand or attribute, a "
            "malformed number, `min_price` above `max_price`, an unknown `sort` or a page past the "
            "last one is a 400 naming the parameter in `error.fields`."
        ),
        parameters=[s.ProductFilterInputSerializer, _ATTRIBUTE_PARAMETER, *_PAGE_PARAMETERS],
        responses={200: s.ProductPageOutputSerializer, **error_responses(400, 429)},
        examples=[
            OpenApiExample(
                "A page of kettles",
                response_only=True,
                status_codes=["200"],
                value={
                    "count": 1, "next": None, "previous": None, "facets": None,
                    "results": [{
                        "id": 7, "slug": "steel-kettle", "title": "Steel kettle",
                        "brand": {"slug": "acme", "name": "Acme"}, "category": "kettles",
                        "price": "24.00", "currency": "USD", "in_stock": True, "offer_count": 2,
                        "rating_avg": "4.50", "rating_count": 12,
                        "thumbnail": "https://shop.example/media/thumbnails/7-1.jpg",
                        "url": "https://shop.example/p/steel-kettle/",
                    }],
                },
            ),
            _PRODUCT_LIST_BAD_INPUT,
        ],
    )
    def get(self, request: Request) -> Response:
        params = s.ProductFilterInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        # The listing is the same for every client: cache the body under the catalog versions
        # (invalidated on commit, like the pages; a cache outage only costs speed). Only the
        # parameters the listing reads make the key (and the page links); others are dropped.
        reads = {*params.fields, "page", StrictPageNumberPagination.page_size_query_param}
        query = keep_only_params(
            request._request,
            # a_<code>: attribute filters, all known here (an unknown one was refused above)
            lambda name: name in reads or name.startswith(s.ATTRIBUTE_PREFIX),
        )
        uri = request._request.build_absolute_uri(request.path)
        key = "api:products:" + hashlib.blake2b(f"{uri}?{query}".encode(), digest_size=16).hexdigest()
        cached, seen = vcache.get_checked(key, [cache_keys.CATALOG, cache_keys.LISTING])
        if cached is not None:
            return Response(cached)
        data = self._listing(request, params)
        vcache.set_checked(key, data, seen, settings.PAGE_CACHE_TIMEOUT)
        return Response(data)

    def _listing(self, request: Request, params) -> dict:
        filters = catalog_selectors.product_filter_prepare(params.to_filter())
        page = self.paginate(request, catalog_selectors.product_list(filters=filters))
        context = {"request": request, "tree": catalog_selectors.category_tree()}
        facets = None
        if params.validated_data["facets"]:
            facets = s.FacetsOutputSerializer(catalog_selectors.product_facets(filters=filters)).data
        return {
            "count": self.paginator.page.paginator.count,
            "next": self.paginator.get_next_link(),
            "previous": self.paginator.get_previous_link(),
            "results": s.ProductListOutputSerializer(page, many=True, context=context).data,
            "facets": facets,
        }


class ProductDetailApi(APIView):
    @extend_schema(
        operation_id="products_retrieve",
        tags=[PRODUCTS],
        summary="One product with its offers",
        description=(
            "What the product page shows: description, attributes, images, breadcrumbs, the buy-box "
            "offer and every active offer with stock, shipping and delivery estimate."
        ),
        responses={200: s.ProductDetailOutputSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        page = selectors.product_page(slug=slug, inputs=request.strategy)
        if page is None:
            raise NotFound(_("No such product."))
        context = {"request": request, "tree": catalog_selectors.category_tree(), "page": page}
        return Response(s.ProductDetailOutputSerializer(page.product, context=context).data)


# --- sellers ------------------------------------------------------------------------------


class SellerListApi(PaginatedApiView):
    @extend_schema(
        operation_id="sellers_list",
        tags=[SELLERS],
        summary="Active sellers",
        description="The house seller first, then the others by name.",
        responses={200: s.SellerOutputSerializer(many=True), **error_responses(400, 429)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate(request, selectors.seller_list())
        return self.paginated_response(s.SellerOutputSerializer(page, many=True, context={"request": request}).data)


class SellerDetailApi(APIView):
    @extend_schema(
        operation_id="sellers_retrieve",
        tags=[SELLERS],
        summary="One seller",
        responses={200: s.SellerDetailOutputSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        seller = selectors.seller_list().filter(slug=slug).first()
        if seller is None:
            raise NotFound(_("No such seller."))
        return Response(s.SellerDetailOutputSerializer(seller, context={"request": request}).data)


# --- offers -------------------------------------------------------------------------------


def _offer_output(request: Request, offer) -> dict:
    return s.OfferOutputSerializer(selectors.offer_views(offers=[offer], inputs=request.strategy)[0]).data


class OfferListApi(PaginatedApiView):
    # JSON bodies only: form encodings turn "no value" into an empty string and booleans into
    # text, which would blur what the client meant.
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="offers_list",
        tags=[OFFERS],
        summary="Active offers",
        description="Active offers of active sellers, oldest first, with what is available now.",
        parameters=[s.OfferFilterInputSerializer],
        responses={200: s.OfferOutputSerializer(many=True), **error_responses(400, 429)},
    )
    def get(self, request: Request) -> Response:
        params = s.OfferFilterInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        offers = selectors.offer_list(
            seller_slug=params.validated_data.get("seller", ""),
            product_slug=params.validated_data.get("product", ""),
        )
        views = selectors.offer_views(offers=self.paginate(request, offers), inputs=request.strategy)
        return self.paginated_response(s.OfferOutputSerializer(views, many=True).data)

    @extend_schema(
        operation_id="offers_create",
        tags=[OFFERS],
        summary="List an offer",
        description=(
            "Owners and managers of a seller list offers for their own seller (superusers for any "
            "seller); a seller's staff may not (403). Offers are shipped by the seller "
            "(`fulfillment_channel` `merchant`): only Bazaar staff put an offer on fulfilment by Bazaar, "
            "so `platform` from a seller's member is a 403 `platform_fulfilment`. Prices are in the shop "
            "currency. Stock, availability and the buy box are computed by the shop and cannot be sent; "
            "unknown fields are a 400."
        ),
        request=s.OfferCreateInputSerializer,
        responses={201: s.OfferOutputSerializer, **error_responses(400, 401, 403, 415, 429)},
        examples=[
            OpenApiExample(
                "New offer",
                request_only=True,
                value={"seller": "acme-outlet", "product": "steel-kettle", "sku": "KET-001", "price": "23.50",
                       "condition": "new", "fulfillment_channel": "merchant", "handling_days": 1},
            ),
            OpenApiExample(
                "Another seller's offer",
                status_codes=["403"],
                response_only=True,
                value={"error": {"code": "permission_denied",
                                 "message": "You may only list offers for your own seller.", "fields": {}}},
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        body = s.OfferCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        seller = data.pop("seller", None) or self._only_seller(request.user)
        if not request.user.is_superuser and seller.pk not in selectors.seller_ids_for_user(request.user):
            raise PermissionDenied(_("You may only list offers for your own seller."))
        offer = services.offer_create(seller=seller, actor=request.user, **data)
        return Response(_offer_output(request, offer), status=status.HTTP_201_CREATED)

    @staticmethod
    def _only_seller(user):
        ids = selectors.seller_ids_for_user(user)
        if len(ids) != 1:
            raise s.serializers.ValidationError({"seller": [_("Say which seller this offer is for.")]})
        seller = selectors.seller_list().filter(pk=ids[0]).first()
        if seller is None:
            raise PermissionDenied(_("Your seller account is not active."))
        return seller


class OfferDetailApi(APIView):
    http_method_names = ["get", "patch", "head", "options"]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="offers_retrieve",
        tags=[OFFERS],
        summary="One offer",
        description=(
            "An active offer of an active seller, for anyone. A seller's members also get their own "
            "seller's offers in any state (paused, or waiting for its proposed product's review): "
            "`is_active` says which."
        ),
        responses={200: s.OfferOutputSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        offer = selectors.offer_list().filter(pk=pk).first() or selectors.offer_get_for_user(user=request.user, pk=pk)
        if offer is None:
            raise NotFound(_("No such offer."))
        return Response(_offer_output(request, offer))

    @extend_schema(
        operation_id="offers_partial_update",
        tags=[OFFERS],
        summary="Change an offer",
        description=(
            "Change the terms of one of your seller's offers as its owner or manager (any offer for "
            "superusers); inactive ones included, so they can be switched back on. Another seller's offer "
            "is a 404; a seller's staff get a 403, and so does a switch onto or off fulfilment by Bazaar "
            "(`platform_fulfilment`), which only Bazaar staff make."
        ),
        request=s.OfferUpdateInputSerializer,
        responses={200: s.OfferOutputSerializer, **error_responses(400, 401, 403, 404, 415, 429)},
        examples=[
            OpenApiExample("New price", request_only=True, value={"price": "21.90", "list_price": "29.00"}),
            OpenApiExample("Pause the offer", request_only=True, value={"is_active": False}),
        ],
    )
    def patch(self, request: Request, pk: int) -> Response:
        offer = selectors.offer_get_for_user(user=request.user, pk=pk)
        if offer is None:
            raise NotFound(_("No such offer among yours."))
        body = s.OfferUpdateInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        offer = services.offer_update(offer=offer, actor=request.user, **body.validated_data)
        return Response(_offer_output(request, offer))


# --- product proposals ------------------------------------------------------------------------


class ProductProposalListApi(PaginatedApiView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="product_proposals_list",
        tags=[PROPOSALS],
        summary="Your sellers' proposed products",
        description="Products your sellers proposed, newest first, with Bazaar's decision.",
        responses={200: s.ProductProposalOutputSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        proposals = selectors.proposals_for_user(user=request.user).order_by("-created_at", "-id")
        return self.paginated_response(s.ProductProposalOutputSerializer(self.paginate(request, proposals),
                                                                        many=True).data)

    @extend_schema(
        operation_id="product_proposals_create",
        tags=[PROPOSALS],
        summary="Propose a product",
        description=(
            "Owners and managers of a seller propose a product the catalogue lacks. It is created hidden "
            "(`status` `pending`) and published when Bazaar approves it; the seller is e-mailed either way. "
            "With `sku` and `price`, the seller's offer on it is listed at once and sells from the approval "
            "on. A seller's staff get a 403, and so does a suspended seller."
        ),
        request=s.ProductProposalInputSerializer,
        responses={201: s.ProductProposalOutputSerializer, **error_responses(400, 401, 403, 415, 429)},
        examples=[OpenApiExample("New product with an offer", request_only=True, value={
            "title": "Cast-iron tea kettle, 1.2 l", "category": "kitchen", "description": "Enamelled inside.",
            "note": "Our own brand; photos follow.", "sku": "CI-KET-12", "price": "39.00"})],
    )
    def post(self, request: Request) -> Response:
        body = s.ProductProposalInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        seller = data.pop("seller", None) or OfferListApi._only_seller(request.user)
        if not request.user.is_superuser and seller.pk not in selectors.seller_ids_for_user(request.user):
            raise PermissionDenied(_("You may only propose products for your own seller."))
        proposal = services.product_propose(seller=seller, actor=request.user, **data)
        proposal = selectors.proposals_for_user(user=request.user).get(pk=proposal.pk)
        return Response(s.ProductProposalOutputSerializer(proposal).data, status=status.HTTP_201_CREATED)


class ProductProposalDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="product_proposals_retrieve",
        tags=[PROPOSALS],
        summary="One of your sellers' proposed products",
        responses={200: s.ProductProposalOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        proposal = selectors.proposals_for_user(user=request.user).filter(pk=pk).first()
        if proposal is None:
            raise NotFound(_("No such proposal among yours."))
        return Response(s.ProductProposalOutputSerializer(proposal).data)
