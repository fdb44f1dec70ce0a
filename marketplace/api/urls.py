from django.urls import path

from marketplace.api import views

urlpatterns = [
    path("products/", views.ProductListApi.as_view(), name="api-product-list"),
    path("products/<slug:slug>/", views.ProductDetailApi.as_view(), name="api-product-detail"),
    path("sellers/", views.SellerListApi.as_view(), name="api-seller-list"),
    path("sellers/<slug:slug>/", views.SellerDetailApi.as_view(), name="api-seller-detail"),
    path("offers/", views.OfferListApi.as_view(), name="api-offer-list"),
    path("offers/<int:pk>/", views.OfferDetailApi.as_view(), name="api-offer-detail"),
    path("product-proposals/", views.ProductProposalListApi.as_view(), name="api-proposal-list"),
    path("product-proposals/<int:pk>/", views.ProductProposalDetailApi.as_view(), name="api-proposal-detail"),
]
