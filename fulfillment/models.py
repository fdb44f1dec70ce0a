"""Fulfillment: warehouses, stock per offer and warehouse, the stock ledger, shipping methods.

It knows nothing of orders: callers pass offer ids, quantities and a reference string.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.files import private_storage  # labels carry buyers' addresses (also named by migration 0016)
from core.idempotency import CreatedOnce
from core.money import clean_prices


class Warehouse(models.Model):
    class Kind(models.TextChoices):
        PLATFORM = "platform", _("Bazaar fulfilment centre")
        SELLER = "seller", _("Seller location")

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PLATFORM)
    seller = models.ForeignKey(
        "marketplace.Seller", verbose_name=_("seller"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="warehouses",
        help_text=_("Owner of a seller location; empty for Bazaar fulfilment centres."),
    )
    country = models.CharField(_("country"), max_length=2, default="US")
    city = models.CharField(_("city"), max_length=80, blank=True)
    # The return address on labels: a real carrier needs all of it to sell one.
    street = models.CharField(_("street"), max_length=120, blank=True)
    region = models.CharField(_("state or region"), max_length=80, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC",
                                 help_text=_("Where the cutoff is counted, e.g. America/New_York."))
    cutoff = models.TimeField(_("order cutoff"), null=True, blank=True,
                              help_text=_("Orders placed before this local time leave the same working day "
                                          "(plus handling days); empty: no cutoff."))

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="platform", seller__isnull=True) | Q(kind="seller", seller__isnull=False),
                name="warehouse_seller_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StockItem(models.Model):
    """Units of one offer in one warehouse. ``available = on_hand - reserved``."""

    offer = models.ForeignKey(
        "marketplace.Offer", verbose_name=_("offer"), on_delete=models.CASCADE, related_name="stock_items"
    )
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("warehouse"), on_delete=models.PROTECT, related_name="stock_items"
    )
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    bin = models.CharField(_("bin"), max_length=32, blank=True,
                           help_text=_("Where the units are shelved, as aisle-bay-shelf (e.g. A03-12-2): pick "
                                       "lists walk the bins in this order."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("stock item")
        verbose_name_plural = _("stock items")
        # Changing stock moves money (what can be sold): each kind of change has its own permission.
        permissions = [
            ("receive_stock", _("Can record units received")),
            ("adjust_stock", _("Can correct units on hand (count, damage, loss)")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["offer", "warehouse"], name="stock_once_per_offer_warehouse"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.offer} @ {self.warehouse}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(models.Model):
    """The stock ledger: one row for every change, written in the same transaction."""

    class Kind(models.TextChoices):
        RECEIVE = "receive", _("Received")
        ADJUST = "adjust", _("Adjusted")
        RESERVE = "reserve", _("Reserved")
        RELEASE = "release", _("Released")
        SHIP = "ship", _("Shipped")
        RETURN = "return", _("Returned")

    stock_item = models.ForeignKey(StockItem, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    reserved_delta = models.IntegerField(_("reserved change"), default=0)
    on_hand_after = models.IntegerField(_("on hand after"))
    reserved_after = models.IntegerField(_("reserved after"))
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock ledger")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.on_hand_delta:+}/{self.reserved_delta:+}"


class ShippingMethod(models.Model):
    """A way to ship a package. Seller-specific methods override the defaults for their offers."""

    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=80)
    channel = models.CharField(
        _("for offers"), max_length=10,
        choices=[("merchant", _("Shipped by seller")), ("platform", _("Fulfilled by Bazaar"))],
    )
    seller = models.ForeignKey(
        "marketplace.Seller", null=True, blank=True, on_delete=models.CASCADE, related_name="shipping_methods",
        help_text=_("Empty: offered for every seller's offers of this channel."),
    )
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    min_days = models.PositiveSmallIntegerField(_("transit days from"), default=2)
    max_days = models.PositiveSmallIntegerField(_("transit days to"), default=5)
    carrier = models.CharField(_("carrier"), max_length=32, blank=True,
                               help_text=_("Whose holidays count in transit (empty: only the general ones)."))
    members_only = models.BooleanField(
        _("members only"), default=False,
        help_text=_("Offered only to members whose plan includes faster shipping (e.g. one-day delivery)."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("shipping method")
        verbose_name_plural = _("shipping methods")
        ordering = ("price", "min_days")
        constraints = [
            models.UniqueConstraint(fields=["seller", "code"], name="shipping_code_per_seller"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(seller__isnull=True), name="shipping_code_global"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="shipping_price_not_negative"),
            models.CheckConstraint(condition=Q(max_days__gte=F("min_days")), name="shipping_days_ordered"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        clean_prices({"price": self.price})


class InventoryUpload(models.Model):
    """A seller's offers and stock from a CSV file (sku, product, price, quantity, condition...):
    a dry run reports what would change row by row; a real run applies every valid row once (a row
    that already matches is "unchanged", so running a file twice changes nothing the second time).
    Large files run in a worker, which reports its progress here."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    seller = models.ForeignKey("marketplace.Seller", verbose_name=_("seller"), on_delete=models.PROTECT,
                               related_name="inventory_uploads")
    warehouse = models.ForeignKey(
        Warehouse, verbose_name=_("stock location"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text=_("Where the quantities are counted; empty: the seller's first location."),
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("uploaded by"))
    file_name = models.CharField(_("file"), max_length=200)
    content = models.TextField(_("content"), editable=False)
    content_sha256 = models.CharField(max_length=64, editable=False)
    dry_run = models.BooleanField(_("dry run"), default=True,
                                  help_text=_("Check the file and show what would change, without changing it."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows done"), default=0)
    created_count = models.PositiveIntegerField(_("new offers"), default=0)
    updated_count = models.PositiveIntegerField(_("changed"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    report = models.JSONField(_("report"), default=list, editable=False)
    failure = models.TextField(_("why it failed"), blank=True)
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("inventory upload")
        verbose_name_plural = _("inventory uploads")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        kind = _("dry run") if self.dry_run else _("upload")
        return f"{self.file_name} ({kind}, {self.get_status_display()})"

    @property
    def progress_percent(self) -> int:
        return 100 if not self.total_rows else min(100, self.processed_rows * 100 // self.total_rows)



# --- fulfilled by Bazaar: size tiers and fees (data, edited by platform staff) ------------------------


class SizeTier(models.Model):
    """A size tier of the packed unit. A unit is in the first tier (by position) whose limits it
    fits: its sides sorted longest to shortest, its length plus girth (longest + 2 x (median +
    shortest)) and its weight (the shipping weight: the greater of the unit's weight and its
    dimensional weight, unless the tier goes by the unit's weight alone). An empty limit is no limit."""

    class StorageClass(models.TextChoices):
        STANDARD = "standard", _("Standard size")
        OVERSIZE = "oversize", _("Oversize")

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=60)
    position = models.PositiveSmallIntegerField(_("position"), unique=True,
                                                help_text=_("Tiers are tried from the lowest position up."))
    max_longest_in = models.DecimalField(_("longest side at most (in)"), max_digits=7, decimal_places=2, null=True,
                                         blank=True)
    max_median_in = models.DecimalField(_("median side at most (in)"), max_digits=7, decimal_places=2, null=True,
                                        blank=True)
    max_shortest_in = models.DecimalField(_("shortest side at most (in)"), max_digits=7, decimal_places=2, null=True,
                                          blank=True)
    max_length_girth_in = models.DecimalField(_("length + girth at most (in)"), max_digits=7, decimal_places=2,
                                              null=True, blank=True)
    max_weight_lb = models.DecimalField(_("weight at most (lb)"), max_digits=8, decimal_places=3, null=True,
                                        blank=True)
    dimensional_weight = models.BooleanField(
        _("uses dimensional weight"), default=True,
        help_text=_("Weigh by the greater of the unit's weight and its dimensional weight (else the unit's weight)."))
    storage_class = models.CharField(_("storage class"), max_length=10, choices=StorageClass.choices,
                                     default=StorageClass.STANDARD)
    removal_fee = models.DecimalField(_("removal fee per unit"), max_digits=8, decimal_places=2,
                                      default=Decimal("0.97"),
                                      help_text=_("Charged for each unit a seller asks back from Bazaar's centres."))

    class Meta:
        verbose_name = _("size tier")
        verbose_name_plural = _("size tiers")
        ordering = ("position",)

    def __str__(self) -> str:
        return self.name


class FulfilmentFeeRate(models.Model):
    """The fee per unit Bazaar charges when it ships a unit of a tier, by shipping weight: for a
    weight over ``over_lb`` and at most ``up_to_lb`` (empty: no upper bound), ``fee`` plus
    ``per_lb`` for every started pound above ``per_lb_above``."""

    tier = models.ForeignKey(SizeTier, verbose_name=_("size tier"), on_delete=models.CASCADE, related_name="rates")
    over_lb = models.DecimalField(_("weight over (lb)"), max_digits=8, decimal_places=3, default=Decimal("0"))
    up_to_lb = models.DecimalField(_("weight up to (lb)"), max_digits=8, decimal_places=3, null=True, blank=True)
    fee = models.DecimalField(_("fee per unit"), max_digits=8, decimal_places=2)
    per_lb = models.DecimalField(_("plus per pound"), max_digits=8, decimal_places=2, default=Decimal("0"))
    per_lb_above = models.DecimalField(_("for each pound above (lb)"), max_digits=8, decimal_places=3,
                                       default=Decimal("0"))

    class Meta:
        verbose_name = _("fulfilment fee rate")
        verbose_name_plural = _("fulfilment fee rates")
        ordering = ("tier__position", "over_lb")
        constraints = [
            models.UniqueConstraint(fields=["tier", "over_lb"], name="fee_rate_bracket_once"),
            models.CheckConstraint(condition=Q(fee__gte=0, per_lb__gte=0, over_lb__gte=0),
                                   name="fee_rate_not_negative"),
            models.CheckConstraint(condition=Q(up_to_lb__isnull=True) | Q(up_to_lb__gt=F("over_lb")),
                                   name="fee_rate_bracket_ordered"),
        ]

    def __str__(self) -> str:
        top = f"{self.up_to_lb} lb" if self.up_to_lb is not None else "+"
        return f"{self.tier}: {self.over_lb}-{top}"


# --- inbound shipments: a seller's stock sent to a Bazaar fulfilment centre ---------------------------


class InboundShipment(CreatedOnce):  # an API client's key is unique per seller
    """A seller's stock on its way into a Bazaar fulfilment centre. The seller plans it (offers
    fulfilled by Bazaar and quantities); on "ready to ship" Bazaar chooses the centre and the box
    labels can be printed; the seller marks it shipped (and may void it within 24 hours); platform
    staff receive the boxes unit by unit into sellable stock and close it, when every shortage or
    overage is recorded for the seller to see."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        READY = "ready", _("Ready to ship")
        SHIPPED = "shipped", _("Shipped")
        IN_TRANSIT = "in_transit", _("In transit")
        RECEIVING = "receiving", _("Receiving")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    seller = models.ForeignKey("marketplace.Seller", verbose_name=_("seller"), on_delete=models.PROTECT,
                               related_name="inbound_shipments")
    name = models.CharField(_("name"), max_length=80, help_text=_("Your own label for this shipment."))
    warehouse = models.ForeignKey(Warehouse, verbose_name=_("destination"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+",
                                  help_text=_("Chosen by Bazaar when the shipment is ready to ship."))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.DRAFT)
    box_count = models.PositiveSmallIntegerField(_("boxes"), default=1)
    carrier = models.CharField(_("carrier"), max_length=60, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=60, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    ready_at = models.DateTimeField(_("ready to ship"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped"), null=True, blank=True)
    receiving_at = models.DateTimeField(_("receiving since"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound shipment")
        verbose_name_plural = _("inbound shipments")
        ordering = ("-created_at", "-id")
        permissions = [("receive_inbound", "Can receive and close inbound shipments in Bazaar centres")]
        constraints = [
            models.CheckConstraint(condition=Q(box_count__gte=1, box_count__lte=200), name="inbound_box_count_1_200"),
            models.UniqueConstraint(fields=["seller", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="inbound_unique_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def code(self) -> str:
        return f"IB{self.pk:07d}" if self.pk else "IB-new"


class InboundItem(models.Model):
    """Units of one offer in an inbound shipment: planned, received, and the difference recorded
    when the shipment closes (negative: a shortage; positive: an overage)."""

    shipment = models.ForeignKey(InboundShipment, on_delete=models.CASCADE, related_name="items")
    offer = models.ForeignKey("marketplace.Offer", verbose_name=_("offer"), on_delete=models.PROTECT,
                              related_name="+")
    quantity = models.PositiveIntegerField(_("units sent"))
    received = models.PositiveIntegerField(_("units received"), default=0)
    discrepancy = models.IntegerField(_("discrepancy"), null=True, blank=True,
                                      help_text=_("Received minus sent, recorded when the shipment closes."))

    class Meta:
        verbose_name = _("inbound item")
        verbose_name_plural = _("inbound items")
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=["shipment", "offer"], name="inbound_offer_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1, quantity__lte=100_000), name="inbound_quantity_range"),
        ]

    def __str__(self) -> str:
        return f"{self.offer} x {self.quantity}"


# --- storage fees: what sellers' units occupy in Bazaar's centres -----------------------------------


class StorageRate(models.Model):
    """The monthly storage fee per cubic foot of a storage class, off-peak or in the peak months
    (``FULFILLMENT_PEAK_MONTHS``, October to December)."""

    storage_class = models.CharField(_("storage class"), max_length=10, choices=SizeTier.StorageClass.choices)
    peak = models.BooleanField(_("peak months"), default=False)
    per_cubic_foot = models.DecimalField(_("per cubic foot and month"), max_digits=8, decimal_places=2)
    aged_per_cubic_foot = models.DecimalField(
        _("aged inventory surcharge per cubic foot"), max_digits=8, decimal_places=2, default=Decimal("0"),
        help_text=_("Added each month for units stored longer than FULFILLMENT_AGED_DAYS (180)."))

    class Meta:
        verbose_name = _("storage rate")
        verbose_name_plural = _("storage rates")
        ordering = ("storage_class", "peak")
        constraints = [
            models.UniqueConstraint(fields=["storage_class", "peak"], name="storage_rate_once"),
            models.CheckConstraint(condition=Q(per_cubic_foot__gte=0), name="storage_rate_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_storage_class_display()} ({'peak' if self.peak else 'off-peak'})"


class StorageSnapshot(models.Model):
    """The cubic feet a seller's units took in Bazaar's centres on one day, by storage class (a
    daily beat task); a month's storage fee is charged on their average."""

    seller = models.ForeignKey("marketplace.Seller", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    storage_class = models.CharField(max_length=10, choices=SizeTier.StorageClass.choices)
    cubic_feet = models.DecimalField(max_digits=14, decimal_places=4)
    units = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["seller", "day", "storage_class"],
                                               name="storage_snapshot_once")]
        indexes = [models.Index(fields=["day", "seller"], name="storage_snapshot_day")]

    def __str__(self) -> str:
        return f"{self.seller_id} {self.day}: {self.cubic_feet} cu ft ({self.storage_class})"


class StorageCharge(models.Model):
    """One seller's storage fee for one month, charged once (the ledger entry points here)."""

    seller = models.ForeignKey("marketplace.Seller", verbose_name=_("seller"), on_delete=models.PROTECT,
                               related_name="+")
    month = models.DateField(_("month"), help_text=_("Its first day."))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    aged_amount = models.DecimalField(_("aged inventory surcharge"), max_digits=12, decimal_places=2,
                                      default=Decimal("0"))
    detail = models.JSONField(_("how it was computed"), default=dict)
    created_at = models.DateTimeField(_("charged"), default=timezone.now)

    class Meta:
        verbose_name = _("storage charge")
        verbose_name_plural = _("storage charges")
        ordering = ("-month", "seller_id")
        constraints = [models.UniqueConstraint(fields=["seller", "month"], name="storage_charge_once_a_month")]

    def __str__(self) -> str:
        return f"{self.seller_id} {self.month:%Y-%m}: {self.amount}"


# --- first-party purchasing: the house seller's suppliers and purchase orders ---------------------


class Supplier(models.Model):
    """A company Bazaar buys its own (house seller's) stock from."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    email = models.EmailField(_("ordering e-mail"), blank=True)
    lead_time_days = models.PositiveSmallIntegerField(
        _("lead time (days)"), default=7, help_text=_("Days from ordering to the goods arriving."))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")
        ordering = ("name",)
        constraints = [models.CheckConstraint(condition=Q(lead_time_days__lte=365), name="supplier_lead_time_max")]

    def __str__(self) -> str:
        return self.name


class SupplierOffer(models.Model):
    """Which supplier a house offer is bought from, at what unit cost (the primary one is used for
    reorder suggestions)."""

    supplier = models.ForeignKey(Supplier, verbose_name=_("supplier"), on_delete=models.CASCADE,
                                 related_name="offers")
    offer = models.ForeignKey("marketplace.Offer", verbose_name=_("offer"), on_delete=models.CASCADE,
                              related_name="+")
    unit_cost = models.DecimalField(_("unit cost"), max_digits=12, decimal_places=2)
    is_primary = models.BooleanField(_("primary supplier"), default=True)

    class Meta:
        verbose_name = _("supplied offer")
        verbose_name_plural = _("supplied offers")
        constraints = [
            models.UniqueConstraint(fields=["supplier", "offer"], name="supplier_offer_once"),
            models.UniqueConstraint(fields=["offer"], condition=Q(is_primary=True), name="one_primary_supplier"),
            models.CheckConstraint(condition=Q(unit_cost__gt=0), name="supplier_offer_cost_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.offer} from {self.supplier}"


class PurchaseOrder(CreatedOnce):  # an API client's key is unique per user who drafts
    """Stock the house seller buys from a supplier for a Bazaar centre: drafted (often from a
    reorder suggestion), ordered, received like an inbound shipment, closed with its shortages and
    overages recorded."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ORDERED = "ordered", _("Ordered")
        RECEIVING = "receiving", _("Receiving")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    supplier = models.ForeignKey(Supplier, verbose_name=_("supplier"), on_delete=models.PROTECT,
                                 related_name="purchase_orders")
    warehouse = models.ForeignKey(Warehouse, verbose_name=_("deliver to"), on_delete=models.PROTECT,
                                  related_name="+", limit_choices_to={"kind": "platform"})
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    ordered_at = models.DateTimeField(_("ordered"), null=True, blank=True)
    expected_on = models.DateField(_("expected"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        ordering = ("-created_at", "-id")
        permissions = [("receive_purchaseorder", "Can receive and close purchase orders")]
        constraints = [models.UniqueConstraint(fields=["created_by", "idempotency_key"],
                                               condition=~Q(idempotency_key=""), name="po_unique_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.code} {self.supplier}"

    @property
    def code(self) -> str:
        return f"PO{self.pk:07d}" if self.pk else "PO-new"


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    offer = models.ForeignKey("marketplace.Offer", verbose_name=_("offer"), on_delete=models.PROTECT,
                              related_name="+")
    quantity = models.PositiveIntegerField(_("units ordered"))
    unit_cost = models.DecimalField(_("unit cost"), max_digits=12, decimal_places=2)
    received = models.PositiveIntegerField(_("units received"), default=0)
    discrepancy = models.IntegerField(_("discrepancy"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase order line")
        verbose_name_plural = _("purchase order lines")
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "offer"], name="po_offer_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1, quantity__lte=1_000_000), name="po_quantity_range"),
            models.CheckConstraint(condition=Q(unit_cost__gt=0), name="po_unit_cost_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.offer} x {self.quantity}"



class RemovalOrder(CreatedOnce):  # an API client's key is unique per seller
    """A seller asks units of an offer back from a Bazaar centre: Bazaar takes them out of stock
    and sends them, charging the tier's removal fee per unit; the seller may cancel while it is
    still requested."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        COMPLETED = "completed", _("Sent back")
        CANCELLED = "cancelled", _("Cancelled")

    seller = models.ForeignKey("marketplace.Seller", verbose_name=_("seller"), on_delete=models.PROTECT,
                               related_name="+")
    offer = models.ForeignKey("marketplace.Offer", verbose_name=_("offer"), on_delete=models.PROTECT,
                              related_name="+")
    warehouse = models.ForeignKey(Warehouse, verbose_name=_("from"), on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(_("units"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    fee_per_unit = models.DecimalField(_("removal fee per unit"), max_digits=8, decimal_places=2, null=True,
                                       blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("requested by"))
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    completed_at = models.DateTimeField(_("sent back"), null=True, blank=True)

    class Meta:
        verbose_name = _("removal order")
        verbose_name_plural = _("removal orders")
        ordering = ("-created_at", "-id")
        permissions = [("complete_removalorder", "Can send removal orders back to sellers")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1, quantity__lte=100_000), name="removal_quantity_range"),
            models.UniqueConstraint(fields=["seller", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="removal_unique_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"RM{self.pk:07d}" if self.pk else "RM-new"


# --- carriers: labels and tracking -----------------------------------------------------------------


class TrackingStatus(models.TextChoices):
    """Every carrier's tracking states, normalised."""

    PENDING = "pending", _("Label created")
    INFO_RECEIVED = "info_received", _("Carrier has the details")
    IN_TRANSIT = "in_transit", _("In transit")
    OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
    FAILED_ATTEMPT = "failed_attempt", _("Delivery attempt failed")
    DELIVERED = "delivered", _("Delivered")
    AVAILABLE_FOR_PICKUP = "available_for_pickup", _("Available for pickup")
    EXCEPTION = "exception", _("Problem in transit")
    EXPIRED = "expired", _("Tracking expired")


class CarrierShipment(models.Model):
    """A parcel with a carrier's label: bought for the caller's ``reference`` (e.g. an order's
    package), tracked until delivered. Its timeline is its tracking events."""

    FINAL = (TrackingStatus.DELIVERED, TrackingStatus.EXPIRED)

    reference = models.CharField(_("for"), max_length=64, db_index=True)
    carrier = models.CharField(_("carrier"), max_length=32)
    service = models.CharField(_("service"), max_length=64)
    tracking_number = models.CharField(_("tracking number"), max_length=64)
    label = models.FileField(_("label"), upload_to="labels/%Y/%m/", blank=True, storage=private_storage)
    cost = models.DecimalField(_("postage"), max_digits=10, decimal_places=2, null=True, blank=True)
    weight_lb = models.DecimalField(_("weight (lb)"), max_digits=8, decimal_places=3)
    status = models.CharField(_("tracking status"), max_length=24, choices=TrackingStatus.choices,
                              default=TrackingStatus.PENDING)
    status_at = models.DateTimeField(_("status since"), null=True, blank=True)
    created_at = models.DateTimeField(_("label bought"), default=timezone.now)

    class Meta:
        verbose_name = _("carrier shipment")
        verbose_name_plural = _("carrier shipments")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["carrier", "tracking_number"], name="tracking_number_once_per_carrier"),
            models.UniqueConstraint(fields=["reference"], name="one_label_per_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class TrackingEvent(models.Model):
    """One scan of a parcel, as the carrier reported it (by webhook or polling): applied once."""

    shipment = models.ForeignKey(CarrierShipment, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=100)
    status = models.CharField(_("status"), max_length=24, choices=TrackingStatus.choices)
    occurred_at = models.DateTimeField(_("when"))
    description = models.CharField(_("what happened"), max_length=200, blank=True)
    location = models.CharField(_("where"), max_length=120, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("occurred_at", "id")
        constraints = [models.UniqueConstraint(fields=["shipment", "event_id"], name="tracking_event_once")]

    def __str__(self) -> str:
        return f"{self.shipment}: {self.status} at {self.occurred_at}"



class Holiday(models.Model):
    """A day no parcel leaves a warehouse (``warehouse`` set) or moves with a carrier (``carrier``
    set), or neither (both empty): the delivery promise skips it, as it skips weekends."""

    day = models.DateField(_("day"))
    name = models.CharField(_("name"), max_length=80)
    warehouse = models.ForeignKey(Warehouse, verbose_name=_("warehouse"), null=True, blank=True,
                                  on_delete=models.CASCADE, related_name="holidays",
                                  help_text=_("Empty: every warehouse."))
    carrier = models.CharField(_("carrier"), max_length=32, blank=True,
                               help_text=_("Empty: every carrier (with no warehouse: a public holiday)."))

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ("day",)
        constraints = [models.UniqueConstraint(fields=["day", "warehouse", "carrier"], name="holiday_once",
                                               nulls_distinct=False)]

    def __str__(self) -> str:
        return f"{self.day}: {self.name}"
