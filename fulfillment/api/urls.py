from django.urls import path

from fulfillment.api import views

urlpatterns = [
    path("inventory-uploads/", views.InventoryUploadListApi.as_view(), name="api-inventory-upload-list"),
    path("inventory-uploads/<int:pk>/", views.InventoryUploadDetailApi.as_view(), name="api-inventory-upload-detail"),
]
