from django.urls import path

from storefront import views

app_name = "storefront"

urlpatterns = [
    path("", views.home, name="home"),
    path("p/<slug:slug>/", views.product_detail, name="product"),
    path("account/", views.account, name="account"),
    path("account/data/", views.account_data, name="account_data"),
    path("account/data/export/", views.account_data_export, name="account_data_export"),
    path("recommendations/product/<int:product_id>/", views.product_recommendations, name="recs_product"),
    path("recommendations/cart/", views.cart_recommendations, name="recs_cart"),
    path("recommendations/for-you/", views.for_you, name="recs_for_you"),
]
