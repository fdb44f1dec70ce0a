from django.urls import path

from fulfillment.api import views, views_inbound, views_purchasing, views_removals

urlpatterns = [
    path("inventory-uploads/", views.InventoryUploadListApi.as_view(), name="api-inventory-upload-list"),
    path("inventory-uploads/<int:pk>/", views.InventoryUploadDetailApi.as_view(), name="api-inventory-upload-detail"),
    # inbound shipments
    path("inbound-shipments/", views_inbound.InboundShipmentListApi.as_view(), name="api-inbound-list"),
    path("inbound-shipments/<int:pk>/", views_inbound.InboundShipmentDetailApi.as_view(), name="api-inbound-detail"),
    path("inbound-shipments/<int:pk>/items/", views_inbound.InboundItemSetApi.as_view(), name="api-inbound-items"),
    path("inbound-shipments/<int:pk>/ready/", views_inbound.InboundReadyApi.as_view(), name="api-inbound-ready"),
    path("inbound-shipments/<int:pk>/ship/", views_inbound.InboundShipApi.as_view(), name="api-inbound-ship"),
    path("inbound-shipments/<int:pk>/void/", views_inbound.InboundVoidApi.as_view(), name="api-inbound-void"),
    path("inbound-shipments/<int:pk>/labels.pdf", views_inbound.InboundLabelsApi.as_view(),
         name="api-inbound-labels"),
    # removal orders
    path("removal-orders/", views_removals.RemovalListApi.as_view(), name="api-removal-list"),
    path("removal-orders/<int:pk>/", views_removals.RemovalDetailApi.as_view(), name="api-removal-detail"),
    path("removal-orders/<int:pk>/cancel/", views_removals.RemovalCancelApi.as_view(), name="api-removal-cancel"),
    # first-party purchasing (platform staff)
    path("purchase-orders/", views_purchasing.PurchaseOrderListApi.as_view(), name="api-po-list"),
    path("purchase-orders/<int:pk>/", views_purchasing.PurchaseOrderDetailApi.as_view(), name="api-po-detail"),
    path("purchase-orders/<int:pk>/order/", views_purchasing.PurchaseOrderOrderApi.as_view(), name="api-po-order"),
    path("purchase-orders/<int:pk>/cancel/", views_purchasing.PurchaseOrderCancelApi.as_view(), name="api-po-cancel"),
    path("reorder-suggestions/", views_purchasing.ReorderSuggestionListApi.as_view(),
         name="api-reorder-suggestions"),
]
