"""REST API v1: every app's routes under /api/v1/."""

from django.urls import include, path, re_path

from core.api import api_not_found
from storefront import api as storefront_api

urlpatterns = [
    path("", include("catalog.api.urls")),
    path("", include("marketplace.api.urls")),
    path("", include("fulfillment.api.urls")),
    path("", include("accounts.api.urls")),
    path("account/data/", storefront_api.AccountDataApi.as_view(), name="api-account-data"),
    path("account/close/", storefront_api.AccountCloseApi.as_view(), name="api-account-close"),
    path("", include("checkout.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("finance.api.urls")),
    path("", include("promotions.api.urls")),
    path("", include("membership.api.urls")),
    path("", include("payments.api.urls")),
    # Last: anything else under /api/v1/ is a 404 in the API's error shape (an endpoint asked for
    # without its trailing slash is redirected to it: core.api.api_not_found).
    re_path(r"^[\s\S]*$", api_not_found),
]
