from django.urls import path

from checkout import flow

app_name = "checkout_flow"

urlpatterns = [
    path("", flow.address, name="address"),
    path("delivery/", flow.delivery, name="delivery"),
    path("review/", flow.review, name="review"),
    path("place/", flow.place, name="place"),
]
