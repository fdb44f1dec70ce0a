from django.urls import path

from marketplace import views

app_name = "marketplace"

urlpatterns = [
    path("sellers/<slug:slug>/", views.seller_detail, name="seller"),
]
