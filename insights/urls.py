"""Insights' URLs (under /insights/): the analytics beacon and the consent banner's answer."""

from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("e/", views.beacon, name="beacon"),
    path("consent/", views.consent, name="consent"),
]
