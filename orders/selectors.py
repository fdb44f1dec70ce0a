"""Reads for orders: a customer's orders, one order with everything it shows, guest links."""

from __future__ import annotations

from django.core import signing
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from marketplace import selectors as marketplace_selectors
from orders.models import Order, OrderLine, Package

_GUEST_SALT = "orders.guest-link"
SHIP_PERMISSION = "orders.ship_package"
MERCHANT = "merchant"  # a package the seller ships itself (marketplace's Offer.Channel.MERCHANT)


# --- who ships what (DESIGN invariant 7) ------------------------------------------------------------


def packages_shippable_by(*, actor, packages: QuerySet[Package]) -> QuerySet[Package]:
    """The packages among ``packages`` that ``actor`` may mark shipped or delivered.

    A seller's member: packages of their sellers (where their role grants ``orders.ship_package``)
    that the seller ships itself; Bazaar ships the packages it fulfils. Platform staff and
    superusers: every package (their own permission is checked by the admin); ``actor`` None is the
    system (the carrier's tracking updates, tests)."""
    if actor is None or marketplace_selectors.seller_scope_for_user(actor) is None:
        return packages
    sellers = marketplace_selectors.seller_ids_with_permission(actor, SHIP_PERMISSION)
    return packages.filter(seller_id__in=sorted(sellers), fulfillment_channel=MERCHANT)


def package_ship_refusal(*, package: Package, actor) -> str | None:
    """Why ``actor`` may not mark ``package`` shipped or delivered, or None when they may."""
    if actor is None or marketplace_selectors.seller_scope_for_user(actor) is None:
        return None
    if package.fulfillment_channel != MERCHANT:
        return _("Bazaar ships the packages it fulfils: only Bazaar staff mark them shipped or delivered.")
    if package.seller_id not in marketplace_selectors.seller_ids_with_permission(actor, SHIP_PERMISSION):
        return _("Only your own seller's packages can be shipped or delivered by you.")
    return None


def order_by_idempotency_key(*, owner: str, key: str) -> Order | None:
    """The order placed under ``key`` by ``owner`` (keys of other owners are never seen)."""
    if not owner or not key:
        return None
    return Order.objects.filter(idempotency_owner=owner, idempotency_key=key).first()


def orders_for_user(*, user) -> QuerySet[Order]:
    if not getattr(user, "is_authenticated", False):
        return Order.objects.none()
    return Order.objects.filter(user=user).prefetch_related("lines").order_by("-placed_at", "-id")


def order_detail(*, number: str) -> Order | None:
    """One order with packages, their lines and history: a constant number of queries."""
    return (
        Order.objects.filter(number=number)
        .prefetch_related(
            Prefetch("packages", queryset=Package.objects.order_by("id").prefetch_related(
                Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
            )),
            "events",
            "discounts",
        )
        .first()
    )


def order_for_user(*, user, number: str) -> Order | None:
    """The order if it belongs to ``user`` (a signed-in customer), else None."""
    order = order_detail(number=number)
    if order is None or not getattr(user, "is_authenticated", False) or order.user_id != user.pk:
        return None
    return order


def guest_token(*, order: Order) -> str:
    """A signed token for the link in a guest's e-mail (it names the order, cannot be forged)."""
    return signing.dumps({"n": order.number}, salt=_GUEST_SALT)


def order_by_guest_token(*, token: str) -> Order | None:
    try:
        data = signing.loads(token, salt=_GUEST_SALT)
    except signing.BadSignature:
        return None
    number = data.get("n") if isinstance(data, dict) else None
    return order_detail(number=number) if isinstance(number, str) else None


def order_detail_by_id(*, order_id: int) -> Order | None:
    order = Order.objects.filter(pk=order_id).values_list("number", flat=True).first()
    return order_detail(number=order) if order else None


def order_can_cancel(*, order: Order) -> bool:
    """Cancellable until a package has left (uses the prefetched packages)."""
    return order.status in (Order.Status.PLACED, Order.Status.PAID) and all(
        p.status == Package.Status.PENDING for p in order.packages.all()
    )


BOUGHT_STATUSES = (
    Order.Status.PAID, Order.Status.PARTIALLY_SHIPPED, Order.Status.SHIPPED, Order.Status.DELIVERED,
    Order.Status.COMPLETED,
)


def user_bought_product(user_id: int, product_id: int) -> bool:
    """Whether this customer has a paid (or later: shipped, delivered, completed) order with a
    line of this product. Registered as catalog's purchase verifier (``orders.apps``)."""
    if not user_id or not product_id:
        return False
    return OrderLine.objects.filter(
        order__user_id=user_id, order__status__in=BOUGHT_STATUSES, product_id=product_id
    ).exists()
