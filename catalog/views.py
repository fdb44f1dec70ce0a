"""Catalog pages: home, category listing with facets, search, a product's reviews, writing a
review and voting a review helpful. Thin: parse, select (or call a service), render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from catalog import cache_keys, selectors, services
from catalog.forms import ATTRIBUTE_PREFIX, ProductFilterForm, ReviewForm, ReviewListForm
from core.exceptions import ApplicationError
from core.forms import add_service_errors
from core.pagecache import cache_page_versioned, personal_for, render_fragments


def _listing_namespaces(request, *args, **kwargs):
    return [cache_keys.CATALOG, cache_keys.LISTING]


# The query parameters of category and search pages (ProductFilterForm, the page number), plus
# one ``a_<code>`` per attribute of the catalog; any other parameter is ignored by the page cache.
LISTING_PARAMS = ("q", "sort", "brand", "min_price", "max_price", "in_stock", "page")


def _listing_params(request, *args, **kwargs) -> list[str]:
    return [*LISTING_PARAMS, *(f"{ATTRIBUTE_PREFIX}{a['code']}" for a in selectors.attribute_list())]


def _page_notice(requested: str, page) -> str:
    """Why another page than the one asked for is shown (not a number, or past the last page)."""
    if requested and requested != str(page.number):
        return _("There is no page %(requested)s; showing page %(number)s.") % {
            "requested": requested[:20],
            "number": page.number,
        }
    return ""


def card_inputs(product) -> tuple:
    """Everything ``partials/product_card.html`` shows of a product (brand and images loaded): the
    key of its cached card, so a card changes exactly when one of these does."""
    images = product.images.all()
    image = images[0] if images else None
    return (
        product.pk, product.slug, product.title, product.brand.name if product.brand_id else None,
        product.rating_count, str(product.rating_avg), product.in_stock, str(product.listing_price),
        product.listing_currency, str(product.listing_member_price), product.listing_member_delivery,
        product.offer_count, image.thumbnail_url if image else None, image.alt_text if image else None,
    )


def product_cards(products) -> list:
    """The cards of these products, each rendered once for everyone (core.pagecache.render_fragments)."""
    return render_fragments("partials/product_card.html", products, name="product", inputs=card_inputs)


def _listing(request: HttpRequest, *, category=None, template: str, extra: dict) -> HttpResponse:
    form = ProductFilterForm(request.GET, category_id=category.id if category else None)
    form.is_valid()
    filters = selectors.product_filter_prepare(form.to_filter())
    products = selectors.product_list(filters=filters)
    requested_page = request.GET.get("page", "")
    page = selectors.listing_page(products, requested_page, per_page=settings.CATALOG_PAGE_SIZE,
                                  cap=settings.CATALOG_COUNT_CAP)
    page_notice = _page_notice(requested_page, page)
    facets = selectors.product_facets(filters=filters)
    context = {
        "form": form,
        "filters": filters,
        "page_obj": page,
        "products": page.object_list,
        "cards": product_cards(page.object_list),
        "facets": facets,
        "sorts": [(k, v) for k, v in selectors.SORTS.items() if k != "relevance" or filters.query],
        "current_sort": filters.effective_sort,
        "page_notice": page_notice,
        **extra,
    }
    return render(request, template, context)


@cache_page_versioned(_listing_namespaces, params=_listing_params, shared=True)
def category(request: HttpRequest, slug: str) -> HttpResponse:
    tree = selectors.category_tree()
    node = tree.get(slug)
    if node is None:
        raise Http404(_("No such category."))
    return _listing(
        request,
        category=node,
        template="catalog/category.html",
        extra={
            "category": node,
            "breadcrumbs": tree.ancestors(node.id)[:-1],
            "subcategories": tree.children_of(node.id),
        },
    )


@cache_page_versioned(_listing_namespaces, params=_listing_params, shared=True)
def search(request: HttpRequest) -> HttpResponse:
    return _listing(request, template="catalog/search.html", extra={"query": request.GET.get("q", "")[:200]})


# --- reviews ---------------------------------------------------------------------------------


def _product_namespaces(request, slug: str, *args, **kwargs):
    # New, edited, deleted reviews and helpful votes bump the product's namespace (catalog.services).
    return [cache_keys.CATALOG, cache_keys.product(slug)]


@cache_page_versioned(_product_namespaces, params=("sort", "stars", "page"), shared=True)
def reviews(request: HttpRequest, slug: str) -> HttpResponse:
    """Every review of a product: rating histogram, sort, star filter, pages of ten."""
    form = ReviewListForm(request.GET)
    form.is_valid()
    requested_page = request.GET.get("page", "")
    data = selectors.product_reviews_page(slug=slug, page=requested_page, **form.params())
    if data is None:
        raise Http404(_("No such product."))
    response = render(
        request,
        "catalog/reviews.html",
        {
            "form": form,
            "product": data.product,
            "breadcrumbs": data.breadcrumbs,
            "histogram": data.histogram,
            "page_obj": data.page,
            "reviews": data.page.object_list,
            "sorts": list(selectors.REVIEW_SORTS.items()),
            "current_sort": data.sort,
            "current_stars": data.stars,
            "star_choices": selectors.REVIEW_STARS,
            "page_notice": _page_notice(requested_page, data.page),
        },
    )
    # Their own reviews get no "Helpful" button: the authors shown are served a page of their own.
    return personal_for(response, (review.user_id for review in data.page.object_list))


@login_required
@require_http_methods(["GET", "POST"])
def review_write(request: HttpRequest, slug: str) -> HttpResponse:
    """Write a review of a product, or edit yours: one review per product and shopper."""
    product = selectors.product_for_review(slug=slug)
    if product is None:
        raise Http404(_("No such product."))
    review = selectors.review_of_user(product_id=product.pk, user=request.user)
    if request.method == "POST":
        form = ReviewForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            bought = request.strategy.has_bought(product.pk)  # the shop's strategy (orders knows)
            try:
                if review is None:
                    try:
                        services.review_create(
                            product=product, user=request.user, rating=data["rating"], title=data["title"],
                            body=data["body"], verified_purchase=bought,
                        )
                    except ApplicationError as exc:
                        if exc.code != "duplicate_review":
                            raise
                        # written meanwhile (another tab): edit that one instead of a second review
                        review = selectors.review_of_user(product_id=product.pk, user=request.user)
                if review is not None:
                    services.review_update(review=review, rating=data["rating"], title=data["title"],
                                           body=data["body"], verified_purchase=bought)
            except ApplicationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Thank you, your review is saved."))
                return redirect(f"{product.get_absolute_url()}#reviews")
    elif review is not None:
        form = ReviewForm(initial={"rating": review.rating, "title": review.title, "body": review.body})
    else:
        form = ReviewForm()
    return render(request, "catalog/review_form.html", {"form": form, "product": product, "review": review})


@require_POST
def review_helpful(request: HttpRequest, pk: int) -> HttpResponse:
    """A signed-in shopper found a review helpful (once; never their own)."""
    review = selectors.review_get(pk=pk)
    if review is None:
        raise Http404(_("No such review."))
    back = f"{_review_return_path(request, review)}#review-{review.pk}"
    if not request.user.is_authenticated:
        # back to the page voted from after signing in (this URL only takes POST)
        return redirect_to_login(back)
    try:
        created = services.review_vote_helpful(review=review, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if created:
            messages.success(request, _("Thank you for your feedback."))
        else:
            messages.info(request, _("You already found this review helpful."))
    return redirect(back)


def _review_return_path(request: HttpRequest, review) -> str:
    """Where to go after a vote: the product's reviews page the form was on (``next``, kept only
    when it is that page, with its sort, filter and page number), else the product page."""
    reviews_path = reverse("catalog:reviews", kwargs={"slug": review.product.slug})
    candidate = request.POST.get("next", "").split("#", 1)[0]
    if (
        candidate.startswith(reviews_path)
        and candidate[len(reviews_path):len(reviews_path) + 1] in ("", "?")
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()})
    ):
        return candidate
    return review.product.get_absolute_url()
