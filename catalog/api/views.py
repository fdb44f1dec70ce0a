"""Catalog API: the category tree and brands (served from the cached selectors) and a product's
reviews. Read-only."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.api.serializers import (
    BrandOutputSerializer,
    CategoryDetailOutputSerializer,
    CategoryOutputSerializer,
    RatingSummaryOutputSerializer,
    ReviewListInputSerializer,
    ReviewOutputSerializer,
    ReviewPageOutputSerializer,
)
from core.api import StrictPageNumberPagination, error_responses
from core.exceptions import NotFound

TAG = "catalog"


def _tree_order(tree: selectors.CategoryTree) -> list[selectors.CategoryNode]:
    """Every node, parents before their children, siblings in shop order (depth first)."""
    ordered: list[selectors.CategoryNode] = []
    stack = list(reversed(tree.children_of(None)))
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(reversed(tree.children_of(node.id)))
    return ordered


class CategoryListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="categories_list",
        tags=[TAG],
        summary="The category tree",
        description=(
            "Every visible category, depth first: each parent comes before its children. Rebuild the "
            "tree with `parent` or `children`. Not paginated (the tree is small and cached)."
        ),
        responses={200: CategoryOutputSerializer(many=True), **error_responses(429)},
        examples=[
            OpenApiExample(
                "Two levels",
                response_only=True,
                value=[
                    {"id": 1, "name": "Kitchen", "slug": "kitchen", "parent": None, "depth": 0, "children": [2],
                     "url": "https://shop.example/c/kitchen/"},
                    {"id": 2, "name": "Kettles", "slug": "kettles", "parent": 1, "depth": 1, "children": [],
                     "url": "https://shop.example/c/kettles/"},
                ],
            )
        ],
    )
    def get(self, request: Request) -> Response:
        tree = selectors.category_tree()
        data = CategoryOutputSerializer(_tree_order(tree), many=True, context={"request": request}).data
        return Response(data)


class CategoryDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="categories_retrieve",
        tags=[TAG],
        summary="One category",
        description="A category with its ancestors (for breadcrumbs) and a link to its products.",
        responses={200: CategoryDetailOutputSerializer, **error_responses(404, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        tree = selectors.category_tree()
        node = tree.get(slug)
        if node is None:
            raise NotFound(_("No such category."))
        return Response(CategoryDetailOutputSerializer(node, context={"request": request, "tree": tree}).data)


class BrandListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="brands_list",
        tags=[TAG],
        summary="Every brand",
        description="All brands by name; use a brand's `slug` in the `brand` filter of the product list.",
        responses={200: BrandOutputSerializer(many=True), **error_responses(429)},
    )
    def get(self, request: Request) -> Response:
        brands = sorted(selectors.brand_list(), key=lambda b: (b["name"].lower(), b["id"]))
        return Response(BrandOutputSerializer(brands, many=True).data)


# --- reviews of a product ------------------------------------------------------------------


class ReviewPagination(StrictPageNumberPagination):
    page_size = selectors.REVIEWS_PAGE_SIZE


class ProductReviewListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="products_reviews_list",
        tags=["products"],
        summary="Reviews of a product",
        description=(
            "Every review of an active product, as on its reviews page: sorted by `sort`, optionally only "
            "those with `stars` stars, 10 per page, with the rating summary (average, count and how many "
            "reviews give each number of stars, whatever the filter). An unknown `sort`, a `stars` outside "
            "1 to 5 or a page past the last one is a 400 naming the parameter in `error.fields`."
        ),
        parameters=[
            ReviewListInputSerializer,
            OpenApiParameter(
                "page", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY,
                description="Page number, from 1. A page past the last one is a 400.",
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": StrictPageNumberPagination.max_page_size},
                OpenApiParameter.QUERY, description="Reviews per page (default 10, at most 100).",
            ),
        ],
        responses={200: ReviewPageOutputSerializer, **error_responses(400, 404, 429)},
        examples=[
            OpenApiExample(
                "Most helpful first",
                response_only=True,
                status_codes=["200"],
                value={
                    "count": 2, "next": None, "previous": None,
                    "results": [
                        {"id": 31, "rating": 5, "title": "Boils fast", "body": "Quiet, too.", "author": "Ada L.",
                         "created_at": "2025-03-01T09:30:00Z", "verified_purchase": True, "helpful_count": 4},
                        {"id": 12, "rating": 2, "title": "Leaks", "body": "", "author": "A customer",
                         "created_at": "2025-02-11T18:02:00Z", "verified_purchase": False, "helpful_count": 0},
                    ],
                    "summary": {"count": 2, "average": "3.50", "histogram": [
                        {"stars": 5, "count": 1, "percent": 50}, {"stars": 4, "count": 0, "percent": 0},
                        {"stars": 3, "count": 0, "percent": 0}, {"stars": 2, "count": 1, "percent": 50},
                        {"stars": 1, "count": 0, "percent": 0},
                    ]},
                },
            ),
            OpenApiExample(
                "Unknown sort",
                response_only=True,
                status_codes=["400"],
                value={"error": {"code": "invalid", "message": "Some fields are not valid.",
                                 "fields": {"sort": ['"best" is not a valid choice.']}}},
            ),
        ],
    )
    def get(self, request: Request, slug: str) -> Response:
        params = ReviewListInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        product = selectors.product_for_review(slug=slug)
        if product is None:
            raise NotFound(_("No such product."))
        reviews = selectors.product_review_list(
            product_id=product.pk,
            sort=params.validated_data["sort"] or selectors.REVIEW_SORT_DEFAULT,
            stars=params.validated_data["stars"],
        )
        paginator = ReviewPagination()
        page = paginator.paginate_queryset(reviews, request, view=self)
        histogram = selectors.rating_histogram(product_id=product.pk)
        return Response({
            "count": paginator.page.paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": ReviewOutputSerializer(page, many=True).data,
            "summary": RatingSummaryOutputSerializer(histogram).data,
        })
