from django.urls import path

from membership import views

app_name = "membership"
urlpatterns = [
    path("", views.landing, name="landing"),
    path("join/<slug:slug>/", views.join, name="join"),
    # Stripe: the page saves the card in the browser (SetupIntent), then comes back to complete/.
    path("join/<slug:slug>/setup/", views.join_setup, name="join_setup"),
    path("join/<slug:slug>/complete/", views.join_complete, name="join_complete"),
    path("account/", views.account, name="account"),
    path("account/cancel/", views.cancel, name="cancel"),
    path("account/resume/", views.resume, name="resume"),
    path("account/card/", views.card, name="card"),
    path("account/card/setup/", views.card_setup, name="card_setup"),
    path("account/card/complete/", views.card_complete, name="card_complete"),
    path("account/billing/", views.change_interval, name="interval"),
]
