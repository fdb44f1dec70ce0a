from django.urls import path

from storefront import views

app_name = "storefront"

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/", views.product_detail, name="product"),
    path("account/", views.account, name="account"),
]
