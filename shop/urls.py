"""URL map of the whole shop: pages, admin, API, health."""

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from checkout import urls as checkout_urls
from core import admin as core_admin
from core import views as core_views
from finance import views as finance_views
from payments import urls as payments_urls

# Redoc builds its search index in a worker made from a blob: URL and shows the Redocly logo from
# its CDN: allowed on that page only (scripts stay this site's own files everywhere).
redoc_view = csp_update({"worker-src": ["'self'", "blob:"], "img-src": ["https://cdn.redoc.ly"]})(
    SpectacularRedocView.as_view(url_name="schema")
)

admin.site.site_header = _("Bazaar administration")
admin.site.site_title = _("Bazaar admin")
admin.site.index_title = _("Shop, marketplace and stock")

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("bench/hello", core_views.hello, name="hello"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's): the shop's icon.
    path("favicon.ico", core_views.favicon, name="favicon"),
    # The most visited pages first (a URL is resolved by trying the patterns in order): the home,
    # product, category and search pages. Pages that show several contexts (home, product page,
    # account overview) are the storefront's.
    path("", include("storefront.urls")),
    path("", include("catalog.urls")),
    path("admin/seller-centre/", finance_views.seller_centre, name="seller-centre"),
    # Admin's "view on site" redirect, for objects the viewer may open in admin only (core.admin).
    path("admin/r/<int:content_type_id>/<path:object_id>/", admin.site.admin_view(core_admin.view_on_site)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("shop.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a separate file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", redoc_view, name="api-redoc"),
    path("cart/", include((checkout_urls.cart_patterns, "checkout"))),
    path("checkout/", include((checkout_urls.checkout_patterns, "checkout_flow"))),
    path("payments/", include("payments.urls")),
    path("fulfillment/", include("fulfillment.urls")),
    # The shopper's invoices and credit notes (PDF), linked from the order page.
    path("", include("finance.urls")),
    path("account/", include("accounts.urls")),
    # Store credit and gift cards: /account/store-credit/, /account/gift-cards/redeem/, /gift-cards/balance/.
    path("", include((payments_urls.page_patterns, "credit"))),
    path("orders/", include("orders.urls")),
    path("deals/", include("promotions.urls")),
    path("membership/", include("membership.urls")),
    # Insights: the analytics beacon and the consent banner's answer.
    path("insights/", include("insights.urls")),
    path("", include("marketplace.urls")),
]

if settings.SERVE_MEDIA:
    urlpatterns += [
        re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]
