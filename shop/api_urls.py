"""REST API v1: every app's routes under /api/v1/."""

from django.urls import include, path, re_path

from core.api import api_not_found

urlpatterns = [
    path("", include("catalog.api.urls")),
    path("", include("marketplace.api.urls")),
    path("", include("fulfillment.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("checkout.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("finance.api.urls")),
    path("", include("promotions.api.urls")),
    path("", include("membership.api.urls")),
    path("", include("payments.api.urls")),
    # Last: anything else under /api/v1/ ending in a slash is a 404 in the API's error shape (a
    # URL without the slash is first redirected to it by APPEND_SLASH, as everywhere else).
    re_path(r"^[\s\S]*/$", api_not_found),
]
