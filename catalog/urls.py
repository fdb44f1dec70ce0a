from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("c/<slug:slug>/", views.category, name="category"),
    path("search/", views.search, name="search"),
    path("p/<slug:slug>/reviews/", views.reviews, name="reviews"),
    path("p/<slug:slug>/review/", views.review_write, name="review_write"),
    path("reviews/<int:pk>/helpful/", views.review_helpful, name="review_helpful"),
]
