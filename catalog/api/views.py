"""Catalog API: the category tree and brands. Read-only, served from the cached selectors."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.api.serializers import BrandOutputSerializer, CategoryDetailOutputSerializer, CategoryOutputSerializer
from core.api import error_responses
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
