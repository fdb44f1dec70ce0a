"""Marketplace: sellers (the house seller included), their members, offers and the buy box."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.money import clean_prices

HOUSE_SELLER_SLUG = "bazaar"



# Prices are at least a cent (forms say so beside the field; the CHECK constraints hold it anyway).
_AT_LEAST_A_CENT = MinValueValidator(Decimal("0.01"), message=_("A price is at least 0.01."))

class Seller(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=140, unique=True)
    is_house = models.BooleanField(
        _("house seller"), default=False, help_text=_("The platform itself, selling its own stock.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    email = models.EmailField(_("contact e-mail"), blank=True)
    country = models.CharField(_("country"), max_length=2, default="US")
    description = models.TextField(_("about"), blank=True)
    rating = models.DecimalField(_("rating"), max_digits=3, decimal_places=2, default=Decimal("0"))
    rating_count = models.PositiveIntegerField(_("number of ratings"), default=0)
    # Set by finance's daily account health: a seller outside a target does not win buy boxes while
    # an eligible seller's offer can sell (``buy_box_note`` says why).
    buy_box_eligible = models.BooleanField(_("buy box eligible"), default=True)
    buy_box_note = models.CharField(_("buy box eligibility"), max_length=300, blank=True)
    stripe_account = models.CharField(
        _("Stripe connected account"), max_length=64, blank=True,
        help_text=_("Where Stripe Connect payouts go (acct_...); set by platform staff."),
    )
    created_at = models.DateTimeField(_("joined"), default=timezone.now)

    class Meta:
        verbose_name = _("seller")
        verbose_name_plural = _("sellers")
        ordering = ("name",)
        permissions = [("suspend_seller", "Can suspend and reinstate sellers")]
        constraints = [
            models.UniqueConstraint(fields=["is_house"], condition=Q(is_house=True), name="one_house_seller"),
            models.CheckConstraint(condition=Q(rating__gte=0, rating__lte=5), name="seller_rating_0_to_5"),
        ]

    def __str__(self) -> str:
        return self.name


class SellerMember(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MANAGER = "manager", _("Manager")
        STAFF = "staff", _("Staff")

    seller = models.ForeignKey(Seller, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="seller_memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("seller member")
        verbose_name_plural = _("seller members")
        constraints = [models.UniqueConstraint(fields=["seller", "user"], name="seller_member_once")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.seller} ({self.get_role_display()})"


class Offer(models.Model):
    class Condition(models.TextChoices):
        NEW = "new", _("New")
        REFURBISHED = "refurbished", _("Refurbished")
        USED_LIKE_NEW = "used_like_new", _("Used - like new")
        USED_GOOD = "used_good", _("Used - good")
        USED_ACCEPTABLE = "used_acceptable", _("Used - acceptable")

    class Channel(models.TextChoices):
        MERCHANT = "merchant", _("Shipped by seller")
        PLATFORM = "platform", _("Fulfilled by Bazaar")

    seller = models.ForeignKey(Seller, verbose_name=_("seller"), on_delete=models.PROTECT, related_name="offers")
    product = models.ForeignKey(
        "catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="offers"
    )
    sku = models.CharField(_("SKU"), max_length=64)
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2, validators=[_AT_LEAST_A_CENT])
    list_price = models.DecimalField(
        _("list price"), max_digits=12, decimal_places=2, null=True, blank=True, validators=[_AT_LEAST_A_CENT],
        help_text=_("Recommended retail price, shown struck through when higher than the price."),
    )
    member_price = models.DecimalField(
        _("member price"), max_digits=12, decimal_places=2, null=True, blank=True, validators=[_AT_LEAST_A_CENT],
        help_text=_("What members pay (below the price). Empty: members pay the price."),
    )
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    condition = models.CharField(_("condition"), max_length=20, choices=Condition.choices, default=Condition.NEW)
    fulfillment_channel = models.CharField(
        _("fulfilment"), max_length=10, choices=Channel.choices, default=Channel.MERCHANT
    )
    handling_days = models.PositiveSmallIntegerField(
        _("handling days"), default=1, validators=[MaxValueValidator(60)],
        help_text=_("Working days before the package leaves the warehouse (at most 60)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        constraints = [
            models.UniqueConstraint(fields=["seller", "sku"], name="offer_sku_unique_per_seller"),
            models.UniqueConstraint(
                fields=["seller", "product", "condition"], name="offer_one_per_seller_product_condition"
            ),
            models.CheckConstraint(condition=Q(price__gt=0), name="offer_price_positive"),
            models.CheckConstraint(
                condition=Q(list_price__isnull=True) | Q(list_price__gt=0), name="offer_list_price_positive"
            ),
            models.CheckConstraint(condition=Q(handling_days__lte=60), name="offer_handling_days_max_60"),
            models.CheckConstraint(
                condition=Q(member_price__isnull=True) | Q(member_price__gt=0, member_price__lt=F("price")),
                name="offer_member_price_below_price",
                violation_error_message=_("The member price must be below the price."),
            ),
        ]
        indexes = [models.Index(fields=["product", "is_active"], name="offer_product_active")]

    def __str__(self) -> str:
        return f"{self.sku} ({self.seller})"

    @property
    def fulfilled_by_platform(self) -> bool:
        return self.fulfillment_channel == self.Channel.PLATFORM

    def clean(self) -> None:
        super().clean()
        clean_prices({"price": self.price, "list_price": self.list_price, "member_price": self.member_price})
        if self.member_price is not None and self.price is not None and self.member_price >= self.price:
            raise ValidationError({"member_price": _("The member price must be below the price.")})


class BuyBox(models.Model):
    """The offer shown first for a product, computed on write (never per request)."""

    product = models.OneToOneField(
        "catalog.Product", primary_key=True, on_delete=models.CASCADE, related_name="buy_box"
    )
    offer = models.ForeignKey(Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    shipping = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    landed_price = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    currency = models.CharField(max_length=3, default="USD")
    eligible_offer_count = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("buy box")
        verbose_name_plural = _("buy boxes")

    def __str__(self) -> str:
        return f"buy box of product {self.product_id}: offer {self.offer_id}"


class SellerApplication(models.Model):
    """A business asking to sell on Bazaar ("Sell on Bazaar"), reviewed by platform staff: approved
    (the seller, with the applicant as its owner), rejected with a reason, or sent back for more
    information. The applicant follows it on their account."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted, waiting for review")
        NEEDS_INFO = "needs_info", _("More information needed")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    class Volume(models.TextChoices):
        UNDER_100 = "under_100", _("Fewer than 100 units a month")
        UP_TO_1000 = "100_1000", _("100 to 1,000 units a month")
        UP_TO_10000 = "1000_10000", _("1,000 to 10,000 units a month")
        OVER_10000 = "over_10000", _("More than 10,000 units a month")

    OPEN = (Status.SUBMITTED, Status.NEEDS_INFO)

    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("applicant"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.SUBMITTED)
    legal_name = models.CharField(_("legal name of the business"), max_length=200)
    store_name = models.CharField(_("store name shoppers see"), max_length=120)
    contact_name = models.CharField(_("contact person"), max_length=150)
    email = models.EmailField(_("contact e-mail"))
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    country = models.CharField(_("country"), max_length=2)
    tax_id = models.CharField(_("tax id"), max_length=20)
    bank_account_holder = models.CharField(_("bank account holder"), max_length=150)
    bank_account = models.CharField(_("bank account (IBAN, or account number)"), max_length=34)
    bank_routing = models.CharField(_("routing number (US accounts)"), max_length=9, blank=True)
    categories = models.ManyToManyField("catalog.Category", related_name="+", verbose_name=_("categories"))
    expected_volume = models.CharField(_("expected volume"), max_length=12, choices=Volume.choices)
    terms_accepted_at = models.DateTimeField(_("seller terms accepted"))
    review_message = models.TextField(_("message to the applicant"), blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    seller = models.ForeignKey(Seller, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("seller"))
    created_at = models.DateTimeField(_("submitted"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("seller application")
        verbose_name_plural = _("seller applications")
        ordering = ("-created_at", "-id")
        permissions = [("review_sellerapplication", "Can approve, reject or query seller applications")]
        constraints = [
            models.UniqueConstraint(fields=["applicant"], condition=Q(status__in=["submitted", "needs_info"]),
                                    name="one_open_seller_application_per_applicant"),
        ]

    def __str__(self) -> str:
        return f"{self.store_name} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class SellerApplicationEvent(models.Model):
    """The history of an application: each submission and each decision, with its message."""

    application = models.ForeignKey(SellerApplication, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    message = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"


class SellerStandingEvent(models.Model):
    """A seller suspended or reinstated by platform staff, with the reason: its history."""

    class Action(models.TextChoices):
        SUSPENDED = "suspended", _("Suspended")
        REINSTATED = "reinstated", _("Reinstated")

    seller = models.ForeignKey(Seller, on_delete=models.CASCADE, related_name="standing_events")
    action = models.CharField(_("action"), max_length=12, choices=Action.choices)
    reason = models.CharField(_("reason"), max_length=300)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("by"))
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("standing change")
        verbose_name_plural = _("standing changes")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.seller}: {self.get_action_display()}"


class ProductProposal(models.Model):
    """A product a seller wants to sell that the catalogue lacks. The product is made at once but
    stays hidden (inactive) until platform staff approve it; the seller's first offer on it, when
    given, starts selling at that moment. Rejected products stay hidden, with the reason."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    seller = models.ForeignKey(Seller, verbose_name=_("seller"), on_delete=models.PROTECT,
                               related_name="product_proposals")
    product = models.OneToOneField("catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT,
                                   related_name="proposal")
    offer = models.ForeignKey(Offer, verbose_name=_("first offer"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.TextField(_("note to the reviewer"), blank=True)
    review_message = models.TextField(_("message to the seller"), blank=True)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("proposed by"))
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    created_at = models.DateTimeField(_("proposed"), default=timezone.now)

    class Meta:
        verbose_name = _("product proposal")
        verbose_name_plural = _("product proposals")
        ordering = ("-created_at", "-id")
        permissions = [("review_productproposal", "Can approve or reject proposed products")]
        indexes = [models.Index(fields=["status", "created_at"], name="proposal_status_created")]

    def __str__(self) -> str:
        return f"{self.product} ({self.get_status_display()})"
