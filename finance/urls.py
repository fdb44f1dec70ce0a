"""Finance's pages for shoppers: the PDFs of their invoices and credit notes (the order page links
them; each download checks that the shopper may see the order)."""

from django.urls import path

from finance import views

app_name = "finance"

urlpatterns = [
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("credit-notes/<int:pk>/pdf/", views.credit_note_pdf, name="credit_note_pdf"),
]
