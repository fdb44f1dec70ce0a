from django.urls import path

from catalog.api import views

urlpatterns = [
    path("categories/", views.CategoryListApi.as_view(), name="api-category-list"),
    path("categories/<slug:slug>/", views.CategoryDetailApi.as_view(), name="api-category-detail"),
    path("brands/", views.BrandListApi.as_view(), name="api-brand-list"),
    path("products/<slug:slug>/reviews/", views.ProductReviewListApi.as_view(), name="api-product-reviews"),
]
