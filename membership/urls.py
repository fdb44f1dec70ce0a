from django.urls import path

from membership import views

app_name = "membership"
urlpatterns = [
    path("", views.landing, name="landing"),
    path("join/<slug:slug>/", views.join, name="join"),
    path("account/", views.account, name="account"),
    path("account/cancel/", views.cancel, name="cancel"),
    path("account/resume/", views.resume, name="resume"),
    path("account/card/", views.card, name="card"),
    path("account/billing/", views.change_interval, name="interval"),
]
