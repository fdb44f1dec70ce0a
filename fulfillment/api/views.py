"""Inventory files through the API: upload a CSV (dry run or real), follow its progress, read its
report. Views are thin: the work is :mod:`fulfillment.inventory`."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import StrictPageNumberPagination, error_responses
from core.exceptions import PermissionDenied
from fulfillment import inventory, selectors
from fulfillment.api import serializers as s
from fulfillment.api.base import seller_for
from marketplace import selectors as marketplace_selectors

UPLOADS = "inventory files"


def _seller(request: Request, slug: str | None):
    return seller_for(request, slug, ask=_("Say which seller this file is for."))


class InventoryUploadListApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]
    pagination_class = StrictPageNumberPagination  # for the schema: the list comes in pages

    @extend_schema(
        operation_id="inventory_uploads_list",
        tags=[UPLOADS],
        summary="Your sellers' inventory files",
        responses={200: s.InventoryUploadOutputSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request: Request) -> Response:
        paginator = StrictPageNumberPagination()
        page = paginator.paginate_queryset(selectors.uploads_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(s.InventoryUploadOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="inventory_uploads_create",
        tags=[UPLOADS],
        summary="Upload an inventory file",
        description=(
            "Offers and stock from a CSV file, for one of your sellers (owners and managers). A dry run "
            "(the default) reports per row what would change; `dry_run=false` applies every valid row once "
            "(a row that already matches is unchanged, so the same file twice changes nothing the second "
            "time). Files of up to a few hundred rows are done when this answers (`status` `done`); larger "
            "ones are `queued` and run by a worker: ask `GET /inventory-uploads/{id}/` for progress. A file "
            "that cannot be read at all is a 400 on `file`; row errors are in the report."
        ),
        request={"multipart/form-data": s.InventoryUploadInputSerializer},
        responses={201: s.InventoryUploadDetailOutputSerializer, **error_responses(400, 401, 403, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        body = s.InventoryUploadInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        seller = _seller(request, data.get("seller"))
        if not request.user.is_superuser and seller.pk not in marketplace_selectors.seller_ids_for_user(request.user):
            raise PermissionDenied(_("You may only upload files for your own seller."))
        warehouse = None
        if data.get("warehouse"):
            warehouse = selectors.seller_location(seller_id=seller.pk, code=data["warehouse"])
            if warehouse is None:
                raise s.serializers.ValidationError({"warehouse": [_("Not one of this seller's active locations.")]})
        upload = inventory.inventory_upload_create(
            seller=seller, actor=request.user, file_name=data["file"].name, data=data["file"].read(),
            dry_run=data["dry_run"], warehouse=warehouse)
        upload = selectors.uploads_for_user(user=request.user).get(pk=upload.pk)
        return Response(s.InventoryUploadDetailOutputSerializer(upload).data, status=status.HTTP_201_CREATED)


class InventoryUploadDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="inventory_uploads_retrieve",
        tags=[UPLOADS],
        summary="One inventory file: progress and report",
        responses={200: s.InventoryUploadDetailOutputSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, pk: int) -> Response:
        upload = selectors.upload_get_for_user(user=request.user, pk=pk)
        return Response(s.InventoryUploadDetailOutputSerializer(upload).data)
