from django.urls import path

from promotions.api import views

urlpatterns = [
    path("deals/", views.DealListApi.as_view(), name="api-deal-list"),
]
