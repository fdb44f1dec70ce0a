from django.urls import path

from accounts.api import views

urlpatterns = [
    path("account/", views.AccountApi.as_view(), name="api-account"),
    path("account/addresses/", views.AddressListApi.as_view(), name="api-address-list"),
    path("account/addresses/<int:address_id>/", views.AddressDetailApi.as_view(), name="api-address-detail"),
    path("auth/token/", views.TokenApi.as_view(), name="api-auth-token"),
]
