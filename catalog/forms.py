"""Listing filters as a form: the query string of category and search pages."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog import selectors
from catalog.search import MAX_QUERY_LENGTH
from catalog.services import REVIEW_BODY_MAX, REVIEW_TITLE_MAX

ATTRIBUTE_PREFIX = "a_"
MAX_PRICE = Decimal("9999999999.99")


class ProductFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=MAX_QUERY_LENGTH)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=list(selectors.SORTS.items()))
    brand = forms.MultipleChoiceField(label=_("Brand"), required=False)
    min_price = forms.DecimalField(
        label=_("Min price"), required=False, min_value=0, max_value=MAX_PRICE, decimal_places=2
    )
    max_price = forms.DecimalField(
        label=_("Max price"), required=False, min_value=0, max_value=MAX_PRICE, decimal_places=2
    )
    in_stock = forms.BooleanField(label=_("In stock only"), required=False)

    def __init__(self, data, *, category_id: int | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.category_id = category_id
        self.fields["brand"].choices = [(b["slug"], b["name"]) for b in selectors.brand_list()]
        self.attribute_codes = {a["code"] for a in selectors.attribute_list()}

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", _("The maximum price must not be below the minimum."))
        attributes = []
        for key in sorted(self.data.keys()) if self.data else []:
            if not key.startswith(ATTRIBUTE_PREFIX):
                continue
            code = key[len(ATTRIBUTE_PREFIX):]
            if code not in self.attribute_codes:
                self.add_error(None, _("Unknown filter: %(name)s") % {"name": code})
                continue
            values = tuple(sorted({v[:100] for v in self.data.getlist(key) if v}))
            if values:
                attributes.append((code, values))
        cleaned["attributes"] = tuple(attributes)
        return cleaned

    def to_filter(self) -> selectors.ProductFilter:
        """The filter to list with: the valid parts of the input (invalid parts are dropped)."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        errors = self.errors
        return selectors.ProductFilter(
            category_id=self.category_id,
            query=(data.get("q") or "").strip() if "q" not in errors else "",
            sort=data.get("sort") or "" if "sort" not in errors else "",
            brands=tuple(data.get("brand") or ()) if "brand" not in errors else (),
            min_price=data.get("min_price") if "min_price" not in errors else None,
            max_price=data.get("max_price") if "max_price" not in errors else None,
            in_stock=bool(data.get("in_stock")),
            attributes=data.get("attributes", ()),
        )


class ReviewForm(forms.Form):
    """A shopper's review: 1 to 5 stars (radio buttons), a title and the text."""

    RATING_CHOICES = [
        (5, _("5 stars (excellent)")),
        (4, _("4 stars (good)")),
        (3, _("3 stars (fair)")),
        (2, _("2 stars (poor)")),
        (1, _("1 star (bad)")),
    ]

    rating = forms.TypedChoiceField(
        label=_("Your rating"), choices=RATING_CHOICES, coerce=int, widget=forms.RadioSelect,
        error_messages={"required": _("Choose 1 to 5 stars."), "invalid_choice": _("Choose 1 to 5 stars.")},
    )
    title = forms.CharField(label=_("Title"), max_length=REVIEW_TITLE_MAX)
    body = forms.CharField(
        label=_("Your review"), required=False, max_length=REVIEW_BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("What did you like or dislike? How did you use it?"),
    )

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError(_("This field is required."))
        return title


class ReviewListForm(forms.Form):
    """The query string of a product's reviews page: sort order and a star filter. Values that do
    not fit are reported and ignored (the page shows all reviews, most helpful first)."""

    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=list(selectors.REVIEW_SORTS.items()))
    stars = forms.TypedChoiceField(
        label=_("Rating"), required=False, coerce=int, empty_value=None,
        choices=[("", _("All ratings"))] + [(n, str(n)) for n in selectors.REVIEW_STARS],
        error_messages={"invalid_choice": _("Choose 1 to 5 stars.")},
    )

    def params(self) -> dict:
        """The valid parts of the input, as keyword arguments of ``selectors.product_reviews_page``."""
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        errors = self.errors
        return {
            "sort": (data.get("sort") or selectors.REVIEW_SORT_DEFAULT) if "sort" not in errors
            else selectors.REVIEW_SORT_DEFAULT,
            "stars": data.get("stars") if "stars" not in errors else None,
        }
