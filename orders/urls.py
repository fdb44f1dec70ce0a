from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("guest/", views.guest_order_open, name="guest_open"),
    path("guest/resend/", views.guest_link_resend, name="guest_resend"),
    path("guest/link/<slug:problem>/", views.guest_link_problem, name="guest_problem"),
    path("guest/<str:number>/", views.guest_order_detail, name="guest_detail"),
    path("guest/<str:number>/cancel/", views.guest_order_cancel, name="guest_cancel"),
    path("guest/<str:number>/rate/<int:seller_id>/", views.guest_seller_feedback, name="guest_seller_feedback"),
    path("guest/<str:number>/claim/<int:seller_id>/", views.guest_claim_open, name="guest_claim"),
    path("guest/<str:number>/return/<int:package_id>/", views.guest_return_new, name="guest_return_new"),
    path("guest/<str:number>/returns/<int:pk>/", views.guest_return_detail, name="guest_return_detail"),
    path("guest/<str:number>/returns/<int:pk>/label/", views.guest_return_label, name="guest_return_label"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/cancel/", views.order_cancel, name="cancel"),
    path("<str:number>/rate/<int:seller_id>/", views.seller_feedback, name="seller_feedback"),
    path("<str:number>/claim/<int:seller_id>/", views.claim_open, name="claim"),
    path("<str:number>/return/<int:package_id>/", views.return_new, name="return_new"),
    path("<str:number>/returns/<int:pk>/", views.return_detail, name="return_detail"),
    path("<str:number>/returns/<int:pk>/label/", views.return_label, name="return_label"),
]
