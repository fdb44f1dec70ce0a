"""Invoices API: the invoices and credit notes of one of your orders, and their PDFs. Who may see
them is who may see the order: its signed-in owner, or the browser session that opened the order's
guest link; anyone else is told "not found" (signed in) or to authenticate."""

from __future__ import annotations

from django.http import FileResponse, HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import error_responses
from core.exceptions import NotFound
from finance import invoices
from finance.api import serializers as s

INVOICES = "invoices"
NOT_READY = ("409 `document_not_ready` when the PDF cannot be drawn or kept just now (it is drawn on the "
             "first download): retry after the seconds in `Retry-After`.")


def _refused(request: Request, what: str):
    if not request.user.is_authenticated:
        return NotAuthenticated()
    return NotFound(what)


class OrderInvoicesApi(APIView):
    permission_classes = [AllowAny]  # the order decides: its owner, or its guest link's session

    @extend_schema(
        operation_id="orders_invoices_list", tags=[INVOICES],
        summary="The invoices of one of your orders, with their credit notes",
        description=("One invoice per seller of the order (each seller is the merchant of record of its lines; "
                     "Bazaar of its own), issued once the order is paid, with the tax per rate; each with the "
                     "credit notes of its refunds. Not paginated: an order has one invoice per seller."),
        responses={200: s.InvoiceOutputSerializer(many=True), **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, number: str) -> Response:
        order = invoices.shopper_order(user=request.user, session=request.session, number=number)
        if order is None:
            raise _refused(request, _("No such order."))
        documents = invoices.order_invoices(order_id=order.pk)
        return Response(s.InvoiceOutputSerializer(documents, many=True, context={"request": request}).data)


class _PdfApi(APIView):
    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # A PDF whatever the client accepts; errors are JSON, also for a client that asked for PDF only.
        return super().perform_content_negotiation(request, force=True)

    def _answer(self, document) -> HttpResponse:
        try:
            pdf = invoices.document_file(document)
        except invoices.DocumentNotReady as exc:
            response = self.handle_exception(exc)
            response["Retry-After"] = "60"
            return response
        response = FileResponse(pdf, content_type="application/pdf", as_attachment=True,
                                filename=f"{document.number}.pdf")
        response["Cache-Control"] = "private, no-store"
        return response


class InvoicePdfApi(_PdfApi):
    @extend_schema(
        operation_id="invoices_pdf", tags=[INVOICES], summary="An invoice as a PDF",
        description=NOT_READY,
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice."),
                   **error_responses(401, 403, 404, 409, 429)},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        invoice = invoices.invoice_for_shopper(user=request.user, session=request.session, pk=pk)
        if invoice is None:
            raise _refused(request, _("No such invoice."))
        return self._answer(invoice)


class CreditNotePdfApi(_PdfApi):
    @extend_schema(
        operation_id="credit_notes_pdf", tags=[INVOICES], summary="A credit note as a PDF",
        description=NOT_READY,
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The credit note."),
                   **error_responses(401, 403, 404, 409, 429)},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        note = invoices.credit_note_for_shopper(user=request.user, session=request.session, pk=pk)
        if note is None:
            raise _refused(request, _("No such credit note."))
        return self._answer(note)
