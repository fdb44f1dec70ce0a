"""Pages that show several contexts at once: home, the product page, the account overview.

They live here, above every context they show, so each one reads what it needs from that
context's selectors (or from the shop's strategy, ``request.strategy``) and no lower app renders
a higher one's data through template tags.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from catalog import cache_keys
from catalog import selectors as catalog_selectors
from core.pagecache import cache_page_versioned, personal_for
from marketplace import selectors as marketplace_selectors
from membership import selectors as membership_selectors
from orders import selectors as orders_selectors

RECENT_ORDERS = 5


def _home_namespaces(request) -> list[str]:
    return [cache_keys.CATALOG, cache_keys.LISTING]


@cache_page_versioned(_home_namespaces, shared=True)
def home(request: HttpRequest) -> HttpResponse:
    tree = catalog_selectors.category_tree()
    sections = catalog_selectors.product_home_sections()
    return render(request, "storefront/home.html", {"top_categories": tree.children_of(None), **sections})


def _product_namespaces(request, slug: str) -> list[str]:
    return [cache_keys.CATALOG, cache_keys.product(slug), *request.strategy.cache_namespaces]


def _page_variant(request, slug: str) -> str:
    return request.strategy.page_variant


@cache_page_versioned(_product_namespaces, shared=True, variant=_page_variant)
def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A product with its offers in buy-box order for this viewer (the shop's strategy: stock,
    deals, their membership), reviews and what members pay. Members of a plan share one cached
    page, everyone else another; the authors of the reviews shown get theirs rendered for them."""
    page = marketplace_selectors.product_page(slug=slug, inputs=request.strategy)
    if page is None:
        raise Http404(_("No such product."))
    response = render(request, "storefront/product_detail.html", {"page": page, "product": page.product})
    return personal_for(response, (review.user_id for review in page.reviews))


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The signed-in customer's overview: profile, default address, membership, recent orders."""
    user = request.user
    subscription = membership_selectors.live_subscription(user)
    return render(request, "storefront/account.html", {
        "default_address": account_selectors.address_default(user=user),
        "subscription": subscription,
        "next_billing": membership_selectors.next_billing(subscription) if subscription else None,
        "trial_eligible": subscription is None and membership_selectors.trial_eligible(user=user),
        "orders": list(orders_selectors.orders_for_user(user=user)[:RECENT_ORDERS]),
    })
