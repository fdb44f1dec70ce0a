from django.urls import path

from membership.api import views

urlpatterns = [
    path("membership/", views.MembershipApi.as_view(), name="api-membership"),
    path("membership/plans/", views.PlanListApi.as_view(), name="api-membership-plans"),
    path("membership/cancel/", views.CancelApi.as_view(), name="api-membership-cancel"),
    path("membership/resume/", views.ResumeApi.as_view(), name="api-membership-resume"),
    path("membership/card/", views.CardApi.as_view(), name="api-membership-card"),
    path("membership/billing/", views.IntervalApi.as_view(), name="api-membership-interval"),
]
