from django.urls import path

from finance.api import views

urlpatterns = [
    path("orders/<str:number>/invoices/", views.OrderInvoicesApi.as_view(), name="api-order-invoices"),
    path("invoices/<int:pk>/pdf/", views.InvoicePdfApi.as_view(), name="api-invoice-pdf"),
    path("credit-notes/<int:pk>/pdf/", views.CreditNotePdfApi.as_view(), name="api-credit-note-pdf"),
]
