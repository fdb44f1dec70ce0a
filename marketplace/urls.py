from django.urls import path

from marketplace import views

app_name = "marketplace"

urlpatterns = [
    path("sellers/<slug:slug>/", views.seller_detail, name="seller"),
    path("sell/", views.sell, name="sell"),
    path("sell/apply/", views.sell_apply, name="sell-apply"),
    path("sell/application/", views.application, name="application"),
]
