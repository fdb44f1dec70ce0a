"""Pages that show several contexts at once: home, the product page, the account overview.

They live here, above every context they show, so each one reads what it needs from that
context's selectors (or from the shop's strategy, ``request.strategy``) and no lower app renders
a higher one's data through template tags.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors as account_selectors
from catalog import cache_keys
from catalog import selectors as catalog_selectors
from checkout import selectors as checkout_selectors
from checkout import services as checkout_services
from core.exceptions import ApplicationError
from core.forms import add_service_errors
from core.pagecache import cache_page_versioned, personal_for
from core.ratelimit import rate_limited
from insights import recommendations
from marketplace import selectors as marketplace_selectors
from membership import selectors as membership_selectors
from orders import selectors as orders_selectors
from storefront import personal_data
from storefront.forms import AccountCloseForm

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


# --- recommendations (insights.recommendations), loaded into the pages after they render -------------
# The blocks are fragments the page fetches (htmx) once it is shown: the product page and the home
# page stay whole in the page cache and cost nothing more to serve, and the blocks have caches of
# their own (the stored lists, and for the product's block the catalog's prices and stock).

RECS_SHOWN = 8


def _recs_namespaces(request, product_id: int) -> list[str]:
    return [cache_keys.CATALOG, cache_keys.LISTING, recommendations.RECS_NAMESPACE]


@cache_page_versioned(_recs_namespaces, shared=True)
def product_recommendations(request: HttpRequest, product_id: int) -> HttpResponse:
    """"Frequently bought together" and "Customers who bought this also bought" (or, before anyone
    bought it, "... viewed this also viewed") for one product."""
    kind = recommendations.Kind
    together = recommendations.for_product(product_id=product_id, kind=kind.BOUGHT_TOGETHER, limit=4)
    also = recommendations.for_product(product_id=product_id, kind=kind.ALSO_BOUGHT, limit=RECS_SHOWN)
    also_kind, title = kind.ALSO_BOUGHT, kind.ALSO_BOUGHT.label
    if not also:
        also, also_kind, title = recommendations.for_product(product_id=product_id, kind=kind.ALSO_VIEWED,
                                                             limit=RECS_SHOWN), kind.ALSO_VIEWED, kind.ALSO_VIEWED.label
    if not also:  # nobody bought or viewed it with anything yet: the best sellers of its category
        also, also_kind = recommendations.category_best_for(product_id=product_id, limit=RECS_SHOWN), kind.CATEGORY_BEST
        title = _("Best sellers in this category")
    blocks = [block for block in (
        {"kind": str(kind.BOUGHT_TOGETHER), "title": kind.BOUGHT_TOGETHER.label, "products": together},
        {"kind": str(also_kind), "title": title, "products": also},
    ) if block["products"]]
    return render(request, "storefront/_recommendations.html", {"blocks": blocks})


def cart_recommendations(request: HttpRequest) -> HttpResponse:
    """What goes with the shopper's cart: the lists of its products merged (never what it holds)."""
    cart = checkout_services.cart_for_session(session=request.session, user=request.user)
    product_ids = checkout_selectors.cart_product_ids(cart=cart)
    kind = recommendations.Kind
    blocks = []
    if product_ids:
        together = recommendations.for_products(product_ids=product_ids, kind=kind.BOUGHT_TOGETHER, limit=4)
        also = recommendations.for_products(product_ids=product_ids, kind=kind.ALSO_BOUGHT, limit=RECS_SHOWN)
        blocks = [block for block in (
            {"kind": str(kind.BOUGHT_TOGETHER), "title": kind.BOUGHT_TOGETHER.label, "products": together},
            {"kind": str(kind.ALSO_BOUGHT), "title": kind.ALSO_BOUGHT.label, "products": also},
        ) if block["products"]]
    return render(request, "storefront/_recommendations.html", {"blocks": blocks})


def for_you(request: HttpRequest) -> HttpResponse:
    """Home page: "Inspired by your history" for a visitor with one, the shop's best sellers else."""
    user_id = request.user.pk if request.user.is_authenticated else None
    personal, products = recommendations.inspired_by(visitor_id=getattr(request, "visitor_id", ""),
                                                     user_id=user_id, limit=RECS_SHOWN)
    title = _("Inspired by your history") if personal else _("Popular right now")
    blocks = [{"kind": "history" if personal else "popular", "title": title, "products": products}] if products else []
    return render(request, "storefront/_recommendations.html", {"blocks": blocks})


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


@login_required
@rate_limited("account_close")
@require_http_methods(["GET", "POST"])
def account_data(request: HttpRequest) -> HttpResponse:
    """Your data: download everything the shop holds about you; close your account."""
    form = AccountCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            personal_data.account_close(user=request.user, password=form.cleaned_data["password"])
        except ApplicationError as exc:
            add_service_errors(form, exc)
        else:
            logout(request)
            messages.success(request, _("Your account is closed. Thank you for shopping with us."))
            return redirect("storefront:home")
    return render(request, "storefront/account_data.html", {
        "form": form, "blockers": personal_data.closing_blockers(user=request.user),
    }, status=400 if form.errors else 200)


@login_required
@require_GET
def account_data_export(request: HttpRequest) -> HttpResponse:
    """Everything the shop holds about the signed-in customer, as a JSON file to keep."""
    data = personal_data.personal_data_export(user=request.user)
    response = JsonResponse(data, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2})
    day = data["exported_at"].date().isoformat()
    response["Content-Disposition"] = f'attachment; filename="{settings.SHOP_NAME.lower()}-data-{day}.json"'
    response["Cache-Control"] = "private, no-store"
    return response
