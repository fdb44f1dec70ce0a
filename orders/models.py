"""Orders: what was bought (snapshots), in which packages, and what happened to it since.

An order line keeps the title, seller, price and tax it was sold at (invariant 8 in docs/architecture.md): later
edits to the catalog or the offer never change a past order.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.files import private_storage
from core.money import check_at_most, check_equal


def _new_nonce() -> str:
    return secrets.token_hex(8)



# Who ships a package: a copy of marketplace's Offer.Channel (orders never imports marketplace's
# models), so admin says "Fulfilled by Bazaar", not "platform"; a test keeps the two alike.
FULFILMENT_CHOICES = [("merchant", _("Shipped by seller")), ("platform", _("Fulfilled by Bazaar"))]

class PaymentProblem(models.TextChoices):
    AUTHORIZATION_EXPIRED = "authorization_expired", _("Authorization expired")
    PAYMENT_CANCELLED = "payment_cancelled", _("Payment cancelled at the provider")
    PAYMENT_FAILED = "payment_failed", _("Payment failed")
    REFUND_FAILED = "refund_failed", _("Refund or void failed")


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", _("Placed")
        PAID = "paid", _("Paid")
        PARTIALLY_SHIPPED = "partially_shipped", _("Partially shipped")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")

    number = models.CharField(_("order number"), max_length=20, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("customer"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="orders",
    )
    email = models.EmailField(_("e-mail"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PLACED)
    currency = models.CharField(_("currency"), max_length=3)
    prices_include_tax = models.BooleanField(_("prices include tax"), default=False)
    subtotal = models.DecimalField(_("subtotal"), max_digits=12, decimal_places=2)
    discount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=0)
    shipping = models.DecimalField(_("shipping"), max_digits=12, decimal_places=2, default=0)
    tax = models.DecimalField(_("tax"), max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    # What was given back by refunds (partial or full), each explained in its OrderRefund.
    refunded_amount = models.DecimalField(_("refunded"), max_digits=12, decimal_places=2, default=0)
    # Paid from the customer's store credit (the card pays the rest of the total).
    store_credit_used = models.DecimalField(_("paid with store credit"), max_digits=12, decimal_places=2,
                                            default=0)
    # Paid with gift cards typed at checkout (their spends are referenced "order:<number>").
    gift_card_used = models.DecimalField(_("paid with gift cards"), max_digits=12, decimal_places=2, default=0)
    # Gift cards bought with the order (OrderGiftCard): part of the total, outside subtotal, tax and shipping.
    gift_cards_total = models.DecimalField(_("gift cards bought"), max_digits=12, decimal_places=2, default=0)
    shipping_address = models.JSONField(_("shipping address"))
    billing_address = models.JSONField(_("billing address"))
    # The same key from the same owner is the same order; keys of different owners never meet
    # ("user:<id>" for a customer, "cart:<id>" for a guest). See checkout.services.
    idempotency_owner = models.CharField(max_length=64, default="", editable=False)
    idempotency_key = models.CharField(max_length=100, editable=False)
    # A digest of what was asked for under the key; the same key with other details is refused.
    request_digest = models.CharField(max_length=64, blank=True, editable=False)
    # Part of every guest link; a new nonce revokes the links sent so far.
    guest_nonce = models.CharField(max_length=32, default=_new_nonce, editable=False)
    # The shopper's anonymous visitor id (first-party cookie) when it was placed from a browser: how
    # insights ties the order to the visits before it. Empty from the API or without consent.
    visitor_id = models.CharField(_("visitor id"), max_length=36, blank=True, default="", editable=False)
    # Set when the money behind the order needs staff: an authorization that expired, a payment
    # cancelled or failed at the provider, a refund or void that keeps failing. Cleared by the fix.
    payment_problem = models.CharField(
        _("payment problem"), max_length=32, blank=True, choices=PaymentProblem.choices, db_index=True
    )
    payment_problem_note = models.CharField(_("payment problem details"), max_length=300, blank=True)
    placed_at = models.DateTimeField(_("placed"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ("-placed_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0) & check_at_most("refunded_amount", F("total")),
                                   name="order_refunded_within_total"),
            models.CheckConstraint(condition=Q(store_credit_used__gte=0, gift_card_used__gte=0)
                                   & check_at_most("store_credit_used", F("total") - F("gift_card_used")),
                                   name="order_store_credit_within_total"),
            models.CheckConstraint(condition=Q(discount__gte=0, shipping__gte=0, tax__gte=0),
                                   name="order_parts_not_negative"),
            models.UniqueConstraint(fields=["idempotency_owner", "idempotency_key"],
                                    name="order_idempotency_per_owner"),
        ]
        indexes = [models.Index(fields=["user", "-placed_at"], name="order_user_recent")]
        permissions = [
            ("cancel_order", _("Can cancel orders (releases stock, voids or refunds the payment)")),
            ("refund_order", _("Can refund orders")),
            ("complete_order", _("Can mark orders completed")),
        ]

    def __str__(self) -> str:
        return self.number


class DeliveryConfirmation(models.TextChoices):
    """Who said a package arrived: on-time delivery is measured on the carrier's and staff's word
    only (a long-overdue package taken as delivered says nothing about when it came)."""

    CARRIER = "carrier", _("the carrier's tracking")
    STAFF = "staff", _("Bazaar staff")
    ASSUMED = "assumed", _("taken as delivered (overdue, not tracked)")


class Package(models.Model):
    """What one seller ships through one channel: a parcel with its shipping method."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Being prepared")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="packages")
    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="packages")
    seller_name = models.CharField(_("seller"), max_length=120)
    fulfillment_channel = models.CharField(_("fulfilment"), max_length=10, choices=FULFILMENT_CHOICES)
    shipping_method_code = models.CharField(max_length=40, blank=True)
    shipping_method_name = models.CharField(_("shipping method"), max_length=80, blank=True)
    shipping_price = models.DecimalField(_("shipping"), max_digits=12, decimal_places=2, default=0)
    shipping_tax = models.DecimalField(_("shipping tax"), max_digits=12, decimal_places=2, default=0)
    shipping_refunded = models.DecimalField(_("shipping refunded"), max_digits=12, decimal_places=2, default=0)
    estimated_earliest = models.DateField(_("arrives from"), null=True, blank=True)
    estimated_latest = models.DateField(_("arrives by"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    carrier = models.CharField(_("carrier"), max_length=32, blank=True,
                               help_text=_("Set when a label is bought through Bazaar; its tracking is then followed."))
    carrier_name = models.CharField(_("carrier name"), max_length=60, blank=True,
                                    help_text=_("The carrier a seller ships with outside Bazaar (UPS, DHL...): "
                                                "needed, with the tracking number, to mark a package shipped."))
    packed_at = models.DateTimeField(_("packed"), null=True, blank=True)
    packed_weight_lb = models.DecimalField(_("packed weight (lb)"), max_digits=8, decimal_places=3, null=True,
                                           blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    shipped_from = models.ForeignKey("fulfillment.Warehouse", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("shipped from"))
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_confirmed_by = models.CharField(_("delivery confirmed by"), max_length=8, blank=True,
                                             choices=DeliveryConfirmation.choices)

    class Meta:
        verbose_name = _("package")
        verbose_name_plural = _("packages")
        ordering = ("order", "id")
        permissions = [("ship_package", _("Can mark packages shipped or delivered (moves stock out)"))]

    def __str__(self) -> str:
        return f"{self.order.number} / {self.seller_name}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="lines")
    # References for reports; the snapshot fields below are what the order shows.
    offer = models.ForeignKey("marketplace.Offer", null=True, on_delete=models.SET_NULL, related_name="+")
    product = models.ForeignKey("catalog.Product", null=True, on_delete=models.SET_NULL, related_name="+")
    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="order_lines")
    seller_name = models.CharField(_("seller"), max_length=120)
    product_title = models.CharField(_("product"), max_length=200)
    product_slug = models.CharField(max_length=220)
    sku = models.CharField(_("SKU"), max_length=64)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    subtotal = models.DecimalField(_("subtotal"), max_digits=12, decimal_places=2)
    discount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=0)
    tax_rate = models.DecimalField(_("tax rate"), max_digits=6, decimal_places=4, default=0)
    tax = models.DecimalField(_("tax"), max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    # The referral fee the seller pays for this line, at the rule in force when the order was
    # placed (finance); later rule changes never touch it. Zero on the house seller's lines.
    referral_fee_percent = models.DecimalField(_("referral fee %"), max_digits=5, decimal_places=2, default=0)
    referral_fee = models.DecimalField(_("referral fee"), max_digits=12, decimal_places=2, default=0)
    # Units refunded so far and the money they returned (their share of the total, tax included).
    refunded_quantity = models.PositiveIntegerField(_("units refunded"), default=0)
    refunded_amount = models.DecimalField(_("refunded"), max_digits=12, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ("order", "id")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_min_1"),
            models.CheckConstraint(condition=check_equal("subtotal", F("unit_price") * F("quantity")),
                                   name="order_line_subtotal_is_price_times_quantity"),
            models.CheckConstraint(condition=Q(discount__lte=F("subtotal")), name="order_line_discount_within"),
            models.CheckConstraint(condition=Q(referral_fee__gte=0, referral_fee_percent__gte=0,
                                               referral_fee_percent__lte=100), name="order_line_referral_fee_valid"),
            models.CheckConstraint(condition=Q(refunded_quantity__lte=F("quantity"), refunded_amount__gte=0)
                                   & check_at_most("refunded_amount", F("total")),
                                   name="order_line_refund_within"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_title}"


class OrderGiftCard(models.Model):
    """A gift card the order buys. Issued by payments once the order is paid (the card's reference is
    ``order_gift_card:<id>``), e-mailed to the recipient on ``deliver_on``; taken back (voided) if the
    order is cancelled or refunded while nobody has used it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To be issued")
        ISSUED = "issued", _("Issued")
        WITHDRAWN = "withdrawn", _("Taken back")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="gift_cards", verbose_name=_("order"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    recipient_email = models.EmailField(_("recipient's e-mail"))
    recipient_name = models.CharField(_("recipient's name"), max_length=100, blank=True)
    sender_name = models.CharField(_("sender's name"), max_length=100, blank=True)
    message = models.TextField(_("message"), max_length=500, blank=True)
    deliver_on = models.DateField(_("deliver on"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    gift_card = models.ForeignKey("payments.GiftCard", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("gift card"))
    # The partial refund that took it back and gave back its price (empty: not refunded on its own).
    refund = models.ForeignKey("OrderRefund", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="bought_gift_cards", verbose_name=_("refunded by"))

    class Meta:
        verbose_name = _("gift card bought")
        verbose_name_plural = _("gift cards bought")
        ordering = ("id",)
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="order_gift_card_amount_positive")]

    def __str__(self) -> str:
        return f"gift card {self.amount} for {self.recipient_email}"

    @property
    def reference(self) -> str:
        return f"order_gift_card:{self.pk}"


class OrderReservation(models.Model):
    """Stock held for the order, so a cancellation gives back exactly what was taken."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="reservations")
    stock_item_id = models.BigIntegerField()
    offer_id = models.BigIntegerField()
    quantity = models.PositiveIntegerField()
    released = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("stock reservation")
        verbose_name_plural = _("stock reservations")

    def __str__(self) -> str:
        return f"{self.quantity} x offer {self.offer_id} (stock {self.stock_item_id})"


class OrderDiscount(models.Model):
    """One explained discount the order was priced with ("Spend $50 on Books, save 10%", a voucher,
    a lightning deal), kept as it was shown: a snapshot, like the lines."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="discounts", verbose_name=_("order"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    code = models.CharField(_("voucher code"), max_length=64, blank=True)
    label = models.CharField(_("label"), max_length=200)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2,
                                 help_text=_("0 for a benefit that is not money off (free shipping)."))

    class Meta:
        verbose_name = _("order discount")
        verbose_name_plural = _("order discounts")
        ordering = ("order", "position")
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="order_discount_not_negative")]

    def __str__(self) -> str:
        return f"{self.label}: -{self.amount}"


class OrderEvent(models.Model):
    """The order's history: status changes and notes, newest last."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order history")
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class SellerFeedback(models.Model):
    """A buyer's rating of a seller for one order (1-5, with a comment), once the seller's package
    was delivered: once per order and seller. The seller's rating is computed from these."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="seller_feedback")
    seller = models.ForeignKey("marketplace.Seller", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    rating = models.PositiveSmallIntegerField(_("rating"))
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("rated"), default=timezone.now)

    class Meta:
        verbose_name = _("seller feedback")
        verbose_name_plural = _("seller feedback")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["order", "seller"], name="seller_feedback_once_per_order_and_seller"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="seller_feedback_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.seller_id}: {self.rating}/5"


class OrderRefund(models.Model):
    """Money given back for part (or the rest) of an order: units of some lines (their share of
    the line's total, discount and tax included), shipping and unused gift cards it bought, each
    explained in its lines. The
    provider refund runs after the commit; ``status`` follows it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Being refunded")
        SUCCEEDED = "succeeded", _("Refunded")
        FAILED = "failed", _("Failed: staff are on it")

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("order"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    items_amount = models.DecimalField(_("for items"), max_digits=12, decimal_places=2, default=0)
    items_tax = models.DecimalField(_("of which tax"), max_digits=12, decimal_places=2, default=0)
    shipping_amount = models.DecimalField(_("for shipping"), max_digits=12, decimal_places=2, default=0)
    # Gift cards the order bought, taken back unused (``bought_gift_cards``) and given back whole.
    gift_cards_bought_amount = models.DecimalField(_("for gift cards bought"), max_digits=12, decimal_places=2,
                                                   default=0)
    # Taken off what the items, shipping and gift cards give back (a return's label when the
    # shopper pays it), explained by its label: amount = items + shipping + gift cards - deduction.
    deduction = models.DecimalField(_("deducted"), max_digits=12, decimal_places=2, default=0)
    deduction_label = models.CharField(_("deducted for"), max_length=200, blank=True)
    shipping_packages = models.JSONField(_("packages whose shipping it gives back"), default=list, blank=True)
    credit_amount = models.DecimalField(_("as store credit"), max_digits=12, decimal_places=2, default=0,
                                        help_text=_("The part given back as store credit (the rest to the card)."))
    gift_card_amount = models.DecimalField(_("onto gift cards"), max_digits=12, decimal_places=2, default=0,
                                           help_text=_("The part put back onto the gift cards the order paid with."))
    to_store_credit = models.BooleanField(_("to store credit"), default=False,
                                          help_text=_("Given as the customer's store credit instead of back to "
                                                      "the card (the customer's choice, for orders with an account)."))
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    # Tries after a refusal (staff "retry"): each has its own provider key, earlier successes count.
    retries = models.PositiveSmallIntegerField(_("retries"), default=0)
    idempotency_key = models.CharField(max_length=100, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ("order", "id")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0, items_amount__gte=0, shipping_amount__gte=0,
                                               gift_cards_bought_amount__gte=0, deduction__gte=0)
                                   & check_equal("amount", F("items_amount") + F("shipping_amount")
                                                 + F("gift_cards_bought_amount") - F("deduction")),
                                   name="order_refund_sums"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} refund {self.pk}"

    @property
    def card_amount(self):
        """The part that goes back to the card the order was paid with."""
        return self.amount - self.credit_amount - self.gift_card_amount


class OrderRefundLine(models.Model):
    refund = models.ForeignKey(OrderRefund, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="refund_lines")
    quantity = models.PositiveIntegerField(_("units"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    tax = models.DecimalField(_("of which tax"), max_digits=12, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("refunded line")
        verbose_name_plural = _("refunded lines")
        ordering = ("refund", "id")
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1, amount__gte=0),
                                              name="order_refund_line_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.line.product_title}"


class Claim(models.Model):
    """A buyer's claim against a seller for one order (an item not received, not as described, or
    damaged or defective): the seller may answer; platform staff grant it (the order is refunded)
    or deny it with the reason. Once per order and seller. A claim not denied counts in the
    seller's order defect rate."""

    class Reason(models.TextChoices):
        NOT_RECEIVED = "not_received", _("The package never arrived")
        NOT_AS_DESCRIBED = "not_as_described", _("The item is not as described")
        DAMAGED = "damaged", _("The item arrived damaged or defective")
        LATE = "late", _("The package is late: its promised day has passed")
        RETURN_REFUSED = "return_refused", _("The seller refused my return")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        GRANTED = "granted", _("Granted: refunded")
        DENIED = "denied", _("Denied")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="claims", verbose_name=_("order"))
    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                             verbose_name=_("buyer"))
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    description = models.TextField(_("what happened"), max_length=2000)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    seller_response = models.TextField(_("the seller's answer"), blank=True, max_length=2000)
    resolution = models.TextField(_("decision, as told to the buyer"), blank=True, max_length=2000)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    # The seller answers by then (ORDERS_CLAIM_ANSWER_HOURS); staff decide once it has answered or then.
    answer_by = models.DateTimeField(_("seller answers by"), null=True, blank=True)

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ("-created_at", "-id")
        permissions = [("decide_claim", "Can grant (refund) or deny buyer claims")]
        constraints = [models.UniqueConstraint(fields=["order", "seller"], name="claim_once_per_order_and_seller")]
        indexes = [models.Index(fields=["seller", "created_at"], name="claim_seller_created")]

    def __str__(self) -> str:
        return f"{self.order} / {self.seller_id}: {self.get_reason_display()} ({self.get_status_display()})"


# --- returns (orders.returns) -----------------------------------------------------------------------


class ReturnReason(models.TextChoices):
    DEFECTIVE = "defective", _("Defective or does not work")
    DAMAGED = "damaged", _("Damaged in transit")
    WRONG_ITEM = "wrong_item", _("Wrong item sent")
    NOT_AS_DESCRIBED = "not_as_described", _("Not as described")
    NO_LONGER_NEEDED = "no_longer_needed", _("No longer needed")
    ARRIVED_LATE = "arrived_late", _("Arrived too late")


class ReturnPolicy(models.Model):
    """How a category's items come back: returnable or not, for how many days after delivery, and
    for which reasons the shopper pays the return shipping. A policy applies to its category's whole
    subtree unless a deeper category has its own; without any, the settings' default applies."""

    category = models.OneToOneField("catalog.Category", on_delete=models.CASCADE, related_name="+",
                                    verbose_name=_("category"))
    returnable = models.BooleanField(_("returnable"), default=True)
    window_days = models.PositiveSmallIntegerField(_("days after delivery"), default=30)
    buyer_pays_reasons = models.JSONField(
        _("the shopper pays return shipping for"), default=list, blank=True,
        help_text=_("Reasons for which the return label's cost is deducted from the refund."))

    class Meta:
        verbose_name = _("return policy")
        verbose_name_plural = _("return policies")
        ordering = ("category",)
        constraints = [models.CheckConstraint(condition=Q(window_days__gte=1, window_days__lte=365),
                                              name="return_policy_window_1_to_365")]

    def __str__(self) -> str:
        return str(self.category)


class ReturnRequest(models.Model):
    """A shopper sends units of some lines of one delivered package back (see orders.returns)."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested: the seller answers")
        OFFERED = "offered", _("Partial refund offered")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")
        LABEL_ISSUED = "label_issued", _("Label ready: send it back")
        AWAITING_DROP_OFF = "awaiting_drop_off", _("Awaiting drop-off")
        IN_TRANSIT = "in_transit", _("On its way back")
        DELIVERED_BACK = "delivered_back", _("Delivered back")
        RECEIVED = "received", _("Received and inspected")
        REFUNDED = "refunded", _("Refunded")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="returns", verbose_name=_("order"))
    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="returns", verbose_name=_("package"))
    seller = models.ForeignKey("marketplace.Seller", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("seller"))
    fulfillment_channel = models.CharField(_("fulfilment"), max_length=10, choices=FULFILMENT_CHOICES)
    # Where the units go back to: the warehouse the package left from (a platform centre or the seller's location).
    destination = models.ForeignKey("fulfillment.Warehouse", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("comes back to"))
    reason = models.CharField(_("reason"), max_length=20, choices=ReturnReason.choices)
    description = models.TextField(_("details"), blank=True, max_length=2000)
    buyer_pays_shipping = models.BooleanField(_("the shopper pays return shipping"), default=False)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.REQUESTED,
                              db_index=True)
    refusal_reason = models.TextField(_("why refused"), blank=True, max_length=2000)
    offered_amount = models.DecimalField(_("partial refund offered"), max_digits=12, decimal_places=2, null=True,
                                         blank=True)
    carrier = models.CharField(_("carrier"), max_length=32, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    label_cost = models.DecimalField(_("label cost"), max_digits=12, decimal_places=2, null=True, blank=True)
    drop_off_instructions = models.TextField(_("drop-off instructions"), blank=True)
    refund = models.OneToOneField(OrderRefund, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("refund"))
    idempotency_key = models.CharField(max_length=100, editable=False)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("decided by"))
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    answer_by = models.DateTimeField(_("seller answers by"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), null=True, blank=True)

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        ordering = ("-created_at", "-id")
        permissions = [("decide_return", "Can approve, refuse and receive returns")]
        constraints = [
            models.UniqueConstraint(fields=["order", "idempotency_key"], name="return_idempotent_per_order"),
            models.CheckConstraint(condition=Q(offered_amount__isnull=True) | Q(offered_amount__gt=0),
                                   name="return_offer_positive"),
        ]
        indexes = [models.Index(fields=["status", "answer_by"], name="return_status_answer_by")]

    def __str__(self) -> str:
        return f"{self.order.number} return {self.pk}"


class ReturnLine(models.Model):
    class Condition(models.TextChoices):
        PENDING = "", _("Not inspected")
        SELLABLE = "sellable", _("Sellable: restocked")
        UNSELLABLE = "unsellable", _("Unsellable")

    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="return_lines")
    quantity = models.PositiveIntegerField(_("units"))
    condition = models.CharField(_("condition"), max_length=10, choices=Condition.choices, blank=True, default="")

    class Meta:
        verbose_name = _("returned line")
        verbose_name_plural = _("returned lines")
        ordering = ("request", "id")
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="return_line_quantity_min_1")]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.line.product_title}"


class ReturnPhoto(models.Model):
    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(_("photo"), upload_to="returns/%Y/%m/", storage=private_storage)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ("request", "id")

    def __str__(self) -> str:
        return self.image.name


class ReturnEvent(models.Model):
    """The return's history: every status it went through, who moved it and why."""

    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    message = models.CharField(_("message"), max_length=300, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("request", "created_at", "id")

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status}"
