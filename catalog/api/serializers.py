"""Catalog API serializers: output only (the catalog endpoints take no input but a slug)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.selectors import CategoryNode


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


class CategoryOutputSerializer(serializers.Serializer):
    """One category of the tree."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True, help_text="Id of the parent category.")
    depth = serializers.IntegerField(help_text="0 for a top-level category.")
    children = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the direct subcategories.")
    url = serializers.SerializerMethodField(help_text="The category's page on the shop.")

    def get_url(self, node: CategoryNode) -> str:
        return _absolute(self.context.get("request"), reverse("catalog:category", kwargs={"slug": node.slug}))


class CategoryRefOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    url = serializers.SerializerMethodField()

    def get_url(self, node: CategoryNode) -> str:
        return _absolute(self.context.get("request"), reverse("catalog:category", kwargs={"slug": node.slug}))


class CategoryDetailOutputSerializer(CategoryOutputSerializer):
    ancestors = serializers.SerializerMethodField(help_text="From the top-level category down to the parent.")
    products = serializers.SerializerMethodField(help_text="The API listing of this category's products.")

    @extend_schema_field(CategoryRefOutputSerializer(many=True))
    def get_ancestors(self, node: CategoryNode) -> list[dict]:
        chain = self.context["tree"].ancestors(node.id)[:-1]
        return CategoryRefOutputSerializer(chain, many=True, context=self.context).data

    def get_products(self, node: CategoryNode) -> str:
        return _absolute(self.context.get("request"), f"{reverse('api-product-list')}?category={node.slug}")


class BrandOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.SlugField()
    name = serializers.CharField()
