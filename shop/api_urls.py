"""REST API v1: every app's routes under /api/v1/."""

from django.urls import include, path

urlpatterns = [
    path("", include("catalog.api.urls")),
    path("", include("marketplace.api.urls")),
]
