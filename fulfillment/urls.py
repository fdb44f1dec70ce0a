from django.urls import path

from fulfillment import views

app_name = "fulfillment"

urlpatterns = [
    path("webhooks/carriers/<slug:carrier>/", views.carrier_webhook, name="carrier_webhook"),
]
