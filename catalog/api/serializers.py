"""Catalog API serializers: the category tree and brands (output only), a product's reviews (a
query-string input serializer and the output)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog import selectors
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


# --- reviews of a product ------------------------------------------------------------------


class ReviewListInputSerializer(serializers.Serializer):
    """The query string of a product's reviews: sort order and a star filter (as on the reviews page)."""

    sort = serializers.ChoiceField(
        choices=list(selectors.REVIEW_SORTS), required=False, allow_blank=True, default=selectors.REVIEW_SORT_DEFAULT,
        help_text=gettext_lazy(
            "`helpful` (default, also when empty): most found helpful first, then newest; `newest`; "
            "`highest` or `lowest` rating first (then most helpful)."
        ),
    )
    stars = serializers.IntegerField(
        min_value=1, max_value=5, required=False, allow_null=True, default=None,
        help_text=gettext_lazy("Only reviews with this many stars (1 to 5)."),
    )


class ReviewOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rating = serializers.IntegerField(help_text=gettext_lazy("1 to 5 stars."))
    title = serializers.CharField()
    body = serializers.CharField(help_text=gettext_lazy("May be empty."))
    author = serializers.SerializerMethodField(help_text=gettext_lazy("The reviewer's name as shown on the shop."))
    created_at = serializers.DateTimeField()
    verified_purchase = serializers.BooleanField(help_text=gettext_lazy("The reviewer bought the product here."))
    helpful_count = serializers.IntegerField(help_text=gettext_lazy("How many shoppers found the review helpful."))

    def get_author(self, review) -> str:
        return review.user.full_name or str(_("A customer"))


class HistogramRowOutputSerializer(serializers.Serializer):
    stars = serializers.IntegerField()
    count = serializers.IntegerField()
    percent = serializers.IntegerField(help_text=gettext_lazy("Whole percent of all ratings, rounded half up."))


class RatingSummaryOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=gettext_lazy("All ratings of the product (whatever the filter)."))
    average = serializers.DecimalField(max_digits=3, decimal_places=2, allow_null=True,
                                       help_text=gettext_lazy("Null when the product has no rating yet."))
    histogram = HistogramRowOutputSerializer(source="rows", many=True, help_text=gettext_lazy("5 stars first."))


class ReviewPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=gettext_lazy("Reviews matching the filter, on all pages."))
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ReviewOutputSerializer(many=True)
    summary = RatingSummaryOutputSerializer()
